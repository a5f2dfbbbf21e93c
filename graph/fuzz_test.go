package graph_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmsync/crmsync/graph"
)

// FuzzChanges feeds arbitrary answers to the client's read path (delta
// pages, listings, $batch answers): it must return a record set or an
// error, never panic or loop.
func FuzzChanges(f *testing.F) {
	for _, name := range []string{"contact-delta.page1.response.json", "contact-list.response.json",
		"message-delta.page3-final.response.json", "message-delta.round2-removed.response.json",
		"batch.response.json", "contact-get.response.json", "error.example.json", "throttling.429.response.json"} {
		if b, err := os.ReadFile(filepath.Join(sharedTestdataOrEmpty(), name)); err == nil {
			f.Add(b, 200)
		}
	}
	f.Add([]byte(`{"value":[{"id":"a","changeKey":"k"},{"id":"b","@removed":{"reason":"deleted"}}],"@odata.deltaLink":"BASE/v1.0/d?$deltatoken=1"}`), 200)
	f.Add([]byte(`{"value":[],"@odata.nextLink":"BASE/v1.0/me/contactFolders/f/contacts/delta?$skiptoken=1"}`), 200)
	f.Add([]byte(`{"value":[{"id":"x","emailAddresses":[{"address":1}]}]}`), 200)
	f.Add([]byte(`{"responses":[{"id":"1","status":200,"body":"bm90IGpzb24="}]}`), 200)
	f.Add([]byte(`{"error":{"code":"syncStateNotFound"}}`), 410)

	var body atomic.Value
	var status atomic.Int32
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if hits.Add(1) > 50 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if r.URL.Path == "/v1.0/me/contactFolders/contacts" {
			io.WriteString(w, `{"id":"f"}`)
			return
		}
		b := strings.ReplaceAll(body.Load().(string), "BASE", "http://"+r.Host)
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, b)
	}))
	defer srv.Close()
	f.Fuzz(func(t *testing.T, answer []byte, st int) {
		if st < 200 || st > 599 || st == 429 || st == 503 {
			st = 200
		}
		body.Store(string(answer))
		status.Store(int32(st))
		hits.Store(0)
		cl := newTestClient(t, srv.URL, func(c *graph.Config) {
			c.MaxAttempts = 2
			c.RetryBase = time.Millisecond
			c.MaxRetryAfter = 10 * time.Millisecond
		})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cs, err := cl.Changes(ctx, "")
		if err == nil && !cs.Complete {
			t.Fatal("a first listing must be complete")
		}
		cl.Changes(ctx, srv.URL+"/v1.0/me/contactFolders/f/contacts/delta?$deltatoken=1")
		cl.Get(ctx, []string{"a", "b"})
		if ctx.Err() != nil {
			t.Fatal("the client did not finish in time")
		}
	})
}

// sharedTestdataOrEmpty is sharedTestdata without skipping: fuzz seeds
// are optional.
func sharedTestdataOrEmpty() string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "testdata", "graph")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
