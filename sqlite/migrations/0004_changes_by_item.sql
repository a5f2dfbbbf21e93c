-- Look up an item's earlier changes by its row id: an integer index grows at
-- its end as items are created, where the GUID index took a random insert
-- per write.
DROP INDEX changes_guid;
CREATE INDEX changes_item ON changes (item_id, id);
