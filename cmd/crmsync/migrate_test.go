package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/carddav"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/postgres"
	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/sqlite"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/crypto/bcrypt"
)

// crmDump is everything a CRM database holds, read through the stores'
// interfaces, so that two databases compare whatever their SQL.
type crmDump struct {
	Items        map[crmsync.Folder][]*crmsync.Item
	Trash        map[crmsync.Folder][]*crmsync.Item
	Changes      []service.LoggedChange
	Users        []*service.UserRecord
	Groups       map[string][]crmsync.Rights
	UserSettings map[string][]crmsync.Setting
	Global       map[string]string
	Enums        []crmsync.EnumValue
	Partnerships []*engine.Partnership
	Pairs        map[int64][]engine.Pair
	Pending      map[int64][]engine.Pending
	Duplicates   map[int64][]engine.Duplicate
	Runs         map[int64][]engine.Run
	CardNames    map[string]string
	Cards        map[string][]byte
}

func dumpCRM(t *testing.T, store service.Store, state engine.StateStore, cards carddav.Store) crmDump {
	t.Helper()
	ctx := context.Background()
	d := crmDump{Items: map[crmsync.Folder][]*crmsync.Item{}, Trash: map[crmsync.Folder][]*crmsync.Item{}, UserSettings: map[string][]crmsync.Setting{},
		Pairs: map[int64][]engine.Pair{}, Pending: map[int64][]engine.Pending{}, Duplicates: map[int64][]engine.Duplicate{}, Runs: map[int64][]engine.Run{}}
	err := store.Read(ctx, func(tx service.Tx) error {
		var err error
		var guids []string
		for _, f := range crmsync.Folders {
			if d.Items[f], err = tx.ListItems(f, false); err != nil {
				return err
			}
			if d.Trash[f], err = tx.ListItems(f, true); err != nil {
				return err
			}
			for _, it := range append(d.Items[f], d.Trash[f]...) {
				guids = append(guids, it.GUID)
			}
		}
		last, err := tx.LastChangeID()
		if err != nil {
			return err
		}
		if d.Changes, err = tx.Changes(append(append([]crmsync.Folder(nil), crmsync.Folders...), service.PermissionsFolder), 0, last); err != nil {
			return err
		}
		if d.Users, err = tx.Users(); err != nil {
			return err
		}
		for _, u := range d.Users {
			if d.UserSettings[u.GUID], err = tx.UserSettings(u.GUID); err != nil {
				return err
			}
		}
		if d.Groups, err = tx.Groups(); err != nil {
			return err
		}
		if d.Global, err = tx.GlobalSettings(); err != nil {
			return err
		}
		d.Enums, err = tx.EnumValues("")
		if err != nil {
			return err
		}
		if d.Cards, err = cards.Cards(ctx, guids); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if d.Partnerships, err = state.Partnerships(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Partnerships {
		if d.Pairs[p.ID], err = state.AllPairs(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if d.Pending[p.ID], err = state.PendingOps(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if d.Duplicates[p.ID], err = state.Duplicates(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if d.Runs[p.ID], err = state.Runs(ctx, p.ID, 100); err != nil {
			t.Fatal(err)
		}
	}
	if len(d.Users) > 0 {
		if d.CardNames, err = cards.Names(ctx, d.Users[0].GUID); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// seedSQLiteCRM fills a SQLite CRM with some of everything migrate copies.
func seedSQLiteCRM(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := service.New(db, service.Options{PasswordCost: bcrypt.MinCost})
	sys := crmsync.System(ctx)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(svc.SaveGroup(sys, "sales", []crmsync.Rights{crmsync.FullRights(crmsync.Contacts), crmsync.FullRights(crmsync.Companies), crmsync.FullRights(crmsync.Journal)}))
	alice, err := svc.AddUser(sys, "alice", "pw", false)
	must(err)
	_, err = svc.AddUser(sys, "Bob", "pw", true)
	must(err)
	_, err = svc.AddUser(sys, "carol", "pw", false)
	must(err)
	must(svc.SetDisabled(sys, "carol", true)) // the flag travels too
	must(svc.AddToGroup(sys, "alice", "sales"))
	must(svc.SetGlobalSetting(sys, crmsync.SettingDuplicityCheck, "true"))
	actx := crmsync.WithUser(ctx, alice)
	must(svc.SaveUserSetting(actx, crmsync.Setting{Path: "ui", Name: "theme", Value: "dark"}))
	_, err = svc.EnsureEnumValue(sys, crmsync.EnumCountry, "Atlantis")
	must(err)
	res, err := svc.Save(actx, crmsync.Companies, []crmsync.Patch{{Set: map[string]string{crmsync.FieldCompanyName: "Firma s.r.o."}}}, crmsync.SaveOptions{})
	must(err)
	company := res[0].GUID
	res, err = svc.Save(actx, crmsync.Contacts, []crmsync.Patch{
		{Set: map[string]string{crmsync.FieldFirstName: "Jan", crmsync.FieldLastName: "Novák", crmsync.FieldEmail1: "jan@firma.cz", crmsync.FieldCompanyGUID: company}},
		{Set: map[string]string{crmsync.FieldFirstName: "Eva", crmsync.FieldLastName: "Malá"}},
		{Set: map[string]string{crmsync.FieldLastName: "Smazaný"}},
	}, crmsync.SaveOptions{})
	must(err)
	_, err = svc.AddSystemJournal(actx, res[0].GUID, "Called", "about the offer")
	must(err)
	must(svc.Delete(actx, crmsync.Contacts, []string{res[2].GUID}))

	state := db.SyncState()
	p := &engine.Partnership{User: alice.GUID, Kind: "outlook", Remote: `{"sandbox":"http://127.0.0.1:1"}`, Mode: "automatic", Policy: engine.PolicyNewest, State: "active"}
	must(state.SavePartnership(ctx, p))
	found := time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)
	must(state.Commit(ctx, p.ID, engine.Commit{
		Save:       []engine.Pair{{CRMID: res[0].GUID, RemoteID: "AAA1", CRMVersion: "2", RemoteVersion: "ck1", Base: map[string]string{crmsync.FieldEmail1: "jan@firma.cz"}}},
		Duplicates: []engine.Duplicate{{RemoteID: "AAA9", CRMID: res[1].GUID, Email: "eva@x.cz", Name: "Eva", Found: found}},
		Cursors:    &engine.Cursors{CRM: "7", Remote: "delta-token"}, Synced: true,
	}))
	must(state.AddPending(ctx, p.ID, []engine.Pending{{Side: engine.RemoteSide, CRMGUID: res[1].GUID, SourceID: res[1].GUID, Base: map[string]string{"LastName": "Malá"}}}))
	must(state.SaveRun(ctx, &engine.Run{Partnership: p.ID, Started: found, Finished: found.Add(time.Second), Outcome: "ok",
		Counts: engine.Counts{CreatedInRemote: 1}, Conflicts: []engine.Conflict{{CRMID: res[0].GUID, Field: "Note", Winner: engine.CRMSide, Kept: "a", Lost: "b"}}}))
	must(state.SavePartnership(ctx, &engine.Partnership{User: alice.GUID, Kind: "carddav", Mode: "manual", Policy: engine.PolicyNewest, State: "off"}))

	cards, err := carddav.NewSQLStore(ctx, db)
	must(err)
	must(cards.PutName(ctx, alice.GUID, res[0].GUID, "Jan Novák.vcf"))
	must(cards.PutCard(ctx, res[0].GUID, []byte("BEGIN:VCARD\r\nX-KEPT:1\r\nEND:VCARD\r\n")))
}

// TestMigrateToPostgres copies a SQLite CRM with every kind of row into
// PostgreSQL and compares both through the stores; a second run is
// refused and changes nothing; the copy then takes new writes.
func TestMigrateToPostgres(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "crm.db")
	seedSQLiteCRM(t, path)
	pg := testenv.Postgres(t)

	out := mustRun(t, "migrate", "--from-db", path, "--postgres", pg)
	for _, want := range []string{"items", "changes", "sync_pairs", "sync_runs", "carddav_cards", "every table's count matches"} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate output lacks %q:\n%s", want, out)
		}
	}

	lite, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	liteCards, err := carddav.NewSQLStore(ctx, lite)
	if err != nil {
		t.Fatal(err)
	}
	want := dumpCRM(t, lite, lite.SyncState(), liteCards)
	if len(want.Changes) == 0 || len(want.Trash[crmsync.Contacts]) != 1 || len(want.Pairs) != 2 || len(want.Cards) != 1 {
		t.Fatalf("the seeded SQLite CRM lacks rows: %d changes, %d trashed, %d partnerships, %d cards",
			len(want.Changes), len(want.Trash[crmsync.Contacts]), len(want.Pairs), len(want.Cards))
	}
	pgdb, err := postgres.Open(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	defer pgdb.Close()
	got := dumpCRM(t, pgdb, pgdb.SyncState(), pgdb.CardDAVStore())
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("PostgreSQL after migrate (-SQLite +PostgreSQL):\n%s", diff)
	}

	code, _, errOut := run(t, "", "migrate", "--from-db", path, "--postgres", pg)
	if code != 1 || !strings.Contains(errOut, "already holds a CRM") {
		t.Errorf("second migrate: exit %d, %s", code, errOut)
	}
	if diff := cmp.Diff(want, dumpCRM(t, pgdb, pgdb.SyncState(), pgdb.CardDAVStore()), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the refused second migrate changed PostgreSQL:\n%s", diff)
	}

	// New rows get fresh ids after the copied ones.
	svc := service.New(pgdb, service.Options{PasswordCost: bcrypt.MinCost})
	last := want.Changes[len(want.Changes)-1].ID
	res, err := svc.Save(crmsync.System(ctx), crmsync.Contacts, []crmsync.Patch{{Set: map[string]string{crmsync.FieldLastName: "Po migraci"}}}, crmsync.SaveOptions{})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	if id, _ := svc.LastChangeID(crmsync.System(ctx)); id != last+1 {
		t.Errorf("first change after migrate has id %d, want %d", id, last+1)
	}
	p := &engine.Partnership{User: want.Users[0].GUID, Kind: "other", Mode: "automatic", Policy: engine.PolicyNewest, State: "off"}
	if err := pgdb.SyncState().SavePartnership(ctx, p); err != nil {
		t.Fatalf("a new partnership after migrate: %v", err)
	}
	for _, old := range want.Partnerships {
		if p.ID <= old.ID {
			t.Errorf("new partnership id %d does not follow the copied %d", p.ID, old.ID)
		}
	}
}

func TestMigrateUsage(t *testing.T) {
	if code, _, errOut := run(t, "", "migrate", "--from-db", "x.db"); code != 2 || !strings.Contains(errOut, "--postgres") {
		t.Errorf("migrate without --postgres: exit %d, %s", code, errOut)
	}
	missing := filepath.Join(t.TempDir(), "missing.db")
	if code, _, errOut := run(t, "", "migrate", "--from-db", missing, "--postgres", "postgres://127.0.0.1:1/x"); code != 1 || !strings.Contains(errOut, "missing.db") {
		t.Errorf("migrate from a missing file: exit %d, %s", code, errOut)
	}
}
