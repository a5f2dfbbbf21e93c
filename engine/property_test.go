package engine_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/outlook"
	"github.com/crmsync/crmsync/postgres"
	"pgregory.net/rapid"
)

// identityField holds a token that names a contact for the model; users
// never edit it. Edited fields are drawn from editable.
const identityField = crm.FieldDepartment

var editable = []string{
	crm.FieldFirstName, crm.FieldLastName, crm.FieldJobTitle, crm.FieldPhoneMobile,
	crm.FieldPhoneFax, crm.FieldPhoneOther, crm.FieldNote, crm.AddressBusiness + "City", crm.FieldEmail2,
}

// schedulesRun counts the schedules, for the closing log line.
var schedulesRun atomic.Int64

// identity is the model of one contact: every value users ever gave each
// field, and whether a user deleted it.
type identity struct {
	history map[string]map[string]bool
	deleted bool
	// outOfSet is set when the contact was edited or created while it was
	// outside the user's set (rights removed, filtered out): such edits may
	// be dropped by design (SPEC M8), so "no value lost" is not checked.
	outOfSet bool
	// dirty marks an Outlook edit not synced yet: if the contact leaves
	// the set before the next sync, that edit is dropped by design.
	dirty bool
	// log says what happened to the contact, for failure messages.
	log []string
}

func (id *identity) note(format string, args ...any) {
	if len(id.log) < 200 {
		id.log = append(id.log, fmt.Sprintf(format, args...))
	}
}

func (id *identity) wrote(field, value string) {
	if id.history[field] == nil {
		id.history[field] = map[string]bool{}
	}
	id.history[field][value] = true
}

// TestSyncProperties runs random schedules of edits, creates and deletes on
// both sides, rights and filter changes, and faults (throttling, server
// errors, timeouts, lost responses of applied writes, restarts), then
// checks that the sides converge with nothing duplicated or lost and every
// conflict's losing value in a journal.
func TestSyncProperties(t *testing.T) {
	checkSyncProperties(t, func(rt *rapid.T) (*world, func()) {
		dir, err := os.MkdirTemp("", "crmsync-prop")
		if err != nil {
			rt.Fatal(err)
		}
		w := newWorldIn(rt, dir)
		return w, func() { w.db.Close(); os.RemoveAll(dir) }
	})
}

// TestSyncPropertiesOnPostgres runs the schedules of TestSyncProperties
// with the CRM and the sync state on PostgreSQL, a schema each.
func TestSyncPropertiesOnPostgres(t *testing.T) {
	testenv.Postgres(t) // skips, or fails under CI, without a server
	checkSyncProperties(t, func(rt *rapid.T) (*world, func()) {
		db, err := postgres.Open(context.Background(), testenv.Postgres(t))
		if err != nil {
			rt.Fatal(err)
		}
		w := newWorldOn(rt, db, db.SyncState())
		return w, func() { db.Close() }
	})
}

// checkSyncProperties runs the random schedules, each in a new world.
func checkSyncProperties(t *testing.T, newWorld func(*rapid.T) (w *world, close func())) {
	t.Cleanup(func() { t.Logf("schedules run: %d", schedulesRun.Load()) })
	rapid.Check(t, func(rt *rapid.T) {
		schedulesRun.Add(1)
		w, closeWorld := newWorld(rt)
		defer closeWorld()
		// Small batches overlap their writes and commits, and the next
		// pass's listing is started and extended while writes are
		// still under way.
		w.eng.BatchSize = rapid.SampledFrom([]int{1, 2, 3, 500}).Draw(rt, "batch size")
		sys := crm.System(context.Background())
		boss, err := w.crm.AddUser(sys, "boss", "x", false)
		if err != nil {
			rt.Fatal(err)
		}
		ids := map[string]*identity{}
		next := 0
		rightsRemoved, filtered := false, false
		newIdentity := func() (string, *identity) {
			next++
			tok := fmt.Sprintf("id-%d", next)
			ids[tok] = &identity{history: map[string]map[string]bool{}}
			return tok, ids[tok]
		}
		// trace notes an event on every identity (syncs, faults, rights).
		trace := func(format string, args ...any) {
			for _, id := range ids {
				id.note(format, args...)
			}
		}
		value := func(rt *rapid.T) string {
			return rapid.SampledFrom([]string{"", "a", "b", "Čeněk", "+420 1", "x y", strings.Repeat("L", 300)}).Draw(rt, "value")
		}
		crmContacts := func() []*crm.Item {
			items, err := w.crm.Items(sys, crm.Contacts, nil)
			if err != nil {
				rt.Fatal(err)
			}
			return items
		}
		outlookContacts := func() []*outlook.Contact {
			var list []*outlook.Contact
			w.mb.List(w.mb.DefaultFolder(), func(c *outlook.Contact, _ string) bool {
				list = append(list, c)
				return true
			})
			return list
		}
		checkConflicts := func(run *engine.Run) {
			for _, c := range run.Conflicts {
				js, err := w.crm.Search(sys, crm.Journal, map[string]string{crm.FieldContactGUID: c.CRMID}, false)
				if err != nil {
					rt.Fatal(err)
				}
				found := false
				for _, j := range js {
					if j.Get(crm.FieldIsSystem) == "true" && strings.Contains(j.Get(crm.FieldNote), fmt.Sprintf("%q", c.Lost)) {
						found = true
					}
				}
				if !found {
					rt.Fatalf("conflict on %s.%s: losing value %q is in no journal", c.CRMID, c.Field, c.Lost)
				}
			}
		}
		cycle := func(rt *rapid.T) {
			hits := faultHits(w.outlook.Faults)
			run, err := w.eng.Cycle(context.Background())
			if crm.ErrorCode(err) == crm.EPRECONDITION {
				w.eng.ConfirmDeletes = true // the user confirms
				run, err = w.eng.Cycle(context.Background())
				w.eng.ConfirmDeletes = false
			}
			trace("sync: %v", err)
			if err != nil && faultHits(w.outlook.Faults) == hits {
				rt.Fatalf("cycle failed without a fault: %v", err)
			}
			if run != nil {
				checkConflicts(run)
				if err == nil && run.Outcome == "ok" {
					for _, id := range ids {
						id.dirty = false
					}
				}
			}
			if os.Getenv("DEBUGPROP") != "" {
				rt.Logf("cycle: err=%v run=%+v retry=%v", err, run.Counts, run.Retry)
				pairs, _ := w.state.AllPairs(context.Background(), w.eng.Partnership.ID)
				for _, p := range pairs {
					rt.Logf("  pair %s %s/%s journals=%d", p.CRMID[:8], p.CRMVersion, p.RemoteVersion, strings.Count(p.Base[engine.FieldJournals], "Call"))
				}
			}
		}
		// leaveSet marks the contacts whose unsynced Outlook edits a change
		// of the set may drop.
		leaveSet := func() {
			for _, id := range ids {
				if id.dirty {
					id.outOfSet = true
				}
			}
		}
		w.outlook.Faults = &outlook.Faults{}

		tick := func(f func(*rapid.T)) func(*rapid.T) {
			return func(rt *rapid.T) { w.clock.Advance(time.Second); f(rt) }
		}
		actions := map[string]func(*rapid.T){
			"crm create": func(rt *rapid.T) {
				tok, id := newIdentity()
				fields := map[string]string{identityField: tok, crm.FieldEmail1: tok + "@crm.cz", crm.FieldOwnerGUID: w.user.GUID}
				for _, f := range editable[:3] {
					if v := value(rt); v != "" {
						fields[f] = v
						id.wrote(f, v)
					}
				}
				id.note("crm create")
				// Another CRM user creates it: the sync user's rights do
				// not matter here.
				res, err := w.crm.Save(sys, crm.Contacts, []crm.Patch{{Set: fields}}, crm.SaveOptions{})
				if err != nil || res[0].Err != nil {
					rt.Fatalf("create: %v %v", err, res)
				}
			},
			"crm edit": func(rt *rapid.T) {
				items := crmContacts()
				if len(items) == 0 {
					rt.Skip("no contact")
				}
				it := rapid.SampledFrom(items).Draw(rt, "contact")
				f, v := rapid.SampledFrom(editable).Draw(rt, "field"), value(rt)
				v = uniqueEmail(f, it.Get(identityField), v)
				ids[it.Get(identityField)].wrote(f, v)
				ids[it.Get(identityField)].note("crm edit %s=%.12q", f, v)
				res, err := w.crm.Save(sys, crm.Contacts, []crm.Patch{{GUID: it.GUID, Set: map[string]string{f: v}}}, crm.SaveOptions{})
				if err != nil || res[0].Err != nil {
					rt.Fatalf("edit: %v %v", err, res)
				}
			},
			"crm delete": func(rt *rapid.T) {
				items := crmContacts()
				if len(items) == 0 {
					rt.Skip("no contact")
				}
				it := rapid.SampledFrom(items).Draw(rt, "contact")
				ids[it.Get(identityField)].deleted = true
				ids[it.Get(identityField)].note("crm delete")
				if err := w.crm.Delete(sys, crm.Contacts, []string{it.GUID}); err != nil {
					rt.Fatal(err)
				}
			},
			"outlook create": func(rt *rapid.T) {
				tok, id := newIdentity()
				fields := map[string]string{identityField: tok, crm.FieldEmail1: tok + "@outlook.cz"}
				for _, f := range editable[:4] {
					if v := value(rt); v != "" {
						fields[f] = outlook.Normalize(f, v)
						id.wrote(f, fields[f])
					}
				}
				if rightsRemoved {
					id.outOfSet = true
				}
				id.note("outlook create")
				w.outlookCreate(fields)
			},
			"outlook edit": func(rt *rapid.T) {
				list := outlookContacts()
				if len(list) == 0 {
					rt.Skip("no contact")
				}
				c := rapid.SampledFrom(list).Draw(rt, "contact")
				f, v := rapid.SampledFrom(editable).Draw(rt, "field"), value(rt)
				v = uniqueEmail(f, c.Department, v)
				id := ids[c.Department]
				if f == crm.FieldNote {
					_, block := engine.SplitNote(c.PersonalNotes)
					id.wrote(f, v)
					v = engine.JoinNote(v, block)
				} else {
					v = outlook.Normalize(f, v)
					id.wrote(f, v)
				}
				if rightsRemoved || filtered {
					id.outOfSet = true
				}
				id.dirty = true
				id.note("outlook edit %s=%.12q", f, v)
				w.outlookEdit(c.ID, map[string]string{f: v})
			},
			"outlook delete": func(rt *rapid.T) {
				list := outlookContacts()
				if len(list) == 0 {
					rt.Skip("no contact")
				}
				c := rapid.SampledFrom(list).Draw(rt, "contact")
				ids[c.Department].deleted = true
				ids[c.Department].note("outlook delete")
				if err := w.mb.Delete(c.ID, ""); err != nil {
					rt.Fatal(err)
				}
			},
			"journal": func(rt *rapid.T) {
				items := crmContacts()
				if len(items) == 0 {
					rt.Skip("no contact")
				}
				it := rapid.SampledFrom(items).Draw(rt, "contact")
				res, err := w.crm.Save(sys, crm.Journal, []crm.Patch{{Set: map[string]string{
					crm.FieldFileAs: "Call " + value(rt), crm.FieldContactGUID: it.GUID,
				}}}, crm.SaveOptions{})
				if err != nil || res[0].Err != nil {
					rt.Fatalf("journal: %v %v", err, res)
				}
			},
			"rights": func(rt *rapid.T) {
				var err error
				if rightsRemoved {
					err = w.crm.AddToGroup(sys, "alice", "sales")
				} else {
					err = w.crm.RemoveFromGroup(sys, "alice", "sales")
				}
				if err != nil {
					rt.Fatal(err)
				}
				rightsRemoved = !rightsRemoved
				trace("rights removed=%v", rightsRemoved)
				leaveSet()
			},
			"owner and filter": func(rt *rapid.T) {
				items := crmContacts()
				if len(items) > 0 && rapid.Bool().Draw(rt, "flip owner") {
					it := rapid.SampledFrom(items).Draw(rt, "contact")
					owner := boss.GUID
					if it.Owner() == boss.GUID {
						owner = w.user.GUID
					}
					// An unsynced Outlook edit may be dropped when the owner
					// change takes the contact out of a filtered set; a
					// contact already out of the set stays so.
					id := ids[it.Get(identityField)]
					id.outOfSet = id.outOfSet || id.dirty || filtered
					id.note("owner -> %s", map[bool]string{true: "boss", false: "user"}[owner == boss.GUID])
					res, err := w.crm.Save(sys, crm.Contacts, []crm.Patch{{GUID: it.GUID, Set: map[string]string{crm.FieldOwnerGUID: owner}}}, crm.SaveOptions{})
					if err != nil || res[0].Err != nil {
						rt.Fatalf("owner: %v %v", err, res)
					}
					return
				}
				filtered = !filtered
				trace("filtered=%v", filtered)
				leaveSet()
				w.setFilter(filtered)
			},
			"fault": func(rt *rapid.T) {
				kind := rapid.SampledFrom([]outlook.FaultKind{outlook.FaultThrottle, outlook.FaultServerError, outlook.FaultTimeout, outlook.FaultDrop, outlook.FaultLostResponse}).Draw(rt, "fault")
				w.outlook.Faults.Inject(1, outlook.Fault{Kind: kind})
				trace("fault %d", kind)
			},
			"restart": func(rt *rapid.T) { trace("restart"); w.restart() },
			"sync":    cycle,
		}
		for name, f := range actions {
			actions[name] = tick(f)
		}
		rt.Repeat(actions)

		// Heal: no more faults, rights back, no filter; then sync until quiet.
		w.outlook.Faults = &outlook.Faults{}
		if rightsRemoved {
			if err := w.crm.AddToGroup(sys, "alice", "sales"); err != nil {
				rt.Fatal(err)
			}
		}
		if filtered {
			w.setFilter(false)
		}
		w.eng.ConfirmDeletes = true
		for i := 0; ; i++ {
			run, err := w.eng.Cycle(context.Background())
			if err != nil {
				rt.Fatalf("healing cycle %d: %v", i, err)
			}
			checkConflicts(run)
			if run.Counts == (engine.Counts{}) && run.Outcome == "ok" {
				break
			}
			if i == 6 {
				rt.Fatalf("not settled after %d cycles: %s %+v %+v %+v", i, run.Outcome, run.Counts, run.Errors, run.Retry)
			}
		}
		w.converged()

		// No duplicates, nothing lost, no invented values.
		seen := map[string]int{}
		for _, it := range crmContacts() {
			tok := it.Get(identityField)
			seen[tok]++
			id := ids[tok]
			if id == nil {
				rt.Fatalf("CRM contact %s has no known identity %q", it.GUID, tok)
			}
			for _, f := range editable {
				v := it.Get(f)
				switch {
				case v != "" && !id.history[f][v] && !id.history[f][outlook.Normalize(f, v)]:
					rt.Fatalf("%s.%s = %.20q, a value no user wrote (history %v)\n%s", tok, f, v, id.history[f], strings.Join(id.log, "\n"))
				case v == "" && len(id.history[f]) > 0 && !id.history[f][""] && !id.outOfSet && !id.deleted:
					// (A contact deleted on one side and edited on the other
					// comes back as the editing side has it.)
					rt.Fatalf("%s.%s lost its value (history %v)\n%s", tok, f, id.history[f], strings.Join(id.log, "\n"))
				}
			}
		}
		for tok, n := range seen {
			if n > 1 {
				rt.Fatalf("contact %s exists %d times in the CRM", tok, n)
			}
		}
		for tok, id := range ids {
			if !id.deleted && seen[tok] == 0 && !id.outOfSet {
				rt.Fatalf("contact %s was never deleted but is gone\n%s", tok, strings.Join(id.log, "\n"))
			}
		}
	})
}

// uniqueEmail makes an e-mail value belong to one contact, so that no
// Outlook contact matches another by e-mail and lands in "Duplicate
// contacts" (SPEC M13, tested on its own).
func uniqueEmail(field, tok, v string) string {
	if v == "" || (field != crm.FieldEmail1 && field != crm.FieldEmail2 && field != crm.FieldEmail3) {
		return v
	}
	return fmt.Sprintf("%s.%x@alt.cz", tok, v)
}

// faultHits counts the faults that fired so far.
func faultHits(f *outlook.Faults) int {
	n := 0
	for _, k := range []outlook.FaultKind{outlook.FaultThrottle, outlook.FaultServerError, outlook.FaultTimeout, outlook.FaultDrop, outlook.FaultLostResponse} {
		n += f.Hits(k)
	}
	return n
}

// setFilter switches the partnership between all contacts and own ones,
// as `crmsync outlook enable --filter` does: a full re-listing follows.
func (w *world) setFilter(own bool) {
	w.eng.Partnership.Filter = ""
	if own {
		w.eng.Partnership.Filter = "own"
	}
	w.crmSide.Filter = w.eng.Partnership.Filter
	w.eng.Partnership.CursorCRM = ""
	if err := w.state.SavePartnership(context.Background(), w.eng.Partnership); err != nil {
		w.t.Fatal(err)
	}
}

// restart drops the engine and builds a new one from the stored state, as
// a process restart after a crash does.
func (w *world) restart() {
	p, err := w.state.Partnership(context.Background(), w.user.GUID, "outlook")
	if err != nil {
		w.t.Fatal(err)
	}
	faults := w.outlook.Faults
	w.outlook = outlook.NewReplica(w.mb, "")
	w.outlook.Faults = faults
	old := w.crmSide
	w.crmSide = &engine.CRMReplica{CRM: old.CRM, User: old.User, Filter: p.Filter, Mode: p.Mode, SystemJournal: old.SystemJournal}
	w.eng = &engine.Engine{Partnership: p, State: w.state, CRM: w.crmSide, Remote: w.outlook, Journal: w.crmSide, Now: w.clock.Now, BatchSize: w.eng.BatchSize}
}
