-- Fencing, checked after the fact. state_token is the newest lease token a
-- partnership's state has seen: a change of lease holder raises it to the
-- new token (the trigger below), and every state write of a fenced store
-- raises it to its own. A write accepted under a token older than
-- state_token came from a node that had lost the lease after another took
-- over; stale_writes counts them, and fencing must keep it at zero. Both
-- updates lock the partnership's row, so a write and a take-over are seen
-- in the order they committed.
ALTER TABLE partnerships
	ADD COLUMN state_token  bigint NOT NULL DEFAULT 0,
	ADD COLUMN stale_writes bigint NOT NULL DEFAULT 0;

CREATE FUNCTION partnership_lease_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE partnerships SET state_token = GREATEST(state_token, NEW.token) WHERE id = NEW.partnership;
	RETURN NULL;
END
$$;

CREATE TRIGGER partnership_lease_moved AFTER UPDATE OF token ON partnership_leases
	FOR EACH ROW WHEN (NEW.token > OLD.token) EXECUTE FUNCTION partnership_lease_moved();
