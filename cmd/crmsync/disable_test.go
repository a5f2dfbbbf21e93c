package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/graph/sandbox"
	"github.com/crmsync/crmsync/outlook"
	"github.com/crmsync/crmsync/service"
)

// serve's sync workers leave the partnerships of disabled users alone,
// saying so once, stop a running one when its user is disabled, and start
// it again when the user is enabled.
func TestSyncWorkersSkipDisabledUsers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	loc := dbLocation{Path: filepath.Join(t.TempDir(), "crm.db")}
	db, err := openDB(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := service.New(db, service.Options{PasswordCost: 4, Logger: testLogger()})
	sys := crmsync.System(ctx)
	logs := &syncBuffer{}
	env := testEnv(io.Discard)
	mb := outlook.NewMemory()
	_, addr, err := startSandbox(ctx, env, mb, "127.0.0.1:0", sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, name := range []string{"alice", "carol"} {
		u, err := svc.AddUser(sys, name, "pw", false)
		if err != nil {
			t.Fatal(err)
		}
		p := &engine.Partnership{User: u.GUID, Kind: "outlook", Remote: remoteConfig{Sandbox: "http://" + addr, FolderID: mb.DefaultFolder()}.String(),
			Mode: "automatic", Policy: engine.PolicyNewest, State: "active"}
		if err := db.state.SavePartnership(ctx, p); err != nil {
			t.Fatal(err)
		}
		ids[name] = p.ID
	}
	setDisabled := func(name string, disabled bool) {
		t.Helper()
		if err := svc.SetDisabled(sys, name, disabled); err != nil {
			t.Fatal(err)
		}
	}
	setDisabled("carol", true)

	s := &Server{Env: env, CRM: svc, DB: db, DBLocation: loc, Node: "test", PollInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}
	w := newWorkers(s, &syncDeps{env: env, svc: svc, db: db, state: db.state, loc: loc})
	defer w.stopAll()
	running := func(want ...string) {
		t.Helper()
		w.pass(ctx)
		var got []string
		for name, id := range ids {
			if w.running[id] != nil && w.sched.Has(id) {
				got = append(got, name)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("workers run for %v, want %v", got, want)
		}
	}
	skips := func(name string) int {
		return strings.Count(logs.String(), `msg="sync skipped: the user is disabled" user=`+name)
	}

	running("alice")
	running("alice")
	if n := skips("carol"); n != 1 {
		t.Errorf("carol's skipped partnership was logged %d times, want once:\n%s", n, logs.String())
	}
	setDisabled("alice", true)
	running()
	if skips("alice") != 1 {
		t.Errorf("alice's stopped partnership was not logged:\n%s", logs.String())
	}
	setDisabled("carol", false)
	running("carol")
}
