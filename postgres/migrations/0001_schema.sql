-- The CRM store: the shape the SQLite store reached with its migrations
-- 0001-0004, in PostgreSQL's types. fields holds all field values in the
-- compact encoding of fields.go; the columns beside it copy what queries
-- and rights checks need.
CREATE TABLE items (
	id           bigserial PRIMARY KEY, -- stable: the change log joins on it
	folder       text    NOT NULL,
	guid         text    NOT NULL,
	version      integer NOT NULL,
	trashed      boolean NOT NULL DEFAULT false,
	owner        text    NOT NULL DEFAULT '',
	private      boolean NOT NULL DEFAULT false,
	company_guid text    NOT NULL DEFAULT '',
	contact_guid text    NOT NULL DEFAULT '',
	email1_lower text    NOT NULL DEFAULT '',
	name_lower   text    NOT NULL DEFAULT '',
	fields       bytea   NOT NULL,
	UNIQUE (folder, guid)
);
CREATE INDEX items_email1 ON items (email1_lower, folder);
CREATE INDEX items_contact ON items (contact_guid, folder);
CREATE INDEX items_company ON items (company_guid, folder);
CREATE INDEX items_name ON items (name_lower, folder);

-- The global change log. Ids are allocated by the writer holding the CRM
-- write lock (db.go), one more than the last, so they are gapless and
-- become visible in id order: a sequence would hand them out in start
-- order and let a reader see 8 committed before 7.
CREATE TABLE changes (
	id           bigint  PRIMARY KEY,
	item_id      bigint  REFERENCES items (id),
	folder       text    NOT NULL,
	guid         text    NOT NULL,
	version      integer NOT NULL,
	removed      boolean NOT NULL DEFAULT false,
	at           bigint  NOT NULL, -- Unix nanoseconds
	owner        text    NOT NULL DEFAULT '',
	private      boolean NOT NULL DEFAULT false,
	company_guid text    NOT NULL DEFAULT '',
	contact_guid text    NOT NULL DEFAULT ''
);
CREATE INDEX changes_item ON changes (item_id, id);

CREATE TABLE users (
	guid          text PRIMARY KEY,
	name          text NOT NULL,
	full_name     text NOT NULL DEFAULT '',
	password_hash text NOT NULL DEFAULT '',
	is_admin      boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX users_name ON users (lower(name));

CREATE TABLE groups (
	name text PRIMARY KEY
);

CREATE TABLE group_rights (
	group_name text    NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
	folder     text    NOT NULL,
	view       integer NOT NULL,
	edit       integer NOT NULL,
	del        integer NOT NULL,
	can_create boolean NOT NULL,
	can_export boolean NOT NULL,
	PRIMARY KEY (group_name, folder)
);

CREATE TABLE group_members (
	group_name text NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
	user_guid  text NOT NULL REFERENCES users (guid) ON DELETE CASCADE,
	PRIMARY KEY (group_name, user_guid)
);
CREATE INDEX group_members_user ON group_members (user_guid);

CREATE TABLE user_settings (
	user_guid text NOT NULL REFERENCES users (guid) ON DELETE CASCADE,
	path      text NOT NULL,
	name      text NOT NULL,
	value     text NOT NULL,
	PRIMARY KEY (user_guid, path, name)
);

CREATE TABLE global_settings (
	name  text PRIMARY KEY,
	value text NOT NULL
);

CREATE TABLE enum_values (
	guid      text PRIMARY KEY,
	enum_type text    NOT NULL,
	en        text    NOT NULL,
	cs        text    NOT NULL DEFAULT '',
	is_system integer NOT NULL DEFAULT 0, -- 0 or 1, as the shared seed writes it
	rank      integer NOT NULL DEFAULT 0
);
CREATE INDEX enum_values_type ON enum_values (enum_type, rank, en);
