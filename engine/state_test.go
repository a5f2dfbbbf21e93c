package engine_test

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/postgres"
	"github.com/crmsync/crmsync/sqlite"
	"pgregory.net/rapid"
)

// TestStateCommitsMatchModel commits random pairs, removals and settled
// creates to the SQLite and the PostgreSQL state stores and checks both
// against a model of the contract: a saved pair replaces every pair that
// holds either of its ids (earlier pairs of the same commit too), a CRM
// id's e-mail addresses are those of its last saved pair, a removal drops
// the pair and its addresses, and a settled create is no longer pending.
// Small id pools make commits collide on both keys.
func TestStateCommitsMatchModel(t *testing.T) {
	stores := map[string]func(t *testing.T) engine.StateStore{
		"sqlite": func(t *testing.T) engine.StateStore {
			db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "crm.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db.SyncState()
		},
		"postgres": func(t *testing.T) engine.StateStore {
			db, err := postgres.Open(context.Background(), testenv.Postgres(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db.SyncState()
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			state := open(t)
			users := 0
			rapid.Check(t, func(rt *rapid.T) { checkStateCommits(rt, state, &users) })
		})
	}
}

func checkStateCommits(rt *rapid.T, state engine.StateStore, users *int) {
	ctx := context.Background()
	*users++ // a partnership of its own for each case, on one database
	p := &engine.Partnership{User: fmt.Sprintf("u%d", *users), Kind: "outlook", Mode: "automatic", Policy: engine.PolicyNewest, State: "active"}
	if err := state.SavePartnership(ctx, p); err != nil {
		rt.Fatal(err)
	}
	id := func(prefix string) *rapid.Generator[string] {
		return rapid.Custom(func(t *rapid.T) string { return fmt.Sprintf("%s%d", prefix, rapid.IntRange(0, 4).Draw(t, prefix)) })
	}
	emailGen := rapid.SampledFrom([]string{"", "a@x.cz", "B@x.cz ", "b@x.cz", "c@x.cz"})
	pairs := map[string]engine.Pair{} // the model, by CRM id
	emails := map[string][]string{}   // CRM id -> its addresses
	pending := map[[2]string]bool{}   // {side, CRM GUID}
	for step := range rapid.IntRange(1, 6).Draw(rt, "commits") {
		var add []engine.Pending
		for range rapid.IntRange(0, 3).Draw(rt, "pending") {
			pe := engine.Pending{Side: rapid.SampledFrom([]engine.Side{engine.CRMSide, engine.RemoteSide}).Draw(rt, "side"), CRMGUID: id("c").Draw(rt, "guid"), Base: map[string]string{}}
			add = append(add, pe)
			pending[[2]string{string(pe.Side), pe.CRMGUID}] = true
		}
		if err := state.AddPending(ctx, p.ID, add); err != nil {
			rt.Fatal(err)
		}
		var c engine.Commit
		for range rapid.IntRange(0, 6).Draw(rt, "saves") {
			pr := engine.Pair{CRMID: id("c").Draw(rt, "crm"), RemoteID: id("r").Draw(rt, "remote"),
				CRMVersion: fmt.Sprint(step), RemoteVersion: rapid.SampledFrom([]string{"", "v"}).Draw(rt, "remote version"),
				Base: map[string]string{crm.FieldEmail1: emailGen.Draw(rt, "email1"), crm.FieldEmail2: emailGen.Draw(rt, "email2")}}
			c.Save = append(c.Save, pr)
			for k, old := range pairs {
				if old.CRMID == pr.CRMID || old.RemoteID == pr.RemoteID {
					delete(pairs, k)
				}
			}
			pairs[pr.CRMID] = pr
			emails[pr.CRMID] = nil
			for _, e := range []string{pr.Base[crm.FieldEmail1], pr.Base[crm.FieldEmail2]} {
				if e = strings.ToLower(strings.TrimSpace(e)); e != "" && !slices.Contains(emails[pr.CRMID], e) {
					emails[pr.CRMID] = append(emails[pr.CRMID], e)
				}
			}
		}
		for range rapid.IntRange(0, 2).Draw(rt, "removals") {
			gone := id("c").Draw(rt, "removed")
			c.RemoveCRM = append(c.RemoveCRM, gone)
			delete(pairs, gone)
			delete(emails, gone)
		}
		for key := range pending {
			if rapid.Bool().Draw(rt, "settle") {
				c.Settled = append(c.Settled, engine.Pending{Side: engine.Side(key[0]), CRMGUID: key[1]})
				delete(pending, key)
			}
		}
		if err := state.Commit(ctx, p.ID, c); err != nil {
			rt.Fatalf("commit %d: %v", step, err)
		}
	}

	got, err := state.AllPairs(ctx, p.ID)
	if err != nil {
		rt.Fatal(err)
	}
	gotByCRM := map[string]engine.Pair{}
	for _, pr := range got {
		gotByCRM[pr.CRMID] = pr
	}
	if len(got) != len(pairs) {
		rt.Fatalf("%d pairs stored, want %d: %v, want %v", len(got), len(pairs), got, pairs)
	}
	for k, want := range pairs {
		g, ok := gotByCRM[k]
		if !ok || g.RemoteID != want.RemoteID || g.CRMVersion != want.CRMVersion || g.RemoteVersion != want.RemoteVersion || !maps.Equal(g.Base, want.Base) {
			rt.Fatalf("pair of %s: %+v, want %+v", k, g, want)
		}
	}
	// An address held by one CRM id maps to it; an address nobody holds
	// is absent. (One held by several maps to one of them.)
	holders := map[string][]string{}
	for crmID, es := range emails {
		for _, e := range es {
			holders[e] = append(holders[e], crmID)
		}
	}
	all := []string{"a@x.cz", "b@x.cz", "c@x.cz"}
	byEmail, err := state.CRMIDsByEmail(ctx, p.ID, all)
	if err != nil {
		rt.Fatal(err)
	}
	for _, e := range all {
		got, ok := byEmail[e]
		switch hs := holders[e]; {
		case len(hs) == 0 && ok:
			rt.Fatalf("%s maps to %s, but no pair holds it", e, got)
		case len(hs) > 0 && !slices.Contains(hs, got):
			rt.Fatalf("%s maps to %q, want one of %v", e, got, hs)
		}
	}
	ops, err := state.PendingOps(ctx, p.ID)
	if err != nil {
		rt.Fatal(err)
	}
	left := map[[2]string]bool{}
	for _, op := range ops {
		left[[2]string{string(op.Side), op.CRMGUID}] = true
	}
	if !maps.Equal(left, pending) {
		rt.Fatalf("pending %v, want %v", left, pending)
	}
}
