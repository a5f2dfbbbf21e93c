package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/postgres"
)

// syncMetrics are the counters `serve` exposes on /metrics in the
// Prometheus text format.
type syncMetrics struct {
	mu        sync.Mutex
	runs      map[string]int64 // by outcome; "error" for a cycle that failed
	rejected  int64            // state writes refused for a lost lease
	takeovers int64            // leases taken from an earlier holder
	lags      map[int64]*lag   // the partnerships this node runs
	running   func() int
	requests  *requestCounts
	onRun     func(id int64, run *engine.Run, err error) // benchmarks: told about every cycle
}

// lag is how far one partnership is behind the CRM: a few times, however
// many changes wait. A CRM change is unsynced for a partnership until a
// cycle that started after it succeeds. Only CRM changes are known as they
// happen (committed through this node or, on PostgreSQL, any node: the
// change wake-ups); an Outlook or CardDAV change is not counted: it is
// seen only when a cycle polls it.
type lag struct {
	waiting    time.Time // when the oldest unsynced CRM change arrived; zero: none
	cycleStart time.Time // start of the cycle running now; zero: none runs
	sinceStart time.Time // the first change that arrived after cycleStart
	lastOK     time.Time // end of the last successful cycle on this node
}

func newSyncMetrics(requests *requestCounts) *syncMetrics {
	return &syncMetrics{runs: map[string]int64{}, lags: map[int64]*lag{}, requests: requests}
}

// took starts tracking a partnership this node now runs, unless it already
// ran it. Whether changes wait is unknown until its first cycle here (the
// node that ran it before may have died with some), so it counts as
// waiting from now until then.
func (m *syncMetrics) took(id int64, now time.Time) {
	m.mu.Lock()
	if m.lags[id] == nil {
		m.lags[id] = &lag{waiting: now}
	}
	m.mu.Unlock()
}

// changed records a CRM change that arrived at t: unsynced for every
// partnership, including for a cycle running now, which may have read the
// CRM before it. The cost is one pass over this node's partnerships.
func (m *syncMetrics) changed(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.lags {
		if l.waiting.IsZero() {
			l.waiting = t
		}
		if !l.cycleStart.IsZero() && l.sinceStart.IsZero() {
			l.sinceStart = t
		}
	}
}

// starting records that a cycle of partnership id starts at t: once it
// succeeds, only the changes that arrive from now on are still waiting.
func (m *syncMetrics) starting(id int64, t time.Time) {
	m.mu.Lock()
	if l := m.lags[id]; l != nil {
		l.cycleStart, l.sinceStart = t, time.Time{}
	}
	m.mu.Unlock()
}

// observe records one cycle of partnership id. Only an "ok" cycle syncs
// what waited: a failed or partial one leaves it waiting, its lag growing.
func (m *syncMetrics) observe(id int64, run *engine.Run, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.onRun != nil {
		m.onRun(id, run, err)
	}
	if l := m.lags[id]; l != nil {
		if err == nil && run.Outcome == "ok" && !l.cycleStart.IsZero() {
			l.waiting, l.lastOK = l.sinceStart, run.Finished
		}
		l.cycleStart, l.sinceStart = time.Time{}, time.Time{}
	}
	switch {
	case err != nil:
		m.runs["error"]++
		if errors.Is(err, postgres.ErrLeaseLost) {
			m.rejected++
		}
	default:
		m.runs[run.Outcome]++
	}
}

func (m *syncMetrics) tookOver() {
	m.mu.Lock()
	m.takeovers++
	m.mu.Unlock()
}

// forget drops a partnership this node no longer runs from the lag.
func (m *syncMetrics) forget(id int64) {
	m.mu.Lock()
	delete(m.lags, id)
	m.mu.Unlock()
}

// requestCounts counts the HTTP requests sent to remotes (Graph, CardDAV
// servers) by status code, "error" when no answer came, and apart from
// them the requests inside Graph $batch requests by their own status.
type requestCounts struct {
	mu      sync.Mutex
	by      map[[2]string]int64 // {remote, status}
	batched map[[2]string]int64 // {remote, status} of the requests inside a $batch
}

func newRequestCounts() *requestCounts {
	return &requestCounts{by: map[[2]string]int64{}, batched: map[[2]string]int64{}}
}

// batchedStatus returns the graph.Config.BatchedStatus that counts the
// requests inside remote's $batch requests; nil on nil counts.
func (rc *requestCounts) batchedStatus(remote string) func(status int) {
	if rc == nil {
		return nil
	}
	return func(status int) {
		rc.mu.Lock()
		rc.batched[[2]string{remote, strconv.Itoa(status)}]++
		rc.mu.Unlock()
	}
}

// client returns c (nil: a default client) sending through a transport
// that counts its requests under remote; on nil counts, c unchanged.
func (rc *requestCounts) client(remote string, c *http.Client) *http.Client {
	if rc == nil {
		return c
	}
	var cp http.Client
	if c != nil {
		cp = *c
	}
	next := cp.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	cp.Transport = countingTransport{remote: remote, next: next, counts: rc}
	return &cp
}

type countingTransport struct {
	remote string
	next   http.RoundTripper
	counts *requestCounts
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	status := "error"
	if err == nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	t.counts.mu.Lock()
	t.counts.by[[2]string{t.remote, status}]++
	t.counts.mu.Unlock()
	return resp, err
}

// write writes the counts in the Prometheus text format.
func (rc *requestCounts) write(w io.Writer) {
	var by, batched map[[2]string]int64
	if rc != nil {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		by, batched = rc.by, rc.batched
	}
	writeByRemoteAndStatus(w, "crmsync_remote_requests_total", "HTTP requests sent to Graph and to CardDAV servers, by status (error: no answer). A Graph $batch counts once, by its own status; the requests inside it are crmsync_remote_batched_requests_total.", by)
	writeByRemoteAndStatus(w, "crmsync_remote_batched_requests_total", "Requests inside the Graph $batch requests of crmsync_remote_requests_total, by each one's own status (a 429 here came inside a $batch answered 200; 424: not run, a request it depended on failed). Those sent again count again.", batched)
}

// writeByRemoteAndStatus writes one counter with remote and status labels.
func writeByRemoteAndStatus(w io.Writer, name, help string, counts map[[2]string]int64) {
	fmt.Fprintf(w, "# HELP %s %s\n", name, help)
	fmt.Fprintf(w, "# TYPE %s counter\n", name)
	keys := make([][2]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0] < keys[j][0] || keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1]
	})
	for _, k := range keys {
		fmt.Fprintf(w, "%s{remote=%q,status=%q} %d\n", name, k[0], k[1], counts[k])
	}
}

// age is how long the oldest unsynced change has waited at now.
func (l *lag) age(now time.Time) time.Duration {
	if l.waiting.IsZero() {
		return 0
	}
	return max(0, now.Sub(l.waiting))
}

// handler serves the metrics to an administrator (HTTP basic auth with
// the CRM password): run counts say who syncs with whom.
func (m *syncMetrics) handler(crm crmsync.CRM) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, password, ok := r.BasicAuth()
		var u *crmsync.User
		var err error
		if ok {
			u, err = crm.Authenticate(r.Context(), name, crmsync.PasswordMD5(password))
		}
		if !ok || err != nil || !u.IsAdmin {
			w.Header().Set("WWW-Authenticate", `Basic realm="crmsync metrics"`)
			http.Error(w, "metrics need an administrator's name and password", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		m.write(w, time.Now())
	})
}

// write writes the metrics in the Prometheus text format.
func (m *syncMetrics) write(w io.Writer, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintln(w, "# HELP crmsync_sync_runs_total Sync cycles run by this node, by outcome (error: the cycle failed).")
	fmt.Fprintln(w, "# TYPE crmsync_sync_runs_total counter")
	outcomes := make([]string, 0, len(m.runs))
	for o := range m.runs {
		outcomes = append(outcomes, o)
	}
	sort.Strings(outcomes)
	for _, o := range outcomes {
		fmt.Fprintf(w, "crmsync_sync_runs_total{outcome=%q} %d\n", o, m.runs[o])
	}
	fmt.Fprintln(w, "# HELP crmsync_sync_errors_total Sync cycles that failed.")
	fmt.Fprintln(w, "# TYPE crmsync_sync_errors_total counter")
	fmt.Fprintf(w, "crmsync_sync_errors_total %d\n", m.runs["error"])
	fmt.Fprintln(w, "# HELP crmsync_state_commits_rejected_total State writes refused because this node had lost the partnership's lease.")
	fmt.Fprintln(w, "# TYPE crmsync_state_commits_rejected_total counter")
	fmt.Fprintf(w, "crmsync_state_commits_rejected_total %d\n", m.rejected)
	fmt.Fprintln(w, "# HELP crmsync_lease_takeovers_total Partnership leases this node took from an earlier holder.")
	fmt.Fprintln(w, "# TYPE crmsync_lease_takeovers_total counter")
	fmt.Fprintf(w, "crmsync_lease_takeovers_total %d\n", m.takeovers)
	fmt.Fprintln(w, "# HELP crmsync_partnerships_running Partnerships this node runs now.")
	fmt.Fprintln(w, "# TYPE crmsync_partnerships_running gauge")
	n := 0
	if m.running != nil {
		n = m.running()
	}
	fmt.Fprintf(w, "crmsync_partnerships_running %d\n", n)
	ids := make([]int64, 0, len(m.lags))
	var worst time.Duration
	for id, l := range m.lags {
		ids = append(ids, id)
		worst = max(worst, l.age(now))
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	fmt.Fprintln(w, "# HELP crmsync_sync_lag_seconds Age of the oldest CRM change that some partnership of this node has not synced yet (the largest crmsync_partnership_sync_lag_seconds; 0 when all are up to date). Outlook and CardDAV changes are not in it: they are known only when a cycle polls them.")
	fmt.Fprintln(w, "# TYPE crmsync_sync_lag_seconds gauge")
	fmt.Fprintf(w, "crmsync_sync_lag_seconds %.3f\n", worst.Seconds())
	fmt.Fprintln(w, "# HELP crmsync_partnership_sync_lag_seconds Age of the oldest CRM change (committed through this node or, on PostgreSQL, any node) that the partnership has not synced: 0 once a cycle that started after it succeeded; counted from when this node took the partnership until its first successful cycle here. Outlook and CardDAV changes are not in it: they are known only when a cycle polls them.")
	fmt.Fprintln(w, "# TYPE crmsync_partnership_sync_lag_seconds gauge")
	for _, id := range ids {
		fmt.Fprintf(w, "crmsync_partnership_sync_lag_seconds{partnership=\"%d\"} %.3f\n", id, m.lags[id].age(now).Seconds())
	}
	fmt.Fprintln(w, "# HELP crmsync_partnership_last_success_timestamp_seconds When the partnership's last successful cycle on this node ended (Unix time); absent before its first.")
	fmt.Fprintln(w, "# TYPE crmsync_partnership_last_success_timestamp_seconds gauge")
	for _, id := range ids {
		if t := m.lags[id].lastOK; !t.IsZero() {
			fmt.Fprintf(w, "crmsync_partnership_last_success_timestamp_seconds{partnership=\"%d\"} %.3f\n", id, float64(t.UnixMilli())/1000)
		}
	}
	m.requests.write(w)
}
