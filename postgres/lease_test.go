package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/postgres"
	"github.com/crmsync/crmsync/service"
	"golang.org/x/crypto/bcrypt"
)

// TestLeaseFencesStaleNode: node A holds a partnership's lease and is
// paused past it; node B takes it over. A's state writes are then refused
// and change nothing, B's are accepted, and A cannot take the lease back
// while B renews it.
func TestLeaseFencesStaleNode(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	state := db.SyncState()
	p := &engine.Partnership{User: "u1", Kind: "outlook", Mode: "automatic", Policy: engine.PolicyNewest, State: "active"}
	if err := state.SavePartnership(ctx, p); err != nil {
		t.Fatal(err)
	}
	const ttl = 300 * time.Millisecond
	la, ok, err := state.AcquireLease(ctx, p.ID, "node-a", ttl)
	if err != nil || !ok {
		t.Fatalf("A takes a free lease: %v %v", ok, err)
	}
	if _, ok, err := state.AcquireLease(ctx, p.ID, "node-b", ttl); err != nil || ok {
		t.Fatalf("B took a lease A holds: %v %v", ok, err)
	}
	renewed, ok, err := state.AcquireLease(ctx, p.ID, "node-a", ttl)
	if err != nil || !ok || renewed.Token != la.Token {
		t.Fatalf("A renews: %+v %v %v, want token %d", renewed, ok, err, la.Token)
	}
	a := state.Fenced(la)
	pair := func(id string) engine.Commit {
		return engine.Commit{Save: []engine.Pair{{CRMID: id, RemoteID: "r-" + id, CRMVersion: "1", RemoteVersion: "1", Base: map[string]string{}}},
			Cursors: &engine.Cursors{CRM: id, Remote: id}}
	}
	if err := a.Commit(ctx, p.ID, pair("by-a")); err != nil {
		t.Fatalf("A's commit under its lease: %v", err)
	}

	time.Sleep(ttl + 100*time.Millisecond) // A is paused past its lease
	lb, ok, err := state.AcquireLease(ctx, p.ID, "node-b", ttl*10)
	if err != nil || !ok || lb.Token != la.Token+1 {
		t.Fatalf("B takes over the expired lease: %+v %v %v, want token %d", lb, ok, err, la.Token+1)
	}
	b := state.Fenced(lb)

	// A resumes and tries every kind of state write.
	stale := []error{
		a.Commit(ctx, p.ID, pair("stale")),
		a.AddPending(ctx, p.ID, []engine.Pending{{Side: engine.RemoteSide, CRMGUID: "stale"}}),
		a.SaveRun(ctx, &engine.Run{Partnership: p.ID, Outcome: "ok", Started: time.Now(), Finished: time.Now()}),
		a.SavePartnership(ctx, &engine.Partnership{ID: p.ID, Mode: "automatic", Policy: engine.PolicyNewest, State: "active", CursorCRM: "stale"}),
	}
	for i, err := range stale {
		if !errors.Is(err, postgres.ErrLeaseLost) {
			t.Errorf("stale write %d by A: %v, want ErrLeaseLost", i, err)
		}
	}
	if got := a.Rejected(); got != int64(len(stale)) {
		t.Errorf("A counted %d rejected writes, want %d", got, len(stale))
	}
	if err := b.Commit(ctx, p.ID, pair("by-b")); err != nil {
		t.Fatalf("B's commit under its lease: %v", err)
	}
	pairs, err := state.AllPairs(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, pr := range pairs {
		got[pr.CRMID] = true
	}
	if len(got) != 2 || !got["by-a"] || !got["by-b"] {
		t.Errorf("pairs %v, want by-a and by-b only", got)
	}
	if ops, _ := state.PendingOps(ctx, p.ID); len(ops) != 0 {
		t.Errorf("A's stale pending write landed: %v", ops)
	}
	if runs, _ := state.Runs(ctx, p.ID, 10); len(runs) != 0 {
		t.Errorf("A's stale run landed: %v", runs)
	}
	cur, err := state.Partnership(ctx, "u1", "outlook")
	if err != nil || cur.CursorCRM != "by-b" {
		t.Errorf("cursor %q (%v), want B's", cur.CursorCRM, err)
	}
	if _, ok, _ := state.AcquireLease(ctx, p.ID, "node-a", ttl); ok {
		t.Error("A took back the lease B holds")
	}
	// A release lets the other node in at once, with a new token.
	if err := state.ReleaseLease(ctx, p.ID, "node-b"); err != nil {
		t.Fatal(err)
	}
	la2, ok, err := state.AcquireLease(ctx, p.ID, "node-a", ttl)
	if err != nil || !ok || la2.Token != lb.Token+1 {
		t.Fatalf("A takes the released lease: %+v %v %v, want token %d", la2, ok, err, lb.Token+1)
	}
	if err := b.Commit(ctx, p.ID, pair("late-b")); !errors.Is(err, postgres.ErrLeaseLost) {
		t.Errorf("B's write after it released the lease: %v", err)
	}
	// A fenced store writes only its own partnership.
	if err := state.Fenced(la2).Commit(ctx, p.ID+1, pair("other")); !errors.Is(err, postgres.ErrLeaseLost) {
		t.Errorf("A writing another partnership: %v", err)
	}
}

// TestChangesReachOtherNodes: a CRM write through one node's store wakes
// a listener on another node's (LISTEN/NOTIFY) with the new change id;
// a write that logs no change notifies nothing.
func TestChangesReachOtherNodes(t *testing.T) {
	url := testenv.Postgres(t)
	a, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // first: the listener gives its connection back before b closes
	got := make(chan int64, 10)
	go b.ListenChanges(ctx, func(id int64) { got <- id })
	svc := service.New(a, service.Options{PasswordCost: bcrypt.MinCost})
	sys := crmsync.System(ctx)
	// The listener may not be listening yet: write until it hears one.
	var want int64
	for deadline := time.Now().Add(10 * time.Second); ; {
		res, err := svc.Save(sys, crmsync.Contacts, []crmsync.Patch{{Set: map[string]string{"LastName": "Novák"}}}, crmsync.SaveOptions{})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
		if want, err = svc.LastChangeID(sys); err != nil {
			t.Fatal(err)
		}
		select {
		case id := <-got:
			for len(got) > 0 {
				id = <-got
			}
			if id > want {
				t.Fatalf("notified of change %d, the last is %d", id, want)
			}
			if id == want {
				goto heard
			}
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no notification reached the other node")
		}
	}
heard:
	if err := svc.SetGlobalSetting(sys, crmsync.SettingDuplicityCheck, "true"); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-got:
		t.Errorf("a write without a change notified %d", id)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestRenewLeases: one statement renews every lease a node still holds,
// with their tokens, and leaves alone the leases of other nodes and those
// that expired (another node may have taken them).
func TestRenewLeases(t *testing.T) {
	ctx := context.Background()
	state := MustOpen(t).SyncState()
	var ids []int64
	for i := range 3 {
		p := &engine.Partnership{User: fmt.Sprintf("u%d", i), Kind: "outlook", Mode: "automatic", Policy: engine.PolicyNewest, State: "active"}
		if err := state.SavePartnership(ctx, p); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	take := func(id int64, node string, ttl time.Duration) postgres.Lease {
		t.Helper()
		l, ok, err := state.AcquireLease(ctx, id, node, ttl)
		if err != nil || !ok {
			t.Fatalf("%s takes partnership %d: %v %v", node, id, ok, err)
		}
		return l
	}
	a0 := take(ids[0], "node-a", time.Minute)
	take(ids[1], "node-a", 200*time.Millisecond)
	take(ids[2], "node-b", time.Minute)
	time.Sleep(300 * time.Millisecond) // A's lease of ids[1] lapses
	b1 := take(ids[1], "node-b", time.Minute)

	held, err := state.RenewLeases(ctx, "node-a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[int64]int64{ids[0]: a0.Token}; !maps.Equal(held, want) {
		t.Errorf("A renewed %v, want %v", held, want)
	}
	held, err = state.RenewLeases(ctx, "node-b", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 2 || held[ids[1]] != b1.Token || held[ids[2]] == 0 {
		t.Errorf("B renewed %v, want partnerships %d (token %d) and %d", held, ids[1], b1.Token, ids[2])
	}
	if _, ok, _ := state.AcquireLease(ctx, ids[0], "node-b", time.Minute); ok {
		t.Error("B took the lease A renewed")
	}
}
