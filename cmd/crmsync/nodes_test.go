package main

import (
	"context"
	"fmt"
	"net/http"
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
// stops, the other takes all of them over. `crmsync nodes` and /metrics
// (administrators only) say so.
func TestNodesShareLeases(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pg := testenv.Postgres(t)
	env := testEnv(os.Stderr)
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
	if _, err := svc.AddUser(crmsync.System(ctx), "boss", "boss-pw", true); err != nil {
		t.Fatal(err)
	}
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
	node := func(name string) (string, func()) {
		base, _, stop := startStoppableServe(t, "--postgres", pg, "--db", dir+"/"+name+".db", "--node", name, "--lease", "1s")
		return base, stop
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
	_, stopA := node("node-a")
	held(map[string]int{"node-a": partnerships})
	baseB, _ := node("node-b")
	held(map[string]int{"node-a": partnerships / 2, "node-b": partnerships / 2})
	if code, _ := scrapeMetrics(t, baseB, "user0", "pw"); code != http.StatusUnauthorized {
		t.Errorf("/metrics for a user who is no administrator: %d", code)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, m := scrapeMetrics(t, baseB, "boss", "boss-pw")
		if code == http.StatusOK && strings.Contains(m, "crmsync_partnerships_running 3\n") && strings.Contains(m, "crmsync_lease_takeovers_total 3\n") &&
			strings.Contains(m, `crmsync_remote_requests_total{remote="graph",status="200"} `) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics of node-b: %d\n%s", code, m)
		}
	}
	status := mustRun(t, "nodes", "--postgres", pg)
	t.Logf("crmsync nodes:\n%s", status)
	for _, want := range []string{"node-a", "node-b", "user0", "user5", "(token ", "lost the lease: 0\n"} {
		if !strings.Contains(status, want) {
			t.Errorf("crmsync nodes lacks %q:\n%s", want, status)
		}
	}
	stopA()
	held(map[string]int{"node-b": partnerships})
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, m := scrapeMetrics(t, baseB, "boss", "boss-pw")
		if strings.Contains(m, "crmsync_lease_takeovers_total 6\n") && strings.Contains(m, "crmsync_partnerships_running 6\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics of node-b after node-a stopped:\n%s", m)
		}
	}
}
