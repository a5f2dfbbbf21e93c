package main

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
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
	lastOK    map[int64]time.Time
	running   func() int
}

func newSyncMetrics() *syncMetrics {
	return &syncMetrics{runs: map[string]int64{}, lastOK: map[int64]time.Time{}}
}

// observe records one cycle of partnership id.
func (m *syncMetrics) observe(id int64, run *engine.Run, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
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
		fmt.Fprintln(w, "# HELP crmsync_sync_lag_seconds Time since the least recent successful cycle among this node's partnerships.")
		fmt.Fprintln(w, "# TYPE crmsync_sync_lag_seconds gauge")
		var lag time.Duration
		for _, t := range m.lastOK {
			lag = max(lag, time.Since(t))
		}
		fmt.Fprintf(w, "crmsync_sync_lag_seconds %.3f\n", lag.Seconds())
	})
}
