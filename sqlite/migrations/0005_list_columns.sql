-- The web UI's paged listing: sort_key orders by name, search_text is what
-- its search box matches (crmsync.SortKey and crmsync.SearchText, computed
-- in Go). NULL search_text marks a row written before this migration;
-- Open fills those in. One partial index per folder covers the filter, so
-- a page reads the fields blob of its own rows only; being partial, they
-- stay out of the way of the lookups by e-mail, company and contact.
ALTER TABLE items ADD COLUMN sort_key TEXT NOT NULL DEFAULT '';
ALTER TABLE items ADD COLUMN search_text TEXT;
CREATE INDEX items_list_contacts ON items (sort_key, guid, search_text) WHERE folder = 'Contacts' AND trashed = 0;
CREATE INDEX items_list_companies ON items (sort_key, guid, search_text) WHERE folder = 'Companies' AND trashed = 0;
CREATE INDEX items_list_journal ON items (sort_key, guid, search_text) WHERE folder = 'Journal' AND trashed = 0;
