-- Sync state (SPEC S1): partnerships, pairs with their merge base, creates
-- awaiting their outcome, duplicates for review and the run log; the same
-- tables as the SQLite store's 0100.
CREATE TABLE partnerships (
	id            bigserial PRIMARY KEY,
	user_guid     text NOT NULL,
	kind          text NOT NULL,
	remote        text NOT NULL DEFAULT '',
	mode          text NOT NULL DEFAULT 'automatic',
	filter        text NOT NULL DEFAULT '',
	policy        text NOT NULL DEFAULT 'newest',
	state         text NOT NULL DEFAULT 'off',
	cursor_crm    text NOT NULL DEFAULT '',
	cursor_remote text NOT NULL DEFAULT '',
	synced        boolean NOT NULL DEFAULT false,
	UNIQUE (user_guid, kind)
);

CREATE TABLE sync_pairs (
	partnership    bigint NOT NULL REFERENCES partnerships (id) ON DELETE CASCADE,
	crm_id         text NOT NULL,
	remote_id      text NOT NULL,
	crm_version    text NOT NULL,
	remote_version text NOT NULL,
	base           text NOT NULL, -- JSON object: field → agreed value
	PRIMARY KEY (partnership, crm_id),
	UNIQUE (partnership, remote_id)
);
CREATE INDEX sync_pairs_unsettled ON sync_pairs (partnership) WHERE crm_version = '' OR remote_version = '';

CREATE TABLE sync_pair_emails (
	partnership bigint NOT NULL REFERENCES partnerships (id) ON DELETE CASCADE,
	email       text NOT NULL,
	crm_id      text NOT NULL,
	PRIMARY KEY (partnership, crm_id, email)
);
CREATE INDEX sync_pair_emails_by_email ON sync_pair_emails (partnership, email);

CREATE TABLE sync_pending (
	partnership bigint  NOT NULL REFERENCES partnerships (id) ON DELETE CASCADE,
	side        text    NOT NULL,
	crm_guid    text    NOT NULL,
	kind        integer NOT NULL, -- engine.OpKind: create, update or delete
	source_id   text    NOT NULL,
	base        text    NOT NULL, -- JSON: the fields the create sent
	PRIMARY KEY (partnership, side, crm_guid)
);

CREATE TABLE sync_duplicates (
	partnership bigint NOT NULL REFERENCES partnerships (id) ON DELETE CASCADE,
	remote_id   text NOT NULL,
	crm_id      text NOT NULL,
	email       text NOT NULL,
	name        text NOT NULL,
	found       timestamptz NOT NULL,
	PRIMARY KEY (partnership, remote_id)
);

CREATE TABLE sync_runs (
	id          bigserial PRIMARY KEY,
	partnership bigint NOT NULL REFERENCES partnerships (id) ON DELETE CASCADE,
	started     timestamptz NOT NULL,
	finished    timestamptz NOT NULL,
	dry_run     boolean NOT NULL,
	outcome     text NOT NULL,
	message     text NOT NULL,
	report      text NOT NULL -- JSON: counts, conflicts, duplicates, errors
);
CREATE INDEX sync_runs_by_partnership ON sync_runs (partnership, id);
