package main

import (
	"crypto/md5"
	"encoding/hex"
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
	runs      map[string]int64    // by outcome; "error" for a cycle that failed
	rejected  int64               // state writes refused for a lost lease
	takeovers int64               // leases taken from an earlier holder
	lastOK    map[int64]time.Time // last successful cycle, or when this node took the partnership
	running   func() int
	requests  *requestCounts
	onRun     func(id int64, run *engine.Run, err error) // benchmarks: told about every cycle
}

func newSyncMetrics(requests *requestCounts) *syncMetrics {
	return &syncMetrics{runs: map[string]int64{}, lastOK: map[int64]time.Time{}, requests: requests}
}

// took starts the lag of a partnership this node now runs, unless it
// already ran it.
func (m *syncMetrics) took(id int64) {
	m.mu.Lock()
	if _, ok := m.lastOK[id]; !ok {
		m.lastOK[id] = time.Now()
	}
	m.mu.Unlock()
}

// requestCounts counts the HTTP requests sent to remotes (Graph, CardDAV
// servers) by status code, "error" when no answer came.
type requestCounts struct {
	mu sync.Mutex
	by map[[2]string]int64 // {remote, status}
}

func newRequestCounts() *requestCounts { return &requestCounts{by: map[[2]string]int64{}} }

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
	fmt.Fprintln(w, "# HELP crmsync_remote_requests_total HTTP requests sent to Graph (a $batch counts once) and to CardDAV servers, by status (error: no answer).")
	fmt.Fprintln(w, "# TYPE crmsync_remote_requests_total counter")
	if rc == nil {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	keys := make([][2]string, 0, len(rc.by))
	for k := range rc.by {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0] < keys[j][0] || keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1]
	})
	for _, k := range keys {
		fmt.Fprintf(w, "crmsync_remote_requests_total{remote=%q,status=%q} %d\n", k[0], k[1], rc.by[k])
	}
}

// observe records one cycle of partnership id.
func (m *syncMetrics) observe(id int64, run *engine.Run, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.onRun != nil {
		m.onRun(id, run, err)
	}
	switch {
	case err != nil:
		m.runs["error"]++
		if errors.Is(err, postgres.ErrLeaseLost) {
			m.rejected++
		}
	default:
		m.runs[run.Outcome]++
		if run.Outcome == "ok" {
			m.lastOK[id] = run.Finished
		}
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
	delete(m.lastOK, id)
	m.mu.Unlock()
}

// handler serves the metrics to an administrator (HTTP basic auth with
// the CRM password): run counts say who syncs with whom.
func (m *syncMetrics) handler(crm crmsync.CRM) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, password, ok := r.BasicAuth()
		var u *crmsync.User
		var err error
		if ok {
			sum := md5.Sum([]byte(password))
			u, err = crm.Authenticate(r.Context(), name, hex.EncodeToString(sum[:]))
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
	fmt.Fprintln(w, "# HELP crmsync_sync_lag_seconds Time since the least recent successful cycle among this node's partnerships (or since it took one that has not succeeded yet).")
	fmt.Fprintln(w, "# TYPE crmsync_sync_lag_seconds gauge")
	var lag time.Duration
	ids := make([]int64, 0, len(m.lastOK))
	for id, t := range m.lastOK {
		lag = max(lag, now.Sub(t))
		ids = append(ids, id)
	}
	fmt.Fprintf(w, "crmsync_sync_lag_seconds %.3f\n", lag.Seconds())
	fmt.Fprintln(w, "# HELP crmsync_partnership_sync_lag_seconds Time since each partnership's last successful cycle on this node (or since it took it).")
	fmt.Fprintln(w, "# TYPE crmsync_partnership_sync_lag_seconds gauge")
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		fmt.Fprintf(w, "crmsync_partnership_sync_lag_seconds{partnership=\"%d\"} %.3f\n", id, now.Sub(m.lastOK[id]).Seconds())
	}
	m.requests.write(w)
}
