-- Indexes for the searches the sync engine runs per contact or company:
-- journals of a contact, contacts of a company, a company by name.
-- name_lower is the company name, trimmed and lower-cased in Go (SQLite's
-- lower() only folds ASCII).
ALTER TABLE items ADD COLUMN name_lower TEXT NOT NULL DEFAULT '';
CREATE INDEX items_contact ON items (contact_guid, folder);
CREATE INDEX items_company ON items (company_guid, folder);
CREATE INDEX items_name ON items (name_lower, folder);
