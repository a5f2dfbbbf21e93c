package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/graph"
	"github.com/crmsync/crmsync/graph/sandbox"
	"github.com/crmsync/crmsync/internal/crmtest"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/outlook"
	"github.com/crmsync/crmsync/service"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"
)

func benchEnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkManyPartnershipsOneNode runs 1,000 partnerships (each user's
// own sandbox mailbox on loopback) of 300 contacts every user sees on one
// serve node's scheduler, and measures, per edit of one of those contacts,
// how long until each mailbox has it (p50, p99 over all partnerships and
// edits); the database connections in use (PostgreSQL: the server's own
// count); and the CPU of one idle poll per partnership (this process's
// user+system time, the in-process sandboxes included, over a round of
// cycles with nothing to do). CRMSYNC_BENCH_PARTNERSHIPS and
// CRMSYNC_BENCH_CONTACTS shrink it; CRMSYNC_BENCH_STORE=postgres runs it
// on CRMSYNC_TEST_POSTGRES instead of a SQLite file.
func BenchmarkManyPartnershipsOneNode(b *testing.B) {
	benchPartnerships(b, 1, os.Getenv("CRMSYNC_BENCH_STORE") == "postgres")
}

// BenchmarkManyPartnershipsThreeNodes is BenchmarkManyPartnershipsOneNode
// with the partnerships spread over three nodes (each its own scheduler
// and connection pool, in this process) on one PostgreSQL database.
func BenchmarkManyPartnershipsThreeNodes(b *testing.B) {
	benchPartnerships(b, 3, true)
}

func benchPartnerships(b *testing.B, nodes int, onPostgres bool) {
	n := benchEnvInt("CRMSYNC_BENCH_PARTNERSHIPS", 1000)
	contacts := benchEnvInt("CRMSYNC_BENCH_CONTACTS", 300)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	loc := dbLocation{Path: filepath.Join(b.TempDir(), "crm.db")}
	var pgBase string
	// The nodes' connections carry an application name of their own, so
	// the count of connections in use leaves out other clients of the
	// server.
	app := fmt.Sprintf("crmsync-bench-%d", os.Getpid())
	if onPostgres {
		u, err := url.Parse(testenv.Postgres(b))
		if err != nil {
			b.Fatal(err)
		}
		q := u.Query()
		q.Set("application_name", app)
		u.RawQuery = q.Encode()
		loc.Postgres = u.String()
		pgBase = os.Getenv("CRMSYNC_TEST_POSTGRES")
	}
	db, err := openDB(ctx, loc)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	svc := service.New(db, service.Options{PasswordCost: bcrypt.MinCost, Logger: testLogger()})
	sys := crmsync.System(ctx)
	if err := svc.SaveGroup(sys, "all", crmtest.AllRights()); err != nil {
		b.Fatal(err)
	}
	env := testEnv(os.Stderr)
	setup := time.Now()
	var owners []context.Context
	mailboxes := map[int64]*outlook.Mailbox{}
	for i := range n {
		u, err := svc.AddUser(sys, fmt.Sprintf("user%d", i), "pw", false)
		if err != nil {
			b.Fatal(err)
		}
		if err := svc.AddToGroup(sys, u.Name, "all"); err != nil {
			b.Fatal(err)
		}
		owners = append(owners, crmsync.WithUser(ctx, u))
		mb := outlook.NewMemory()
		_, addr, err := startSandbox(ctx, env, mb, "127.0.0.1:0", sandbox.Options{})
		if err != nil {
			b.Fatal(err)
		}
		p := &engine.Partnership{User: u.GUID, Kind: "outlook", Remote: remoteConfig{Sandbox: "http://" + addr, FolderID: mb.DefaultFolder()}.String(),
			Mode: "automatic", Policy: engine.PolicyNewest, State: "active"}
		if err := db.state.SavePartnership(ctx, p); err != nil {
			b.Fatal(err)
		}
		mailboxes[p.ID] = mb
	}
	var patches []crmsync.Patch
	for i := range contacts {
		patches = append(patches, crmsync.Patch{Set: map[string]string{crmsync.FieldFirstName: "Shared", crmsync.FieldLastName: fmt.Sprintf("Contact %d", i),
			crmsync.FieldEmail1: fmt.Sprintf("shared%d@example.com", i)}})
	}
	res, err := svc.Save(owners[0], crmsync.Contacts, patches, crmsync.SaveOptions{})
	if err != nil || res[0].Err != nil {
		b.Fatal(err, res)
	}
	edited := res[0].GUID

	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	var onRun func(id int64, run *engine.Run, err error)
	// waitFor installs fn as the run observer and waits until done says so.
	waitFor := func(fn func(id int64, run *engine.Run, err error), done func() bool) {
		mu.Lock()
		onRun = fn
		for !done() {
			cond.Wait()
		}
		onRun = nil
		mu.Unlock()
	}
	var ws []*workers
	var wg sync.WaitGroup
	var nodeDBs []*crmDB
	defer func() { // the workers and listeners stop before their pools close
		cancel()
		wg.Wait()
		for _, db := range nodeDBs {
			db.Close()
		}
	}()
	for k := range nodes {
		nodeDB, nodeSvc := db, svc
		if k > 0 {
			if nodeDB, err = openDB(ctx, loc); err != nil {
				b.Fatal(err)
			}
			nodeDBs = append(nodeDBs, nodeDB)
			nodeSvc = service.New(nodeDB, service.Options{PasswordCost: bcrypt.MinCost, Logger: testLogger()})
		}
		s := &Server{Env: env, CRM: nodeSvc, DB: nodeDB, DBLocation: loc, Node: fmt.Sprintf("node-%d", k), LeaseTTL: 30 * time.Second, PollInterval: time.Hour,
			Workers: 2 * runtime.GOMAXPROCS(0), Budgets: graph.NewBudgets(graph.Config{}), Requests: newRequestCounts(), Logger: testLogger()}
		w := newWorkers(s, &syncDeps{env: env, svc: nodeSvc, db: nodeDB, state: nodeDB.state, loc: loc, budgets: s.Budgets, requests: s.Requests})
		w.metrics.onRun = func(id int64, run *engine.Run, err error) { // called under metrics.mu
			mu.Lock()
			if onRun != nil {
				onRun(id, run, err)
			}
			mu.Unlock()
			cond.Broadcast()
		}
		ws = append(ws, w)
		background := []func(context.Context) error{w.sched.Run, func(ctx context.Context) error {
			for range nodeSvc.WatchChanges(ctx) {
				w.sched.WakeAll()
			}
			return nil
		}}
		if pg := nodeDB.pg; pg != nil {
			background = append(background, func(ctx context.Context) error { return pg.ListenChanges(ctx, nodeSvc.Notify) })
			// Every node is alive before the first pass, so each takes its share.
			if _, err := pg.SyncState().Heartbeat(ctx, s.Node, s.LeaseTTL); err != nil {
				b.Fatal(err)
			}
		}
		for _, fn := range background {
			wg.Add(1)
			go func() { defer wg.Done(); fn(ctx) }()
		}
	}

	firstSync := time.Now()
	synced := map[int64]bool{}
	var failures int
	mu.Lock()
	onRun = func(id int64, run *engine.Run, err error) {
		if err == nil && run.Outcome == "ok" {
			synced[id] = true
		} else {
			failures++
		}
	}
	mu.Unlock()
	for _, w := range ws {
		wg.Add(1)
		go func() { defer wg.Done(); w.passes(ctx) }()
	}
	waitFor(onRun, func() bool { return len(synced) == n })
	var spread []int
	for _, w := range ws {
		spread = append(spread, w.metrics.running())
	}
	b.Logf("%d partnerships × %d contacts on %d node(s) on %s: setup %v, first syncs %v (%d failed cycles retried), partnerships per node %v",
		n, contacts, nodes, map[bool]string{true: "PostgreSQL", false: "SQLite"}[loc.Postgres != ""],
		firstSync.Sub(setup).Round(time.Millisecond), time.Since(firstSync).Round(time.Millisecond), failures, spread)

	var connsMu sync.Mutex
	maxConns := 0
	stopSampling := func() {}
	if pgBase != "" {
		conn, err := pgx.Connect(ctx, pgBase)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close(context.Background())
		sctx, stop := context.WithCancel(ctx)
		sampled := make(chan struct{})
		stopSampling = func() { stop(); <-sampled }
		go func() {
			defer close(sampled)
			for sctx.Err() == nil {
				var c int
				if conn.QueryRow(sctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&c) == nil {
					connsMu.Lock()
					maxConns = max(maxConns, c)
					connsMu.Unlock()
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}

	var lags []time.Duration
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("Edited %d", i)
		arrived := map[int64]bool{}
		var t0 time.Time
		mu.Lock()
		onRun = func(id int64, run *engine.Run, err error) {
			if err == nil && run.Counts.UpdatedInRemote > 0 && !arrived[id] {
				arrived[id] = true
				lags = append(lags, run.Finished.Sub(t0))
			}
		}
		t0 = time.Now()
		mu.Unlock()
		res, err := svc.Save(owners[i%n], crmsync.Contacts, []crmsync.Patch{{GUID: edited, Set: map[string]string{crmsync.FieldLastName: name}}}, crmsync.SaveOptions{})
		if err != nil || res[0].Err != nil {
			b.Fatal(err, res)
		}
		waitFor(onRun, func() bool { return len(arrived) == n })
	}
	b.StopTimer()
	stopSampling()
	// Every mailbox has the last edit.
	want := fmt.Sprintf("Edited %d", b.N-1)
	for id, mb := range mailboxes {
		found := 0
		mb.List(mb.DefaultFolder(), func(c *outlook.Contact, _ string) bool {
			if c.Surname == want {
				found++
			}
			return true
		})
		if found != 1 {
			b.Fatalf("partnership %d's mailbox has %d contacts named %q, want 1", id, found, want)
		}
	}
	slices.Sort(lags)
	pct := func(p float64) time.Duration { return lags[min(len(lags)-1, int(float64(len(lags))*p))] }
	b.ReportMetric(pct(0.50).Seconds(), "p50-s")
	b.ReportMetric(pct(0.99).Seconds(), "p99-s")
	b.ReportMetric(lags[len(lags)-1].Seconds(), "max-s")
	if pgBase != "" {
		b.ReportMetric(float64(maxConns), "db-conns")
	}

	// One idle poll of every partnership: a wake-up with nothing changed.
	before := cpuTime()
	polled := map[int64]bool{}
	mu.Lock()
	onRun = func(id int64, run *engine.Run, err error) { polled[id] = true }
	mu.Unlock()
	for _, w := range ws {
		w.sched.WakeAll()
	}
	waitFor(onRun, func() bool { return len(polled) == n })
	b.ReportMetric(float64((cpuTime()-before).Microseconds())/float64(n), "cpu-µs/idle-poll")
}

// cpuTime is this process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
