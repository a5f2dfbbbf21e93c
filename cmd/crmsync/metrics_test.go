package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/engine"
)

// TestMetricsCountRequestsAndLag sends requests to a Graph and a CardDAV
// stand-in through the counting clients (answered 200 and 404, and one to
// a closed port) and checks the counts by remote and status, and each
// partnership's lag: since its last good cycle, or since the node took it.
func TestMetricsCountRequestsAndLag(t *testing.T) {
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

	m := newSyncMetrics(counts)
	now := time.Now()
	m.took(1)
	m.took(2)
	m.observe(2, &engine.Run{Outcome: "ok", Finished: now.Add(-3 * time.Second)}, nil)
	m.lastOK[1] = now.Add(-10 * time.Second) // took 10s ago, never synced
	m.took(1)                                // taking it again does not reset it
	var out strings.Builder
	m.write(&out, now)
	for _, want := range []string{
		`crmsync_remote_requests_total{remote="carddav",status="200"} 1` + "\n",
		`crmsync_remote_requests_total{remote="carddav",status="error"} 1` + "\n",
		`crmsync_remote_requests_total{remote="graph",status="200"} 2` + "\n",
		`crmsync_remote_requests_total{remote="graph",status="404"} 1` + "\n",
		`crmsync_partnership_sync_lag_seconds{partnership="1"} 10.000` + "\n",
		`crmsync_partnership_sync_lag_seconds{partnership="2"} 3.000` + "\n",
		"crmsync_sync_lag_seconds 10.000\n",
		`crmsync_sync_runs_total{outcome="ok"} 1` + "\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, out.String())
		}
	}
}
