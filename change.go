package crmsync

import "time"

// Change is one entry of the global change log (SPEC M4). IDs are
// monotonic across all folders; each write of an item appends one.
type Change struct {
	ID      int64
	Folder  Folder
	GUID    string
	Version int
	Removed bool // the item was deleted (moved to the trash) or purged
	At      time.Time
}

// ChangedItems is the answer of GetChangedItems for one folder.
type ChangedItems struct {
	Folder  Folder
	Items   []*Item  // current state of changed, visible items
	Removed []string // GUIDs deleted, or no longer visible to the caller
}
