package engine

import (
	"context"
	"time"
)

// Partnership links one CRM user with one remote address book or contacts
// folder (SPEC §2). Its cursors say where each side's listing resumes.
type Partnership struct {
	ID     int64
	User   string // CRM user GUID
	Kind   string // "outlook" or "carddav"
	Remote string // how to reach the remote: sandbox URL, CardDAV URL... (no secrets)
	Mode   string // "automatic" or "manual" (SPEC M8)
	// Filter narrows automatic mode: "" (all visible), "own", or
	// "companies:<guid>,<guid>".
	Filter string
	Policy Policy
	// State is "off", "first-sync-pending" (asked "later"), or "active".
	State        string
	CursorCRM    string
	CursorRemote string
	// Synced is false until the first sync completed.
	Synced bool
}

// Pair is the sync state of one contact present on both sides (SPEC S1).
type Pair struct {
	CRMID         string
	RemoteID      string
	CRMVersion    string
	RemoteVersion string
	// Base is the last agreed value of every synced field, in CRM form.
	Base map[string]string
}

// Pending is a write sent (or about to be sent) to a side whose result has
// not been committed yet (SPEC S6). After a crash or a lost response the
// next run looks a created item up by CRMGUID instead of creating it
// again, does not take its own delete for a user's, nor the values of its
// own update for a user's edit.
type Pending struct {
	Side Side
	// Kind is Create (the default), Delete (of the remote copy SourceID of
	// CRM contact CRMGUID) or Update (of that copy, writing Base).
	Kind    OpKind
	CRMGUID string
	// SourceID is the id on the other side the create copies.
	SourceID string
	// Base is what the create sent, in CRM form: the base of the pair if
	// the create turns out to have happened.
	Base map[string]string
}

// Side names one side of a partnership.
type Side string

const (
	CRMSide    Side = "crm"
	RemoteSide Side = "remote"
)

// Duplicate is an unpaired remote contact moved to the duplicates folder
// because its e-mail matches a CRM contact (SPEC M13, X2).
type Duplicate struct {
	RemoteID string
	CRMID    string
	Email    string
	Name     string
	Found    time.Time
}

// Conflict is one field changed differently on both sides (SPEC S2).
type Conflict struct {
	CRMID  string
	Field  string
	Winner Side
	Kept   string // the value both sides now hold
	Lost   string // the value that was overwritten
}

// Run is the record of one sync cycle (SPEC X5).
type Run struct {
	ID          int64
	Partnership int64
	Started     time.Time
	Finished    time.Time
	DryRun      bool
	Counts      Counts
	Conflicts   []Conflict
	Duplicates  []Duplicate
	Errors      []ItemError
	// Retry lists items that failed for now and are tried again next run.
	Retry []ItemError
	// Outcome is "ok", "partial" (some items failed and will be retried),
	// "needs-confirmation" (the mass-delete breaker stopped it) or "failed".
	Outcome string
	Message string
}

// quiet reports whether a run changed and found nothing.
func (r *Run) quiet() bool {
	return r.Outcome == "ok" && r.Counts == (Counts{}) && len(r.Conflicts) == 0 &&
		len(r.Duplicates) == 0 && len(r.Errors) == 0 && len(r.Retry) == 0
}

// Counts summarise a run.
type Counts struct {
	CreatedInCRM, CreatedInRemote int
	UpdatedInCRM, UpdatedInRemote int
	DeletedInCRM, DeletedInRemote int
	Duplicates                    int
	Conflicts                     int
	Errors                        int
}

// ItemError is one item that failed and was skipped (SPEC S8).
type ItemError struct {
	Side    Side
	ID      string
	Message string
}

// StateStore persists partnerships and their sync state in the CRM
// database. Every method is one transaction.
type StateStore interface {
	// Partnership returns the partnership of a user and kind (ENOTFOUND).
	Partnership(ctx context.Context, user, kind string) (*Partnership, error)
	// Partnerships lists all partnerships.
	Partnerships(ctx context.Context) ([]*Partnership, error)
	// SavePartnership creates (ID 0) or updates a partnership's settings
	// and cursors.
	SavePartnership(ctx context.Context, p *Partnership) error
	// DeletePartnership removes a partnership and all its state.
	DeletePartnership(ctx context.Context, id int64) error

	// PairsByCRM and PairsByRemote load the pairs of the given ids.
	PairsByCRM(ctx context.Context, partnership int64, ids []string) ([]Pair, error)
	PairsByRemote(ctx context.Context, partnership int64, ids []string) ([]Pair, error)
	// UnsettledPairs loads the pairs with a side's version unknown (left
	// so by a recovered create), which a listing may never mention again.
	UnsettledPairs(ctx context.Context, partnership int64) ([]Pair, error)
	// AllPairs loads every pair, for complete listings.
	AllPairs(ctx context.Context, partnership int64) ([]Pair, error)
	// PairCount is the number of pairs, for the mass-delete breaker.
	PairCount(ctx context.Context, partnership int64) (int, error)
	// CRMIDsByEmail maps lower-case e-mail addresses to the CRM ids of pairs
	// whose base holds them (SPEC M13 on later runs).
	CRMIDsByEmail(ctx context.Context, partnership int64, emails []string) (map[string]string, error)

	// AddPending records creates before they are sent.
	AddPending(ctx context.Context, partnership int64, p []Pending) error
	// PendingOps lists creates whose outcome is unknown.
	PendingOps(ctx context.Context, partnership int64) ([]Pending, error)
	// Commit stores the outcome of one applied batch atomically: pairs
	// saved and removed, pending creates settled, duplicates found, and,
	// when cursors is non-nil, the partnership's new cursors.
	Commit(ctx context.Context, partnership int64, c Commit) error

	// Duplicates lists the pairs found by M13 that await review.
	Duplicates(ctx context.Context, partnership int64) ([]Duplicate, error)
	// ResolveDuplicate removes a duplicate from the review list.
	ResolveDuplicate(ctx context.Context, partnership int64, remoteID string) error

	// SaveRun appends a run record; Runs lists the latest ones, newest first.
	SaveRun(ctx context.Context, r *Run) error
	Runs(ctx context.Context, partnership int64, limit int) ([]Run, error)
}

// Commit is one atomic update of the sync state.
type Commit struct {
	Save       []Pair
	RemoveCRM  []string // pairs removed, by CRM id
	Settled    []Pending
	Duplicates []Duplicate
	// Cursors, when set, replace the partnership's cursors.
	Cursors *Cursors
	// Synced marks the first sync as done.
	Synced bool
}

// Cursors are the listing positions of both sides.
type Cursors struct{ CRM, Remote string }
