package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/outlook"
	"github.com/crmsync/crmsync/postgres"
	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/sqlite"
	"golang.org/x/crypto/bcrypt"
)

// failer is what the helpers need of a test: *testing.T, *testing.B and
// *rapid.T all have it.
type failer interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
}

// world is a CRM on a real SQLite file (or PostgreSQL schema), a user, an
// in-memory Outlook mailbox and an engine between them.
type world struct {
	t       failer
	ctx     context.Context // acts as the user
	db      store
	crm     *service.Service
	user    *crm.User
	mb      *outlook.Mailbox
	outlook *outlook.Replica
	crmSide *engine.CRMReplica
	eng     *engine.Engine
	state   engine.StateStore
	clock   *fakeClock
}

// store is what the engine's tests need of a CRM database: both the sqlite
// and the postgres adapters offer it.
type store interface {
	service.Store
	Close() error
}

// onPostgres is the name of the test that runs the sync tests again on
// PostgreSQL: newWorld gives the worlds of its subtests a PostgreSQL store.
const onPostgres = "TestSyncOnPostgres"

// TestSyncOnPostgres runs the engine's end-to-end tests with the CRM and
// the sync state on PostgreSQL instead of SQLite.
func TestSyncOnPostgres(t *testing.T) {
	for name, test := range map[string]func(*testing.T){
		"FirstSyncBothWays":                           TestFirstSyncBothWays,
		"EditsFlowBothWaysAndConflictsAreJournaled":   TestEditsFlowBothWaysAndConflictsAreJournaled,
		"JournalsAppearInOutlookNoteAndNeverComeBack": TestJournalsAppearInOutlookNoteAndNeverComeBack,
		"DeletesAndEditBeatsDelete":                   TestDeletesAndEditBeatsDelete,
		"MassDeleteBreaker":                           TestMassDeleteBreaker,
		"LostResponsesDoNotDuplicate":                 TestLostResponsesDoNotDuplicate,
		"CompanyFromOutlook":                          TestCompanyFromOutlook,
		"ManualMode":                                  TestManualMode,
		"RunLogKeepsRunsThatDidSomething":             TestRunLogKeepsRunsThatDidSomething,
		"OverlappingBatches":                          TestOverlappingBatches,
		"TitlesFromOutlook":                           TestTitlesFromOutlook,
	} {
		t.Run(name, test)
	}
}

func newWorld(t testing.TB) *world {
	t.Helper()
	var db store
	var state engine.StateStore
	if strings.HasPrefix(t.Name(), onPostgres+"/") {
		pg, err := postgres.Open(context.Background(), testenv.Postgres(t))
		if err != nil {
			t.Fatal(err)
		}
		db, state = pg, pg.SyncState()
	} else {
		lite, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "crm.db"))
		if err != nil {
			t.Fatal(err)
		}
		db, state = lite, lite.SyncState()
	}
	w := newWorldOn(t, db, state)
	t.Cleanup(func() { w.db.Close() })
	return w
}

// newWorldIn builds a world whose SQLite database lives in dir; the caller
// closes it.
func newWorldIn(t failer, dir string) *world {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "crm.db"))
	if err != nil {
		t.Fatal(err)
	}
	return newWorldOn(t, db, db.SyncState())
}

// newWorldOn builds a world on an open store.
func newWorldOn(t failer, db store, state engine.StateStore) *world {
	t.Helper()
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)}
	svc := service.New(db, service.Options{PasswordCost: bcrypt.MinCost, Now: clock.Now})
	sys := crm.System(ctx)
	all := func(f crm.Folder) crm.Rights {
		return crm.Rights{Folder: f, View: crm.LevelAll, Edit: crm.LevelAll, Delete: crm.LevelAll, CanCreate: true, CanExport: true}
	}
	if err := svc.SaveGroup(sys, "sales", []crm.Rights{all(crm.Contacts), all(crm.Companies), all(crm.Journal)}); err != nil {
		t.Fatal(err)
	}
	u, err := svc.AddUser(sys, "alice", "secret", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.AddToGroup(sys, "alice", "sales"); err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: crm.WithUser(ctx, u), db: db, crm: svc, user: u, state: state, clock: clock}
	w.mb = outlook.NewMemory()
	w.mb.Now = clock.Now
	w.outlook = outlook.NewReplica(w.mb, "")
	w.crmSide = &engine.CRMReplica{CRM: svc, User: u, SystemJournal: func(ctx context.Context, id, subject, note string) error {
		_, err := svc.AddSystemJournal(ctx, id, subject, note)
		return err
	}}
	p := &engine.Partnership{User: u.GUID, Kind: "outlook", Mode: "automatic", Policy: engine.PolicyNewest, State: "active"}
	if err := w.state.SavePartnership(ctx, p); err != nil {
		t.Fatal(err)
	}
	w.eng = &engine.Engine{Partnership: p, State: w.state, CRM: w.crmSide, Remote: w.outlook, Journal: w.crmSide, Now: clock.Now}
	return w
}

// fakeClock is a clock the tests move, so that "newest change wins" is
// decided the same way on every run.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (w *world) saveContact(fields map[string]string) string {
	w.t.Helper()
	res, err := w.crm.Save(w.ctx, crm.Contacts, []crm.Patch{{Set: fields}}, crm.SaveOptions{})
	if err != nil || res[0].Err != nil {
		w.t.Fatalf("saving contact: %v %v", err, res)
	}
	return res[0].GUID
}

func (w *world) editContact(guid string, fields map[string]string) {
	w.t.Helper()
	res, err := w.crm.Save(w.ctx, crm.Contacts, []crm.Patch{{GUID: guid, Set: fields}}, crm.SaveOptions{})
	if err != nil || res[0].Err != nil {
		w.t.Fatalf("editing contact: %v %v", err, res)
	}
}

func (w *world) outlookCreate(fields map[string]string) string {
	w.t.Helper()
	c := &outlook.Contact{}
	outlook.ApplyFields(c, fields)
	e, err := w.mb.Create(w.mb.DefaultFolder(), c)
	if err != nil {
		w.t.Fatal(err)
	}
	return e.Contact.ID
}

func (w *world) outlookEdit(id string, fields map[string]string) {
	w.t.Helper()
	if _, err := w.mb.Update(id, "", func(c *outlook.Contact) error {
		outlook.ApplyFields(c, fields)
		return nil
	}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) cycle() *engine.Run {
	w.t.Helper()
	run, err := w.eng.Cycle(context.Background())
	if err != nil {
		w.t.Fatalf("cycle: %v", err)
	}
	return run
}

// converged checks that every CRM contact and every Outlook contact of the
// synced folder is paired exactly once and that each pair agrees on every
// synced field.
func (w *world) converged() {
	w.t.Helper()
	ctx := context.Background()
	crmSet, err := w.crmSide.Changes(ctx, "")
	if err != nil {
		w.t.Fatal(err)
	}
	remoteSet, err := w.outlook.Changes(ctx, "")
	if err != nil {
		w.t.Fatal(err)
	}
	pairs, err := w.state.AllPairs(ctx, w.eng.Partnership.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	crmByID := map[string]engine.Record{}
	for _, r := range crmSet.Records {
		crmByID[r.ID] = r
	}
	remoteByID := map[string]engine.Record{}
	for _, r := range remoteSet.Records {
		remoteByID[r.ID] = r
	}
	if len(pairs) != len(crmByID) || len(pairs) != len(remoteByID) {
		for _, p := range pairs {
			_, okC := crmByID[p.CRMID]
			_, okR := remoteByID[p.RemoteID]
			if !okC || !okR {
				trash, _ := w.crm.Trash(crm.System(ctx), crm.Contacts)
				inTrash := false
				for _, it := range trash {
					inTrash = inTrash || it.GUID == p.CRMID
				}
				w.t.Errorf("pair %s ↔ %s: CRM listed %v (in trash %v), Outlook listed %v", p.CRMID, p.RemoteID, okC, inTrash, okR)
			}
		}
		w.t.Fatalf("%d pairs, %d CRM contacts, %d Outlook contacts: not one to one", len(pairs), len(crmByID), len(remoteByID))
	}
	for _, p := range pairs {
		c, okC := crmByID[p.CRMID]
		r, okR := remoteByID[p.RemoteID]
		if !okC || !okR {
			w.t.Fatalf("pair %s ↔ %s: CRM present %v, Outlook present %v", p.CRMID, p.RemoteID, okC, okR)
		}
		for _, f := range engine.SyncFields {
			want := outlook.Normalize(f, c.Fields[f])
			if f == crm.FieldNote {
				want = engine.JoinNote(c.Fields[f], c.Fields[engine.FieldJournals])
			}
			if got := r.Fields[f]; got != want {
				w.t.Errorf("contact %s field %s (pair versions %s/%s, now %s/%s): CRM %q, Outlook %q", p.CRMID, f, p.CRMVersion, p.RemoteVersion, c.Version, r.Version, want, got)
			}
		}
	}
}

func TestFirstSyncBothWays(t *testing.T) {
	w := newWorld(t)
	var guids []string
	for i := range 30 {
		guids = append(guids, w.saveContact(map[string]string{
			crm.FieldFirstName: fmt.Sprintf("First%d", i), crm.FieldLastName: "Novák",
			crm.FieldEmail1: fmt.Sprintf("p%d@firma.cz", i), crm.FieldPhoneMobile: "+420 777 000 00" + fmt.Sprint(i%10),
			crm.FieldPhoneFax: "+420 555 1", crm.FieldNote: "Customer since 2020",
		}))
	}
	w.outlookCreate(map[string]string{crm.FieldFirstName: "Only", crm.FieldLastName: "InOutlook", crm.FieldEmail1: "only@outlook.cz", crm.FieldPhoneOther: "+1 555 0101"})
	w.outlookCreate(map[string]string{crm.FieldFirstName: "Dup", crm.FieldLastName: "Licate", crm.FieldEmail1: "P3@firma.cz"})

	run := w.cycle()
	if run.Counts.CreatedInRemote != 30 || run.Counts.CreatedInCRM != 1 || run.Counts.Duplicates != 1 {
		t.Fatalf("counts = %+v, want 30 to Outlook, 1 to CRM, 1 duplicate", run.Counts)
	}
	if len(run.Duplicates) != 1 || run.Duplicates[0].CRMID != guids[3] {
		t.Errorf("duplicates = %+v, want the one matching %s", run.Duplicates, guids[3])
	}
	dupFolder, err := w.mb.EnsureFolder("Duplicate contacts")
	if err != nil {
		t.Fatal(err)
	}
	if n := w.mb.Count(dupFolder.ID); n != 1 {
		t.Errorf("Duplicate contacts folder holds %d contacts, want 1", n)
	}
	w.converged()

	// A second cycle with nothing changed writes nothing.
	run = w.cycle()
	if run.Counts != (engine.Counts{}) {
		t.Errorf("no-change cycle counts = %+v", run.Counts)
	}
}

func TestEditsFlowBothWaysAndConflictsAreJournaled(t *testing.T) {
	w := newWorld(t)
	id := w.saveContact(map[string]string{crm.FieldFirstName: "Jan", crm.FieldLastName: "Novák", crm.FieldJobTitle: "Sales"})
	w.cycle()
	pairs, _ := w.state.AllPairs(context.Background(), w.eng.Partnership.ID)
	remoteID := pairs[0].RemoteID

	w.editContact(id, map[string]string{crm.FieldDepartment: "East"})
	w.outlookEdit(remoteID, map[string]string{crm.FieldPhoneMobile: "+420 601 111 222"})
	w.cycle()
	w.converged()

	// Both sides change the job title differently: the newest wins and the
	// loser lands in an "Item conflict" journal.
	w.editContact(id, map[string]string{crm.FieldJobTitle: "Head of sales"})
	w.outlookEdit(remoteID, map[string]string{crm.FieldJobTitle: "Sales director"})
	run := w.cycle()
	if run.Counts.Conflicts != 1 {
		t.Fatalf("conflicts = %d, want 1", run.Counts.Conflicts)
	}
	w.converged()
	journals, err := w.crm.Search(w.ctx, crm.Journal, map[string]string{crm.FieldContactGUID: id}, false)
	if err != nil {
		t.Fatal(err)
	}
	lost := run.Conflicts[0].Lost
	found := false
	for _, j := range journals {
		if j.Get(crm.FieldIsSystem) == "true" && strings.Contains(j.Get(crm.FieldNote), lost) {
			found = true
		}
	}
	if !found {
		t.Errorf("no system journal holds the losing value %q", lost)
	}
}

func TestJournalsAppearInOutlookNoteAndNeverComeBack(t *testing.T) {
	w := newWorld(t)
	id := w.saveContact(map[string]string{crm.FieldFirstName: "Eva", crm.FieldNote: "VIP"})
	res, err := w.crm.Save(w.ctx, crm.Journal, []crm.Patch{{Set: map[string]string{
		crm.FieldFileAs: "Called about the offer", crm.FieldContactGUID: id, crm.FieldNote: "wants a discount",
		crm.FieldEventStart: "2026-11-20 10:00:00",
	}}}, crm.SaveOptions{})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	w.cycle()
	pairs, _ := w.state.AllPairs(context.Background(), w.eng.Partnership.ID)
	e, err := w.mb.Get(pairs[0].RemoteID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.Contact.PersonalNotes, "VIP") || !strings.Contains(e.Contact.PersonalNotes, "Called about the offer") {
		t.Fatalf("Outlook note = %q, want the CRM note then the journal", e.Contact.PersonalNotes)
	}
	// The user edits the note in Outlook, and scribbles in the block.
	note, block := engine.SplitNote(e.Contact.PersonalNotes)
	_ = note
	w.outlookEdit(pairs[0].RemoteID, map[string]string{crm.FieldNote: engine.JoinNote("VIP, prefers e-mail", strings.Replace(block, "discount", "DISCOUNT!!", 1))})
	w.cycle()
	items, _ := w.crm.Items(w.ctx, crm.Contacts, []string{id})
	if got := items[0].Get(crm.FieldNote); got != "VIP, prefers e-mail" {
		t.Errorf("CRM note = %q, want the user's note without the block", got)
	}
	w.converged() // the block was put back as the CRM renders it
}

func TestDeletesAndEditBeatsDelete(t *testing.T) {
	w := newWorld(t)
	a := w.saveContact(map[string]string{crm.FieldLastName: "A"})
	b := w.saveContact(map[string]string{crm.FieldLastName: "B"})
	c := w.saveContact(map[string]string{crm.FieldLastName: "C"})
	w.cycle()
	remote := map[string]string{}
	pairs, _ := w.state.AllPairs(context.Background(), w.eng.Partnership.ID)
	for _, p := range pairs {
		remote[p.CRMID] = p.RemoteID
	}
	// Deleted in the CRM → deleted in Outlook.
	if err := w.crm.Delete(w.ctx, crm.Contacts, []string{a}); err != nil {
		t.Fatal(err)
	}
	// Deleted in Outlook → to the CRM trash.
	if err := w.mb.Delete(remote[b], ""); err != nil {
		t.Fatal(err)
	}
	// Deleted in Outlook but edited in the CRM → comes back to Outlook.
	if err := w.mb.Delete(remote[c], ""); err != nil {
		t.Fatal(err)
	}
	w.editContact(c, map[string]string{crm.FieldFirstName: "Still here"})
	run := w.cycle()
	if run.Counts.DeletedInRemote != 1 || run.Counts.DeletedInCRM != 1 || run.Counts.CreatedInRemote != 1 {
		t.Errorf("counts = %+v", run.Counts)
	}
	trash, _ := w.crm.Trash(w.ctx, crm.Contacts)
	if len(trash) != 2 {
		t.Errorf("trash holds %d contacts, want 2 (A and B)", len(trash))
	}
	w.converged()
}

func TestMassDeleteBreaker(t *testing.T) {
	w := newWorld(t)
	for i := range 40 {
		w.saveContact(map[string]string{crm.FieldLastName: fmt.Sprint("P", i)})
	}
	w.cycle()
	pairs, _ := w.state.AllPairs(context.Background(), w.eng.Partnership.ID)
	for _, p := range pairs[:15] {
		if err := w.mb.Delete(p.RemoteID, ""); err != nil {
			t.Fatal(err)
		}
	}
	_, err := w.eng.Cycle(context.Background())
	if crm.ErrorCode(err) != crm.EPRECONDITION {
		t.Fatalf("cycle error = %v, want the breaker's confirmation request", err)
	}
	if trash, _ := w.crm.Trash(w.ctx, crm.Contacts); len(trash) != 0 {
		t.Fatalf("breaker let %d deletes through", len(trash))
	}
	w.eng.ConfirmDeletes = true
	w.cycle()
	if trash, _ := w.crm.Trash(w.ctx, crm.Contacts); len(trash) != 15 {
		t.Errorf("after confirmation the trash holds %d, want 15", len(trash))
	}
	w.converged()
}

func TestLostResponsesDoNotDuplicate(t *testing.T) {
	w := newWorld(t)
	for i := range 10 {
		w.saveContact(map[string]string{crm.FieldLastName: fmt.Sprint("L", i), crm.FieldEmail1: fmt.Sprintf("l%d@x.cz", i)})
	}
	w.outlook.Faults = &outlook.Faults{}
	w.outlook.Faults.Inject(1, outlook.Fault{Kind: outlook.FaultLostResponse})
	if _, err := w.eng.Cycle(context.Background()); err == nil {
		t.Log("first cycle reported no error despite the lost response")
	}
	w.cycle()
	w.cycle()
	if n := w.mb.Count(w.mb.DefaultFolder()); n != 10 {
		t.Fatalf("Outlook holds %d contacts, want 10", n)
	}
	w.converged()
}

func TestCompanyFromOutlook(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("create companies %v", on), func(t *testing.T) {
			w := newWorld(t)
			if err := w.crm.SetGlobalSetting(crm.System(context.Background()), crm.SettingCreateCompany, fmt.Sprint(on)); err != nil {
				t.Fatal(err)
			}
			w.outlookCreate(map[string]string{crm.FieldLastName: "A", crm.FieldCompany: "Firma s.r.o.", crm.FieldEmail1: "a@firma.cz",
				crm.AddressBusiness + "City": "Brno", crm.FieldPhoneBusiness: "+420 5"})
			w.outlookCreate(map[string]string{crm.FieldLastName: "B", crm.FieldCompany: "  firma S.R.O. ", crm.FieldEmail1: "b@firma.cz"})
			w.cycle()
			companies, err := w.crm.Items(w.ctx, crm.Companies, nil)
			if err != nil {
				t.Fatal(err)
			}
			contacts, _ := w.crm.Items(w.ctx, crm.Contacts, nil)
			if !on {
				if len(companies) != 0 {
					t.Errorf("%d companies created with the setting off", len(companies))
				}
				for _, c := range contacts {
					if c.Get(crm.FieldCompanyGUID) != "" || c.Get(crm.FieldCompany) == "" {
						t.Errorf("contact %v: want company text only", c.Fields)
					}
				}
				return
			}
			if len(companies) != 1 {
				t.Fatalf("%d companies, want one for both spellings", len(companies))
			}
			co := companies[0]
			if co.Get(crm.FieldCompanyName) != "Firma s.r.o." || co.Get("Address1City") != "Brno" || co.Get("Phone") != "+420 5" || co.Get("Email") != "a@firma.cz" {
				t.Errorf("company = %v, want name, billing address, phone and e-mail of the first contact", co.Fields)
			}
			for _, c := range contacts {
				if c.Get(crm.FieldCompanyGUID) != co.GUID {
					t.Errorf("contact %s is not linked to the company", c.Get(crm.FieldLastName))
				}
			}
		})
	}
}

func TestManualMode(t *testing.T) {
	w := newWorld(t)
	a := w.saveContact(map[string]string{crm.FieldLastName: "Marked"})
	w.saveContact(map[string]string{crm.FieldLastName: "Not marked"})
	w.eng.Partnership.Mode, w.crmSide.Mode = "manual", "manual"
	mark := func(guid, v string) {
		if err := w.crm.SaveUserSetting(w.ctx, crm.Setting{Path: engine.ManualMarkPath, Name: guid, Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	mark(a, "true")
	w.cycle()
	if n := w.mb.Count(w.mb.DefaultFolder()); n != 1 {
		t.Fatalf("Outlook holds %d contacts, want only the marked one", n)
	}
	w.converged()
	// A contact added in Outlook comes to the CRM marked.
	w.outlookCreate(map[string]string{crm.FieldLastName: "From Outlook"})
	w.cycle()
	w.converged()
	// Unmarking removes the Outlook copy only.
	mark(a, "false")
	w.cycle()
	if n := w.mb.Count(w.mb.DefaultFolder()); n != 1 {
		t.Errorf("Outlook holds %d contacts after unmarking, want the one from Outlook", n)
	}
	if items, _ := w.crm.Items(w.ctx, crm.Contacts, nil); len(items) != 3 {
		t.Errorf("the CRM holds %d contacts, want all 3 still", len(items))
	}
	w.converged()
}

func TestRunLogKeepsRunsThatDidSomething(t *testing.T) {
	w := newWorld(t)
	w.saveContact(map[string]string{crm.FieldLastName: "Logged"})
	w.cycle()
	w.cycle() // nothing to do
	w.cycle()
	runs, err := w.state.Runs(context.Background(), w.eng.Partnership.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Counts.CreatedInRemote != 1 {
		t.Errorf("run log = %+v, want only the run that created the contact", runs)
	}
}

// TestOverlappingBatches runs a first sync in batches of four, whose
// remote writes overlap the previous batch's commit, with a lost answer to
// one whole Apply call: the cycle fails, and the next ones heal with every
// contact once on each side; progress counts up batch by batch.
func TestOverlappingBatches(t *testing.T) {
	for _, lose := range []bool{false, true} {
		t.Run(fmt.Sprintf("lost-answer=%v", lose), func(t *testing.T) {
			w := newWorld(t)
			for i := range 22 {
				w.saveContact(map[string]string{crm.FieldLastName: fmt.Sprint("CRM", i), crm.FieldEmail1: fmt.Sprintf("c%d@x.cz", i)})
			}
			for i := range 5 {
				w.outlookCreate(map[string]string{crm.FieldLastName: fmt.Sprint("Outlook", i), crm.FieldEmail1: fmt.Sprintf("o%d@x.cz", i)})
			}
			w.eng.BatchSize = 4
			var progress []engine.Progress
			w.eng.Progress = func(p engine.Progress) { progress = append(progress, p) }
			if lose {
				w.outlook.Faults = &outlook.Faults{}
				applies := 0
				w.outlook.Faults.SetHook(func(c outlook.Call) *outlook.Fault {
					if c.Op != "Apply" {
						return nil
					}
					if applies++; applies == 3 {
						return &outlook.Fault{Kind: outlook.FaultLostResponse}
					}
					return nil
				})
				if _, err := w.eng.Cycle(context.Background()); err == nil {
					t.Fatal("a cycle whose Apply answer was lost reported no error")
				}
				if w.outlook.Faults.Hits(outlook.FaultLostResponse) != 1 {
					t.Fatal("the lost answer was never injected")
				}
				w.outlook.Faults = nil
				progress = nil
			}
			for range 3 {
				w.cycle()
			}
			if n := w.mb.Count(w.mb.DefaultFolder()); n != 27 {
				t.Errorf("Outlook holds %d contacts, want 27", n)
			}
			w.converged()
			if lose {
				return
			}
			// The first pass writes the 27 contacts in batches of at most
			// four, reported in order (a second pass compares the 5 the
			// CRM created as the CRM holds them).
			done := 0
			for i, p := range progress {
				if p.Total != 27 || p.Done <= done || p.Done > done+4 {
					t.Fatalf("progress %d = %+v after %d done", i, p, done)
				}
				if done = p.Done; done == 27 {
					if i < 6 {
						t.Fatalf("27 contacts done after %d batches of at most 4", i+1)
					}
					break
				}
			}
			if done != 27 {
				t.Fatalf("progress ended at %d of 27", done)
			}
		})
	}
}

// TestTitlesFromOutlook: titles typed in Outlook become CRM enum values,
// one per name whatever its case, also when many contacts of one cycle
// share a new one (the replica resolves each name once a cycle).
func TestTitlesFromOutlook(t *testing.T) {
	w := newWorld(t)
	titles := []string{"Ing.", "ing.", "Mgr.", "Dr.", "Ing."}
	for i, title := range titles {
		w.outlookCreate(map[string]string{crm.FieldFirstName: fmt.Sprint("Jana", i), crm.FieldPrefix: title})
	}
	if c := w.cycle().Counts; c.CreatedInCRM != len(titles) {
		t.Fatalf("counts %+v", c)
	}
	w.outlookCreate(map[string]string{crm.FieldFirstName: "Later", crm.FieldPrefix: "MGR."})
	w.cycle()

	values, err := w.crm.EnumValues(w.ctx, crm.EnumPrefix)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]int{}
	byGUID := map[string]string{}
	for _, v := range values {
		names[strings.ToLower(v.En)]++
		byGUID[v.GUID] = v.En
	}
	for _, name := range []string{"ing.", "mgr.", "dr."} {
		if names[name] != 1 {
			t.Errorf("the CRM holds %d prefix values named %q, want 1", names[name], name)
		}
	}
	items, err := w.crm.Items(w.ctx, crm.Contacts, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if byGUID[it.Get(crm.FieldPrefix)] == "" {
			t.Errorf("contact %s: prefix %q is no prefix value", it.Get(crm.FieldFirstName), it.Get(crm.FieldPrefix))
		}
	}
}
