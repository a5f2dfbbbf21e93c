-- The crmsync nodes sharing this database, with their last heartbeat: a
-- node counts the live ones to take its even share of the partnerships.
CREATE TABLE nodes (
	node    text        PRIMARY KEY,
	started timestamptz NOT NULL DEFAULT now(),
	seen    timestamptz NOT NULL
);
