// Package storetest is the conformance suite every service.Store must pass:
// it drives the CRM service over a fresh store and checks the business
// rules end to end (versioning, rights, trash, change feed, duplicity,
// settings, enums), so that a second store (PostgreSQL) behaves exactly
// like the SQLite one.
package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/service"
	"golang.org/x/crypto/bcrypt"
)

// Open returns a fresh, empty store (with its seed data) for one test; it
// registers its own cleanup.
type Open func(t *testing.T) service.Store

// Run runs the whole suite, each case on a fresh store from open.
func Run(t *testing.T, open Open) {
	cases := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"Auth", testAuth},
		{"CreateAndRead", testCreateAndRead},
		{"Versioning", testVersioning},
		{"VersioningModel", testVersioningModel},
		{"BadInputWritesNothing", testBadInput},
		{"Rights", testRights},
		{"RelatedLevel", testRelated},
		{"FeedFilteredByRights", testFeedRights},
		{"TrashRestore", testTrashRestore},
		{"Duplicity", testDuplicity},
		{"SystemJournal", testSystemJournal},
		{"Search", testSearch},
		{"PermissionsChanged", testPermissionsChanged},
		{"Settings", testSettings},
		{"Enums", testEnums},
		{"Watch", testWatch},
		{"Admin", testAdmin},
		{"Disable", testDisable},
		{"ConcurrentWrites", testConcurrent},
		{"NoLostUpdate", testNoLostUpdate},
		{"FeedUnderConcurrentCommits", testFeedUnderConcurrentCommits},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open) })
	}
}

// Env is a service over a fresh store with a fixed clock and predictable
// GUIDs, plus helpers to act as users.
type Env struct {
	T   *testing.T
	Svc *service.Service
	Sys context.Context // the trusted system caller
	now time.Time
	seq atomic.Int64
}

// NewEnv builds an Env on a store from open.
func NewEnv(t *testing.T, open Open) *Env {
	t.Helper()
	e := &Env{T: t, Sys: crmsync.System(context.Background()), now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	e.Svc = service.New(open(t), service.Options{
		Now:          func() time.Time { return e.now },
		NewGUID:      func() string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", e.seq.Add(1)) },
		PasswordCost: bcrypt.MinCost,
	})
	return e
}

// User creates a user (its password is its name) in the given groups and
// returns a context acting as it.
func (e *Env) User(name string, admin bool, groups ...string) context.Context {
	e.T.Helper()
	u, err := e.Svc.AddUser(e.Sys, name, name, admin)
	if err != nil {
		e.T.Fatalf("AddUser %s: %v", name, err)
	}
	for _, g := range groups {
		if err := e.Svc.AddToGroup(e.Sys, name, g); err != nil {
			e.T.Fatalf("AddToGroup %s %s: %v", name, g, err)
		}
	}
	return crmsync.WithUser(context.Background(), u)
}

// Group creates a group with the same rights on every folder.
func (e *Env) Group(name string, view, edit, del crmsync.Level, create bool) {
	e.T.Helper()
	var rs []crmsync.Rights
	for _, f := range crmsync.Folders {
		rs = append(rs, crmsync.Rights{Folder: f, View: view, Edit: edit, Delete: del, CanCreate: create, CanExport: true})
	}
	if err := e.Svc.SaveGroup(e.Sys, name, rs); err != nil {
		e.T.Fatalf("SaveGroup %s: %v", name, err)
	}
}

// Save saves one patch and returns its result; a whole-call error fails the
// test.
func (e *Env) Save(ctx context.Context, folder crmsync.Folder, p crmsync.Patch, die bool) crmsync.SaveResult {
	e.T.Helper()
	res, err := e.Svc.Save(ctx, folder, []crmsync.Patch{p}, crmsync.SaveOptions{DieOnItemConflict: die})
	if err != nil {
		e.T.Fatalf("Save: %v", err)
	}
	if len(res) != 1 {
		e.T.Fatalf("Save returned %d results for 1 patch", len(res))
	}
	return res[0]
}

// MustSave saves one patch that must succeed.
func (e *Env) MustSave(ctx context.Context, folder crmsync.Folder, p crmsync.Patch) crmsync.SaveResult {
	e.T.Helper()
	r := e.Save(ctx, folder, p, true)
	if r.Err != nil {
		e.T.Fatalf("Save %+v: %v", p, r.Err)
	}
	return r
}

// Get reads one item as ctx, nil when invisible or missing.
func (e *Env) Get(ctx context.Context, folder crmsync.Folder, guid string) *crmsync.Item {
	e.T.Helper()
	items, err := e.Svc.Items(ctx, folder, []string{guid})
	if err != nil {
		e.T.Fatalf("Items: %v", err)
	}
	if len(items) == 0 {
		return nil
	}
	return items[0]
}

// Last returns the last change id.
func (e *Env) Last() int64 {
	e.T.Helper()
	id, err := e.Svc.LastChangeID(e.Sys)
	if err != nil {
		e.T.Fatalf("LastChangeID: %v", err)
	}
	return id
}

// WantCode fails unless err has the code.
func WantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := crmsync.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func set(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func guid(n int) string { return fmt.Sprintf("11111111-2222-4333-8444-%012d", n) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
