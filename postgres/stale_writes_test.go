package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/jackc/pgx/v5"
)

// TestStaleWritesCounted: the after-the-fact check of fencing counts a
// state write under a lease token older than a take-over, whether it lands
// before or after the new holder's first write, and counts neither the
// holders' own writes nor a write the fence refused. The stale writes here
// bypass the fence on purpose, as a broken fence would let them through.
func TestStaleWritesCounted(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	state := db.SyncState()
	p := &engine.Partnership{User: "u1", Kind: "outlook", Mode: "automatic", Policy: engine.PolicyNewest, State: "active"}
	if err := state.SavePartnership(ctx, p); err != nil {
		t.Fatal(err)
	}
	stale := func(want int64) {
		t.Helper()
		if got, err := state.StaleWrites(ctx); err != nil || got != want {
			t.Fatalf("StaleWrites = %d, %v; want %d", got, err, want)
		}
	}
	unfencedWrite := func(token int64) {
		t.Helper()
		err := db.Update(ctx, func(tx pgx.Tx) error {
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
