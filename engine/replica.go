package engine

import (
	"context"
	"time"
)

// Record is one contact as the engine sees it, whichever side it lives on.
// Fields holds the synced fields (SyncFields) by their CRM (eWay) names, as
// plain text: enum references are resolved to their English names, the note
// carries the journal block (SPEC S4) and ProfilePicture holds the hex
// SHA-256 of the photo, "" for none. A missing key and "" both mean empty.
type Record struct {
	ID      string // the side's own id: CRM ItemGUID, Graph immutable id, CardDAV href
	Version string // the side's version: ItemVersion, changeKey, ETag
	// CRMGUID is the CRM ItemGUID the item carries (SPEC S6): on the CRM side
	// its own GUID, on a remote the tag written when the engine created it.
	CRMGUID string
	Fields  map[string]string
	// Modified is when the item last changed on its side (zero if unknown);
	// the "newest change wins" conflict policy compares it.
	Modified time.Time
	// Photo holds the picture bytes when Fields[ProfilePicture] is set and
	// the replica was asked for them (Get), or always, if it is cheap.
	Photo []byte
}

// ChangeSet is what changed on a side since a cursor.
type ChangeSet struct {
	// Records are the created or changed items, in full.
	Records []Record
	// Deleted lists ids removed from the set the partnership syncs (deleted,
	// moved out, or no longer visible).
	Deleted []string
	// Complete marks a full listing: every item of the side is in Records,
	// so an id that is paired but absent was deleted. Only a complete
	// listing may imply deletes.
	Complete bool
	// Cursor resumes the listing after this one. It must describe the state
	// as listed, never a state after the engine's own writes.
	Cursor string
}

// OpKind is the kind of a write.
type OpKind int

const (
	Create OpKind = iota + 1
	Update
	Delete
	// MoveToDuplicates moves a remote item into the side's duplicates
	// folder (SPEC M13) without changing it.
	MoveToDuplicates
)

// Op is one write to a replica.
type Op struct {
	Kind OpKind
	// ID is the side's id of the item to update, delete or move.
	ID string
	// IfVersion is the version the write is conditional on ("" = none).
	IfVersion string
	// CRMGUID is the identity a Create carries (SPEC S6): the CRM ItemGUID
	// of the contact being created remotely, or, for a create in the CRM, the
	// GUID the CRM item must get (derived from the remote id).
	CRMGUID string
	// Fields to write. Create: every non-empty field. Update: only changed
	// fields, "" clears one — but always whole groups (FieldGroups: an
	// address, the e-mail slots, the business phones), because Graph
	// replaces structured and multi-valued properties whole.
	Fields map[string]string
	// Photo holds the picture when Fields[ProfilePicture] is set to a hash.
	Photo []byte
}

// Result is the outcome of one Op, in the order of the ops.
type Result struct {
	// Record is the item after the write, as the side now holds it (id,
	// version, normalized fields); nil after a delete or a failure.
	Record *Record
	// Err is nil on success. Codes (crmsync.ErrorCode): EPRECONDITION when
	// IfVersion is stale (re-read and merge), ENOTFOUND when the item is
	// gone, EEXISTS when a Create finds an item with the same CRMGUID (then
	// Record is that item), EFORBIDDEN or EINVALID when the side refuses this
	// item (skip it, SPEC S8); anything else is transient.
	Err error
}

// Replica is one side of a partnership.
type Replica interface {
	// Changes lists what changed since cursor; "" lists everything.
	Changes(ctx context.Context, cursor string) (ChangeSet, error)
	// Get reads items by id, with photos. Missing ids are omitted.
	Get(ctx context.Context, ids []string) ([]Record, error)
	// FindByCRMGUID finds items carrying the given CRM GUIDs (SPEC S6), to
	// recover a create whose result was lost. Missing ones are omitted.
	FindByCRMGUID(ctx context.Context, guids []string) ([]Record, error)
	// Apply performs writes, batched as the side allows; each op gets its
	// own result. The error is for a failure of the whole call (e.g. the
	// side is unreachable), in which case any op may or may not have run.
	// Calls may overlap (the engine sends a batch while it commits the one
	// before): a side bounds its requests across calls, not per call.
	Apply(ctx context.Context, ops []Op) ([]Result, error)
	// Normalize returns the value this side would store for value in field:
	// e.g. cut to 256 characters (SPEC S3), or the note with the journal
	// block rebuilt (SPEC S4). It must be idempotent.
	Normalize(field, value string) string
}
