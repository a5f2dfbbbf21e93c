package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/service"
	"github.com/jackc/pgx/v5"
)

// TestStaleWritesCounted: the after-the-fact check of fencing counts a
// state write under a lease token older than a take-over, whether it lands
// before or after the new holder's first write, and counts neither the
// holders' own writes nor a write the fence refused. The stale writes here
// bypass the fence on purpose, as a broken fence would let them through.
func TestStaleWritesCounted(t *testing.T) {
	ctx := context.Background()
	state, p := newPartnership(t)
	stale := func(want int64) {
		t.Helper()
		if got, err := state.StaleWrites(ctx); err != nil || got != want {
			t.Fatalf("StaleWrites = %d, %v; want %d", got, err, want)
		}
	}
	unfencedWrite := func(token int64) {
		t.Helper()
		err := state.db.Update(ctx, func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			queueStaleWriteRecord(b, p.ID, token)
			return tx.SendBatch(ctx, b).Close()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	run := func(s *SyncState) error {
		return s.SaveRun(ctx, &engine.Run{Partnership: p.ID, Started: time.Now(), Finished: time.Now(), Outcome: "ok"})
	}

	const ttl = 200 * time.Millisecond
	la, ok, err := state.AcquireLease(ctx, p.ID, "node-a", ttl)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := run(state.Fenced(la)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := state.AcquireLease(ctx, p.ID, "node-a", ttl); err != nil { // a renewal keeps the token
		t.Fatal(err)
	}
	stale(0)
	time.Sleep(ttl + 50*time.Millisecond)
	lb, ok, err := state.AcquireLease(ctx, p.ID, "node-b", time.Minute)
	if err != nil || !ok || lb.Token != la.Token+1 {
		t.Fatalf("take-over: %+v %v %v", lb, ok, err)
	}
	if err := run(state.Fenced(la)); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("A's write after the take-over: %v, want ErrLeaseLost", err)
	}
	stale(0)
	unfencedWrite(la.Token) // after the take-over, before B wrote
	stale(1)
	if err := run(state.Fenced(lb)); err != nil {
		t.Fatal(err)
	}
	stale(1)
	unfencedWrite(la.Token) // after B wrote
	stale(2)
	unfencedWrite(lb.Token)
	stale(2)
}

// TestStalledWriterDoesNotBlockTakeOver: a node stalled inside a fenced
// write (its transaction idle, holding the lease row) loses the
// transaction after fencedIdleLimit, so another node's take-over goes
// ahead instead of waiting for it to resume, and the stalled write is not
// committed.
func TestStalledWriterDoesNotBlockTakeOver(t *testing.T) {
	ctx := context.Background()
	state, p := newPartnership(t)
	const ttl = 200 * time.Millisecond
	la, ok, err := state.AcquireLease(ctx, p.ID, "node-a", ttl)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	entered, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- state.Fenced(la).write(ctx, p.ID, func(tx pgx.Tx) error {
			close(entered)
			<-release // A stalls here, past its lease
			_, err := tx.Exec(ctx, `UPDATE partnerships SET cursor_crm = 'stalled' WHERE id = $1`, p.ID)
			return err
		})
	}()
	defer close(release)
	<-entered
	time.Sleep(ttl)
	bounded, cancel := context.WithTimeout(ctx, 10*fencedIdleLimit)
	defer cancel()
	if _, ok, err := state.AcquireLease(bounded, p.ID, "node-b", time.Minute); err != nil || !ok {
		t.Fatalf("node B taking the lease over while A stalls in a write: ok %v, %v", ok, err)
	}
	release <- struct{}{}
	if err := <-done; err == nil {
		t.Error("A's stalled write committed after B took the lease over")
	}
	if got, err := state.Partnership(ctx, "u1", "outlook"); err != nil || got.CursorCRM == "stalled" {
		t.Errorf("after the stalled write: %+v, %v", got, err)
	}
}

// TestStalledCRMWriterDoesNotBlockOtherNodes: a node stopped inside a CRM
// write holds the write lock of every node; the server ends its
// transaction after crmWriteIdleLimit, another node's write goes ahead,
// and the stalled write fails without committing.
func TestStalledCRMWriterDoesNotBlockOtherNodes(t *testing.T) {
	defer func(limit time.Duration) { crmWriteIdleLimit = limit }(crmWriteIdleLimit)
	crmWriteIdleLimit = 300 * time.Millisecond
	ctx := context.Background()
	url := testenv.Postgres(t)
	var nodes [2]*DB
	for i := range nodes {
		db, err := Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		nodes[i] = db
	}
	entered, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- nodes[0].Write(ctx, func(tx service.Tx) error {
			close(entered)
			<-release // node A stalls here holding the write lock
			_, err := tx.(*crmTx).tx.Exec(ctx, `CREATE TABLE stalled_write (x int)`)
			return err
		})
	}()
	defer close(release)
	<-entered
	bounded, cancel := context.WithTimeout(ctx, 20*crmWriteIdleLimit)
	defer cancel()
	if err := nodes[1].Write(bounded, func(service.Tx) error { return nil }); err != nil {
		t.Fatalf("node B's CRM write while A stalls in one: %v", err)
	}
	release <- struct{}{}
	if err := <-done; err == nil {
		t.Error("A's stalled CRM write committed")
	}
	var exists bool
	if err := nodes[1].pool.QueryRow(ctx, `SELECT to_regclass('stalled_write') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Errorf("the stalled write's table exists: %v %v", exists, err)
	}
}

// newPartnership opens a new database and adds one partnership of user
// u1 to it; the database closes when the test ends.
func newPartnership(t *testing.T) (*SyncState, *engine.Partnership) {
	t.Helper()
	db, err := Open(context.Background(), testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	state := db.SyncState()
	p := &engine.Partnership{User: "u1", Kind: "outlook", Mode: "automatic", Policy: engine.PolicyNewest, State: "active"}
	if err := state.SavePartnership(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return state, p
}
