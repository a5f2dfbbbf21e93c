-- Sync state (SPEC S1): partnerships, pairs with their merge base, creates
-- awaiting their outcome, duplicates for review and the run log.
CREATE TABLE partnerships (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	user_guid     TEXT NOT NULL,
	kind          TEXT NOT NULL,
	remote        TEXT NOT NULL DEFAULT '',
	mode          TEXT NOT NULL DEFAULT 'automatic',
	filter        TEXT NOT NULL DEFAULT '',
	policy        TEXT NOT NULL DEFAULT 'newest',
	state         TEXT NOT NULL DEFAULT 'off',
	cursor_crm    TEXT NOT NULL DEFAULT '',
	cursor_remote TEXT NOT NULL DEFAULT '',
	synced        INTEGER NOT NULL DEFAULT 0,
	UNIQUE (user_guid, kind)
);

CREATE TABLE sync_pairs (
	partnership    INTEGER NOT NULL REFERENCES partnerships(id) ON DELETE CASCADE,
	crm_id         TEXT NOT NULL,
	remote_id      TEXT NOT NULL,
	crm_version    TEXT NOT NULL,
	remote_version TEXT NOT NULL,
	base           TEXT NOT NULL, -- JSON object: field → agreed value
	PRIMARY KEY (partnership, crm_id),
	UNIQUE (partnership, remote_id)
);

-- Pairs a recovered create left with a version unknown: few, and looked
-- for on every cycle.
CREATE INDEX sync_pairs_unsettled ON sync_pairs (partnership) WHERE crm_version = '' OR remote_version = '';

CREATE TABLE sync_pair_emails (
	partnership INTEGER NOT NULL,
	email       TEXT NOT NULL,
	crm_id      TEXT NOT NULL,
	PRIMARY KEY (partnership, crm_id, email)
);
CREATE INDEX sync_pair_emails_by_email ON sync_pair_emails (partnership, email);

CREATE TABLE sync_pending (
	partnership INTEGER NOT NULL REFERENCES partnerships(id) ON DELETE CASCADE,
	side        TEXT NOT NULL,
	crm_guid    TEXT NOT NULL,
	kind        INTEGER NOT NULL, -- engine.OpKind: create, update or delete
	source_id   TEXT NOT NULL,
	base        TEXT NOT NULL, -- JSON: the fields the create sent
	PRIMARY KEY (partnership, side, crm_guid)
);

CREATE TABLE sync_duplicates (
	partnership INTEGER NOT NULL REFERENCES partnerships(id) ON DELETE CASCADE,
	remote_id   TEXT NOT NULL,
	crm_id      TEXT NOT NULL,
	email       TEXT NOT NULL,
	name        TEXT NOT NULL,
	found       TEXT NOT NULL,
	PRIMARY KEY (partnership, remote_id)
);

CREATE TABLE sync_runs (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	partnership INTEGER NOT NULL REFERENCES partnerships(id) ON DELETE CASCADE,
	started     TEXT NOT NULL,
	finished    TEXT NOT NULL,
	dry_run     INTEGER NOT NULL,
	outcome     TEXT NOT NULL,
	message     TEXT NOT NULL,
	report      TEXT NOT NULL -- JSON: counts, conflicts, duplicates, errors
);
CREATE INDEX sync_runs_by_partnership ON sync_runs (partnership, id);
