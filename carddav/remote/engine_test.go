package remote_test

import (
	"context"
	"path/filepath"
	"testing"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/carddav/remote"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/internal/crmtest"
	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/sqlite"
	"golang.org/x/crypto/bcrypt"
)

// syncFixture is a CRM on a real SQLite file, partnered with a real
// CardDAV address book through the engine.
type syncFixture struct {
	svc    *service.Service
	user   *crm.User
	uctx   context.Context
	remote *remote.Client
	eng    *engine.Engine
}

func newSyncFixture(t *testing.T, p peer) *syncFixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "crm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := service.New(db, service.Options{PasswordCost: bcrypt.MinCost})
	u, err := svc.AddUser(crm.System(ctx), "alice", "pw", true)
	if err != nil {
		t.Fatal(err)
	}
	rc := open(t, p, nil)
	state := db.SyncState()
	part := &engine.Partnership{User: u.GUID, Kind: "carddav", Remote: p.book, Mode: "automatic",
		Policy: engine.PolicyCRM, State: "active"}
	if err := state.SavePartnership(ctx, part); err != nil {
		t.Fatal(err)
	}
	cr := &engine.CRMReplica{CRM: svc, User: u, Mode: "automatic"}
	return &syncFixture{
		svc: svc, user: u, uctx: crm.WithUser(ctx, u), remote: rc,
		eng: &engine.Engine{Partnership: part, State: state, CRM: cr, Remote: rc, Journal: cr},
	}
}

func (f *syncFixture) cycle(t *testing.T) engine.Counts {
	t.Helper()
	run, err := f.eng.Cycle(context.Background())
	if err != nil {
		t.Fatalf("sync cycle: %v", err)
	}
	if run.Outcome != "ok" || len(run.Errors) > 0 {
		t.Fatalf("sync cycle: outcome %s %s, errors %+v", run.Outcome, run.Message, run.Errors)
	}
	return run.Counts
}

func (f *syncFixture) save(t *testing.T, patches []crm.Patch) []crm.SaveResult {
	t.Helper()
	res, err := f.svc.Save(f.uctx, crm.Contacts, patches, crm.SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("saving contact %d: %v", i, r.Err)
		}
	}
	return res
}

// compareSides checks that the CRM and the address book hold the same
// contacts (matched by Email 1) with the same value in every synced field
// (SPEC M9), photos by hash.
func (f *syncFixture) compareSides(t *testing.T, want int) {
	t.Helper()
	ctx := context.Background()
	crmSet, err := f.eng.CRM.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := f.remote.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(crmSet.Records) != want || len(cs.Records) != want || !cs.Complete {
		t.Fatalf("CRM holds %d contacts, the address book %d (complete %v); want %d each", len(crmSet.Records), len(cs.Records), cs.Complete, want)
	}
	byEmail := map[string]engine.Record{}
	for _, r := range cs.Records {
		byEmail[r.Fields[crm.FieldEmail1]] = r
	}
	for _, c := range crmSet.Records {
		r, ok := byEmail[c.Fields[crm.FieldEmail1]]
		if !ok {
			t.Errorf("CRM contact %s (%s) is not in the address book", c.ID, c.Fields[crm.FieldEmail1])
			continue
		}
		for _, fld := range engine.SyncFields {
			if got, want := r.Fields[fld], c.Fields[fld]; got != want {
				t.Errorf("contact %s field %s: address book %q, CRM %q", c.Fields[crm.FieldEmail1], fld, got, want)
			}
		}
	}
}

func TestEngineSync(t *testing.T) {
	eachPeer(t, func(t *testing.T, p peer) {
		f := newSyncFixture(t, p)
		const n = 200
		var patches []crm.Patch
		for i := range n {
			fields, photo := withPhoto(t, i)
			patches = append(patches, crmtest.Patch(t, f.svc, fields, photo))
		}
		saved := f.save(t, patches)

		// First sync: everything goes to the empty address book.
		c := f.cycle(t)
		if c.CreatedInRemote != n || c.CreatedInCRM != 0 || c.Errors != 0 {
			t.Fatalf("first sync counts %+v, want %d created in the remote", c, n)
		}
		f.compareSides(t, n)

		// Nothing changed: nothing to do, in either direction (F6).
		if c := f.cycle(t); c != (engine.Counts{}) {
			t.Fatalf("no-change sync counts %+v", c)
		}

		// Edits on both sides, deletes on both sides, a new card on the
		// phone, and one field changed differently on both sides.
		cards := map[string]engine.Record{}
		all, err := f.remote.Changes(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range all.Records {
			cards[r.CRMGUID] = r
		}
		f.save(t, []crm.Patch{
			{GUID: saved[0].GUID, Set: map[string]string{crm.FieldJobTitle: "Edited in CRM"}},
			{GUID: saved[4].GUID, Set: map[string]string{crm.FieldJobTitle: "CRM title"}},
		})
		if err := f.svc.Delete(f.uctx, crm.Contacts, []string{saved[2].GUID}); err != nil {
			t.Fatal(err)
		}
		res, err := f.remote.Apply(context.Background(), []engine.Op{
			{Kind: engine.Update, ID: cards[saved[1].GUID].ID, IfVersion: cards[saved[1].GUID].Version,
				Fields: map[string]string{crm.FieldEmail2: "phone-added@example.com"}},
			{Kind: engine.Update, ID: cards[saved[4].GUID].ID, IfVersion: cards[saved[4].GUID].Version,
				Fields: map[string]string{crm.FieldJobTitle: "Phone title"}},
			{Kind: engine.Delete, ID: cards[saved[3].GUID].ID, IfVersion: cards[saved[3].GUID].Version},
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("remote edit %d: %v", i, r.Err)
			}
		}
		rawPut(t, p, p.book+"made-on-phone.vcf", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:made-on-phone\r\nFN:Eva Dvořáková\r\n"+
			"N:Dvořáková;Eva;;;\r\nEMAIL:eva@example.com\r\nTITLE:Buyer\r\nEND:VCARD\r\n")

		c = f.cycle(t)
		want := engine.Counts{CreatedInCRM: 1, UpdatedInCRM: 1, UpdatedInRemote: 2, DeletedInCRM: 1, DeletedInRemote: 1, Conflicts: 1}
		if c != want {
			t.Errorf("sync after edits: counts %+v, want %+v", c, want)
		}
		f.compareSides(t, n-2+1)
		items, err := f.svc.Items(f.uctx, crm.Contacts, []string{saved[0].GUID, saved[1].GUID, saved[4].GUID})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]*crm.Item{}
		for _, it := range items {
			got[it.GUID] = it
		}
		if v := got[saved[1].GUID].Get(crm.FieldEmail2); v != "phone-added@example.com" {
			t.Errorf("phone edit did not reach the CRM: Email2 = %q", v)
		}
		if v := got[saved[4].GUID].Get(crm.FieldJobTitle); v != "CRM title" {
			t.Errorf("conflict with policy crm: CRM holds %q", v)
		}
		found, err := f.svc.Search(f.uctx, crm.Contacts, map[string]string{crm.FieldEmail1: "eva@example.com"}, false)
		if err != nil || len(found) != 1 || found[0].Get(crm.FieldLastName) != "Dvořáková" || found[0].Get(crm.FieldJobTitle) != "Buyer" {
			t.Errorf("card made on the phone: CRM has %+v (%v)", found, err)
		}

		// And settled: nothing moves any more.
		if c := f.cycle(t); c != (engine.Counts{}) {
			t.Errorf("sync after settling: counts %+v", c)
		}
	})
}
