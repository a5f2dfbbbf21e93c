package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/graph/sandbox"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/outlook"
	"github.com/crmsync/crmsync/postgres"
	"github.com/crmsync/crmsync/service"
	"golang.org/x/crypto/bcrypt"
)

// TestNodesShareLeases: two `serve` nodes on one PostgreSQL split six
// active partnerships evenly, each held by one node only; when one node
// stops, the other takes all of them over.
func TestNodesShareLeases(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pg := testenv.Postgres(t)
	env := &Env{Stdout: os.Stderr, Stderr: os.Stderr, Getenv: func(string) string { return "" }, Logger: testLogger()}
	_, addr, err := startSandbox(ctx, env, outlook.NewMemory(), "127.0.0.1:0", sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := service.New(db, service.Options{PasswordCost: bcrypt.MinCost})
	const partnerships = 6
	for i := range partnerships {
		u, err := svc.AddUser(crmsync.System(ctx), fmt.Sprintf("user%d", i), "pw", false)
		if err != nil {
			t.Fatal(err)
		}
		p := &engine.Partnership{User: u.GUID, Kind: "outlook", Remote: remoteConfig{Sandbox: "http://" + addr}.String(),
			Mode: "automatic", Policy: engine.PolicyNewest, State: "active", Synced: true}
		if err := db.SyncState().SavePartnership(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	node := func(name string) func() {
		_, _, stop := startStoppableServe(t, "--postgres", pg, "--db", dir+"/"+name+".db", "--node", name, "--lease", "1s")
		return stop
	}
	// held waits until the leases are spread as want says (node → count).
	held := func(want map[string]int) {
		t.Helper()
		var got map[string]int
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			_, leases, err := db.SyncState().Cluster(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got = map[string]int{}
			for _, l := range leases {
				if l.Expires.After(time.Now()) {
					got[l.Node]++
				}
			}
			if fmt.Sprint(got) == fmt.Sprint(want) {
				return
			}
		}
		t.Fatalf("leases held %v, want %v", got, want)
	}
	stopA := node("node-a")
	held(map[string]int{"node-a": partnerships})
	node("node-b")
	held(map[string]int{"node-a": partnerships / 2, "node-b": partnerships / 2})
	status := mustRun(t, "nodes", "--postgres", pg)
	t.Logf("crmsync nodes:\n%s", status)
	for _, want := range []string{"node-a", "node-b", "user0", "user5", "(token "} {
		if !strings.Contains(status, want) {
			t.Errorf("crmsync nodes lacks %q:\n%s", want, status)
		}
	}
	stopA()
	held(map[string]int{"node-b": partnerships})
}
