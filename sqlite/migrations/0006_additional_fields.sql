-- Definitions of eWay's additional fields (af_N); their values live in the
-- items' fields like every other field.
CREATE TABLE additional_fields (
	folder TEXT NOT NULL,
	field_id INTEGER NOT NULL,
	name TEXT NOT NULL,
	type INTEGER NOT NULL DEFAULT 0,
	rank INTEGER NOT NULL DEFAULT 0,
	comment TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (folder, field_id)
);
