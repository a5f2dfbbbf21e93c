package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/graph/sandbox"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/outlook"
)

// TestMetricsCountRequests sends requests to a Graph and a CardDAV
// stand-in through the counting clients (answered 200 and 404, and one to
// a closed port) and checks the counts by remote and status, with the
// statuses reported from inside a $batch in a series of their own.
func TestMetricsCountRequests(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
		}
	}))
	defer hs.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	counts := newRequestCounts()
	graphClient := counts.client("graph", nil)
	davClient := counts.client("carddav", &http.Client{Timeout: 5 * time.Second})
	for _, get := range []struct {
		c   *http.Client
		url string
	}{{graphClient, hs.URL + "/ok"}, {graphClient, hs.URL + "/ok"}, {graphClient, hs.URL + "/missing"}, {davClient, hs.URL + "/ok"}, {davClient, closed.URL}} {
		resp, err := get.c.Get(get.url)
		if err == nil {
			resp.Body.Close()
		}
	}
	if davClient.Timeout != 5*time.Second {
		t.Errorf("the counting client lost its timeout")
	}
	inner := counts.batchedStatus("graph")
	for _, status := range []int{201, 429, 201, 424} {
		inner(status)
	}
	var out strings.Builder
	newSyncMetrics(counts).write(&out, time.Now())
	for _, want := range []string{
		`crmsync_remote_requests_total{remote="carddav",status="200"} 1` + "\n",
		`crmsync_remote_requests_total{remote="carddav",status="error"} 1` + "\n",
		`crmsync_remote_requests_total{remote="graph",status="200"} 2` + "\n",
		`crmsync_remote_requests_total{remote="graph",status="404"} 1` + "\n",
		`crmsync_remote_batched_requests_total{remote="graph",status="201"} 2` + "\n",
		`crmsync_remote_batched_requests_total{remote="graph",status="424"} 1` + "\n",
		`crmsync_remote_batched_requests_total{remote="graph",status="429"} 1` + "\n",
		"# TYPE crmsync_remote_batched_requests_total counter\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, out.String())
		}
	}
	if (*requestCounts)(nil).batchedStatus("graph") != nil {
		t.Error("nil counts gave a batch observer")
	}
}

// TestMetricsLagIsTheOldestUnsyncedChange drives the lag with explicit
// times: a partnership counts as waiting from when the node took it until
// a good cycle; a CRM change waits until a cycle that started after it
// succeeds (one that arrived while a cycle ran still waits after it); a
// failed or partial cycle leaves the lag growing; an idle one stays at 0.
func TestMetricsLagIsTheOldestUnsyncedChange(t *testing.T) {
	m := newSyncMetrics(nil)
	t0 := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	cycle := func(id int64, start, end int, outcome string) {
		m.starting(id, at(start))
		if outcome == "error" {
			m.observe(id, nil, errors.New("remote down"))
			return
		}
		m.observe(id, &engine.Run{Outcome: outcome, Started: at(start), Finished: at(end)}, nil)
	}
	lags := func(now int) map[string]string {
		var out strings.Builder
		m.write(&out, at(now))
		got := map[string]string{}
		for _, l := range regexp.MustCompile(`(?m)^crmsync_(?:partnership_)?(sync_lag_seconds|last_success_timestamp_seconds)(?:\{partnership="(\d+)"\})? (\S+)$`).FindAllStringSubmatch(out.String(), -1) {
			got[l[1]+l[2]] = l[3]
		}
		return got
	}
	check := func(now int, want map[string]string) {
		t.Helper()
		if got := lags(now); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("at +%ds: %v, want %v", now, got, want)
		}
	}
	m.took(1, at(0))
	m.took(2, at(0))
	check(1, map[string]string{"sync_lag_seconds": "1.000", "sync_lag_seconds1": "1.000", "sync_lag_seconds2": "1.000"})
	cycle(1, 1, 2, "ok")
	cycle(2, 1, 2, "error")
	m.took(1, at(3)) // taken again: nothing changes
	ok1 := strconv.FormatInt(at(2).Unix(), 10) + ".000"
	check(3, map[string]string{"sync_lag_seconds": "3.000", "sync_lag_seconds1": "0.000", "sync_lag_seconds2": "3.000", "last_success_timestamp_seconds1": ok1})
	check(100, map[string]string{"sync_lag_seconds": "100.000", "sync_lag_seconds1": "0.000", "sync_lag_seconds2": "100.000", "last_success_timestamp_seconds1": ok1})

	m.changed(at(100))
	m.starting(1, at(101))
	m.changed(at(102)) // after the cycle started: it may not have seen it
	m.changed(at(103))
	m.observe(1, &engine.Run{Outcome: "ok", Finished: at(104)}, nil)
	ok1 = strconv.FormatInt(at(104).Unix(), 10) + ".000"
	check(110, map[string]string{"sync_lag_seconds": "110.000", "sync_lag_seconds1": "8.000", "sync_lag_seconds2": "110.000", "last_success_timestamp_seconds1": ok1})
	cycle(1, 111, 112, "partial") // contacts left to retry: still waiting
	cycle(2, 111, 112, "ok")
	ok2 := strconv.FormatInt(at(112).Unix(), 10) + ".000"
	check(120, map[string]string{"sync_lag_seconds": "18.000", "sync_lag_seconds1": "18.000", "sync_lag_seconds2": "0.000", "last_success_timestamp_seconds1": ok1, "last_success_timestamp_seconds2": ok2})
	cycle(1, 121, 122, "ok")
	check(500, map[string]string{"sync_lag_seconds": "0.000", "sync_lag_seconds1": "0.000", "sync_lag_seconds2": "0.000", "last_success_timestamp_seconds1": strconv.FormatInt(at(122).Unix(), 10) + ".000", "last_success_timestamp_seconds2": ok2})
	m.forget(1)
	m.forget(2)
	check(501, map[string]string{"sync_lag_seconds": "0.000"})
}

// BenchmarkMetricsChanged is the cost of recording one CRM change on a
// node running 1,000 partnerships (a pass over them).
func BenchmarkMetricsChanged(b *testing.B) {
	m := newSyncMetrics(nil)
	now := time.Now()
	for id := range int64(1000) {
		m.took(id, now)
	}
	for b.Loop() {
		m.changed(now)
	}
}

// TestMetricsLagInServe runs `crmsync serve` with one partnership on a
// sandbox mailbox and reads its /metrics: 0 lag when idle; a contact saved
// through serve's API while every request to the mailbox fails shows a
// lag that grows with the failed cycles and is the age of that save; once
// the mailbox answers again a good cycle takes it back to 0.
func TestMetricsLagInServe(t *testing.T) {
	testMetricsLag(t, dbLocation{Path: filepath.Join(t.TempDir(), "crm.db")}, func(w *metricsWorld, base string) {
		session := login(t, base, "alice", "pw")
		if saved := api(t, base, "SaveContact", map[string]any{"sessionId": session,
			"transmitObject": map[string]any{"FirstName": "Waiting", "LastName": "Contact", "Email1Address": "waiting@example.com"}}); saved.ReturnCode != "rcSuccess" {
			t.Fatalf("SaveContact: %+v", saved)
		}
	})
}

// TestMetricsLagOnPostgres is TestMetricsLagInServe on PostgreSQL with the
// contact saved by another node's service: the lag learns of it through
// LISTEN/NOTIFY.
func TestMetricsLagOnPostgres(t *testing.T) {
	testMetricsLag(t, dbLocation{Path: filepath.Join(t.TempDir(), "crm.db"), Postgres: testenv.Postgres(t)}, func(w *metricsWorld, base string) {
		d, err := openSync(context.Background(), w.env, w.loc)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		sys := crmsync.System(context.Background())
		alice, err := d.svc.UserByName(sys, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.svc.Save(crmsync.WithUser(sys, alice), crmsync.Contacts, []crmsync.Patch{{Set: map[string]string{crmsync.FieldLastName: "Waiting"}}}, crmsync.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

// testMetricsLag checks the lag around a contact that save adds to the
// CRM of loc while the mailbox refuses every request.
func testMetricsLag(t *testing.T, loc dbLocation, save func(w *metricsWorld, base string)) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var down atomic.Bool
	w := newMetricsWorld(t, ctx, loc, func(outlook.Call) *outlook.Fault {
		if down.Load() {
			return &outlook.Fault{Kind: outlook.FaultServerError, Status: http.StatusForbidden} // fails the cycle at once, no retries
		}
		return nil
	})
	mustRun(t, append([]string{"user", "add", "boss", "--password", "boss-pw", "--admin"}, w.dbArgs()...)...)
	p, mb := w.p, w.mb

	base, _ := startServe(t, append([]string{"--poll-interval", "1h"}, w.dbArgs()...)...)
	series := regexp.MustCompile(`(?m)^(crmsync_sync_lag_seconds|crmsync_sync_errors_total|crmsync_sync_runs_total\{outcome="ok"\}|crmsync_partnership_sync_lag_seconds\{partnership="` + strconv.FormatInt(p.ID, 10) + `"\}) (\S+)$`)
	type scrape struct {
		lag, partnershipLag float64
		errors, ok          int
		at                  time.Time // when the scrape was asked for
	}
	read := func() scrape {
		t.Helper()
		s := scrape{at: time.Now()}
		status, body := scrapeMetrics(t, base, "boss", "boss-pw")
		found := 0
		for _, m := range series.FindAllStringSubmatch(body, -1) {
			v, _ := strconv.ParseFloat(m[2], 64)
			found++
			switch {
			case m[1] == "crmsync_sync_lag_seconds":
				s.lag = v
			case m[1] == "crmsync_sync_errors_total":
				s.errors = int(v)
			case strings.HasPrefix(m[1], "crmsync_sync_runs_total"):
				s.ok = int(v)
			default:
				s.partnershipLag = v
			}
		}
		if status != http.StatusOK {
			t.Fatalf("/metrics: %d\n%s", status, body)
		}
		return s
	}
	until := func(what string, ok func(scrape) bool) scrape {
		t.Helper()
		var s scrape
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if s = read(); ok(s) {
				return s
			}
		}
		t.Fatalf("%s: last scrape %+v", what, s)
		return s
	}

	until("the first cycle", func(s scrape) bool { return s.ok >= 1 })
	time.Sleep(1200 * time.Millisecond)
	if s := read(); s.lag != 0 || s.partnershipLag != 0 {
		t.Errorf("idle for over a second after a good cycle, the lag is %v (partnership %v), want 0", s.lag, s.partnershipLag)
	}

	down.Store(true)
	beforeSave := time.Now()
	save(w, base)
	afterSave := time.Now()
	first := until("a failed cycle", func(s scrape) bool { return s.errors >= 1 })
	second := until("a second failed cycle", func(s scrape) bool { return s.errors >= 2 })
	if !(second.lag > first.lag) || second.partnershipLag != second.lag {
		t.Errorf("with cycles failing the lag went from %v to %v (partnership %v): want it growing", first.lag, second.lag, second.partnershipLag)
	}
	// The lag is the age of the save: the change arrived while it ran.
	if low, high := second.at.Sub(afterSave).Seconds()-0.05, time.Since(beforeSave).Seconds()+0.05; second.lag < low || second.lag > high {
		t.Errorf("lag %v, want the age of the save, between %.3f and %.3f", second.lag, low, high)
	}

	down.Store(false)
	back := until("a good cycle after the mailbox came back", func(s scrape) bool { return s.ok > second.ok })
	if back.lag != 0 || back.partnershipLag != 0 {
		t.Errorf("after a good cycle the lag is %v (partnership %v), want 0", back.lag, back.partnershipLag)
	}
	if n := mb.Count(""); n != 1 {
		t.Errorf("the mailbox holds %d contacts after the good cycle, want the saved one", n)
	}
}

// TestMetricsCountThrottlesInsideBatches runs a cycle that creates five
// CRM contacts in a sandbox mailbox that throttles two of the requests
// inside its $batch requests: the $batch requests all count as 200, the
// requests inside them by their own status, the two 429s among them.
func TestMetricsCountThrottlesInsideBatches(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var writes atomic.Int32
	w := newMetricsWorld(t, ctx, dbLocation{Path: filepath.Join(t.TempDir(), "crm.db")}, func(c outlook.Call) *outlook.Fault {
		if !c.Write || strings.HasSuffix(c.Op, "/$batch") || writes.Add(1) > 2 {
			return nil
		}
		return &outlook.Fault{Kind: outlook.FaultThrottle}
	})
	d, err := openSync(ctx, w.env, w.loc)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	counts := newRequestCounts()
	d.requests = counts
	alice, err := d.user(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	var patches []crmsync.Patch
	for i := range 5 {
		patches = append(patches, crmsync.Patch{Set: map[string]string{crmsync.FieldLastName: fmt.Sprintf("Batched %d", i)}})
	}
	if _, err := d.svc.Save(crmsync.WithUser(ctx, alice), crmsync.Contacts, patches, crmsync.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	p, sb := w.p, w.sandbox
	eng, err := d.engineFor(ctx, p, alice)
	if err != nil {
		t.Fatal(err)
	}
	if run, err := eng.Cycle(ctx); err != nil || run.Outcome != "ok" || run.Counts.CreatedInRemote != 5 {
		t.Fatalf("cycle: %v %+v", err, run)
	}
	var out strings.Builder
	counts.write(&out)
	for _, want := range []string{
		`crmsync_remote_batched_requests_total{remote="graph",status="429"} 2` + "\n",
		`crmsync_remote_batched_requests_total{remote="graph",status="201"} 5` + "\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), `crmsync_remote_requests_total{remote="graph",status="429"}`) {
		t.Errorf("an HTTP request was throttled; only requests inside a $batch should be:\n%s", out.String())
	}
	var inner int64
	for _, m := range regexp.MustCompile(`(?m)^crmsync_remote_batched_requests_total\{.*\} (\d+)$`).FindAllStringSubmatch(out.String(), -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		inner += n
	}
	if st := sb.Stats(); st.InjectedFault != 2 || inner != st.BatchItems {
		t.Errorf("%d requests inside batches counted; the sandbox received %d and injected %d faults", inner, st.BatchItems, st.InjectedFault)
	}
}

// scrapeMetrics reads serve's /metrics at base as user.
func scrapeMetrics(t *testing.T, base, user, password string) (status int, body string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricsWorld is a sandbox mailbox whose faults a hook decides and a CRM
// where alice, in a group with every right on contacts, has an active
// partnership with it.
type metricsWorld struct {
	env     *Env
	mb      *outlook.Mailbox
	sandbox *sandbox.Server
	loc     dbLocation
	p       *engine.Partnership
}

func newMetricsWorld(t *testing.T, ctx context.Context, loc dbLocation, fault func(outlook.Call) *outlook.Fault) *metricsWorld {
	t.Helper()
	w := &metricsWorld{env: testEnv(io.Discard),
		mb: outlook.NewMemory(), loc: loc}
	faults := &outlook.Faults{}
	faults.SetHook(fault)
	srv, addr, err := startSandbox(ctx, w.env, w.mb, "127.0.0.1:0", sandbox.Options{Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	w.sandbox = srv
	mustRun(t, append([]string{"group", "set", "sales", "--module", "all", "--view", "All", "--edit", "All", "--delete", "Own", "--create", "--export"}, w.dbArgs()...)...)
	mustRun(t, append([]string{"user", "add", "alice", "--password", "pw", "--group", "sales"}, w.dbArgs()...)...)
	d, err := openSync(ctx, w.env, loc)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	alice, err := d.user(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	w.p = &engine.Partnership{User: alice.GUID, Kind: "outlook", Remote: remoteConfig{Sandbox: "http://" + addr, FolderID: w.mb.DefaultFolder()}.String(),
		Mode: "automatic", Policy: engine.PolicyNewest, State: "active", Synced: true}
	if err := d.state.SavePartnership(ctx, w.p); err != nil {
		t.Fatal(err)
	}
	return w
}

// dbArgs are the flags that name the world's CRM.
func (w *metricsWorld) dbArgs() []string {
	if w.loc.Postgres != "" {
		return []string{"--postgres", w.loc.Postgres, "--db", w.loc.Path}
	}
	return []string{"--db", w.loc.Path}
}
