-- The web UI's paged listing: sort_key orders by name, search_text is what
-- its search box matches (crmsync.SortKey and crmsync.SearchText, computed
-- in Go). NULL search_text marks a row written before this migration;
-- Open fills those in. The index covers the filter, so a page reads the
-- fields blob of its own rows only.
ALTER TABLE items ADD COLUMN sort_key TEXT NOT NULL DEFAULT '';
ALTER TABLE items ADD COLUMN search_text TEXT;
CREATE INDEX items_list ON items (folder, trashed, sort_key, guid, search_text);
