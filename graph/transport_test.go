package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/graph"
	"github.com/crmsync/crmsync/internal/testenv"
	"golang.org/x/oauth2"
)

// sharedTestdata returns ../shared/testdata/graph next to the repository
// root.
func sharedTestdata(tb testing.TB) string {
	tb.Helper()
	return testenv.Shared(tb, "testdata", "graph")
}

func readShared(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(sharedTestdata(tb), name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

const testToken = "eyJ0eXAiOiJKV1QiLCJub25jZSI6InNlY3JldC10b2tlbi10ZXh0In0"

// newTestClient returns a client for srv with fast retries.
func newTestClient(tb testing.TB, base string, mod func(*graph.Config)) *graph.Client {
	tb.Helper()
	cfg := graph.Config{
		BaseURL:        base,
		TokenSource:    oauth2.StaticTokenSource(&oauth2.Token{AccessToken: testToken}),
		RetryBase:      5 * time.Millisecond,
		RequestTimeout: 5 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	cl, err := graph.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return cl
}

func TestConcurrencyNeverAboveFour(t *testing.T) {
	t.Parallel()
	var inFlight, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(15 * time.Millisecond)
		inFlight.Add(-1)
		if got := r.Header.Get("Prefer"); got != `IdType="ImmutableId"` {
			t.Errorf("Prefer = %q", got)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
			t.Errorf("Authorization = %q", got)
		}
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	cl := newTestClient(t, srv.URL, nil)
	var wg sync.WaitGroup
	for range 24 {
		wg.Go(func() {
			if _, _, err := cl.RawDo(context.Background(), "GET", "/me/contacts", nil, true); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p != 4 {
		t.Fatalf("peak requests in flight = %d, want 4", p)
	}
}

func TestThrottleFencePausesEveryCall(t *testing.T) {
	t.Parallel()
	body429 := readShared(t, "throttling.429.response.json")
	var mu sync.Mutex
	var throttledAt time.Time
	var early int
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if !throttledAt.IsZero() && now.Sub(throttledAt) < 190*time.Millisecond {
			early++
		}
		if calls.Add(1) <= 3 {
			throttledAt = now
			w.Header().Set("Retry-After", "0.2")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write(body429)
			return
		}
		io.WriteString(w, `{"value":[]}`)
	}))
	defer srv.Close()
	cl := newTestClient(t, srv.URL, func(c *graph.Config) { c.MaxInFlight = 1 })
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			st, _, err := cl.RawDo(context.Background(), "GET", "/me/contacts", nil, true)
			if err != nil || st != 200 {
				t.Errorf("status %d, %v", st, err)
			}
		})
	}
	wg.Wait()
	if early != 0 {
		t.Fatalf("%d requests arrived inside the Retry-After fence", early)
	}
}

func TestServiceUnavailableRetried(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.Header().Set("Retry-After", "0.01")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	cl := newTestClient(t, srv.URL, nil)
	// A POST answered 503 was not processed, so even a create is retried.
	st, body, err := cl.RawDo(context.Background(), "POST", "/me/contacts", []byte(`{}`), false)
	if err != nil || st != 200 || string(body) != `{"ok":true}` {
		t.Fatalf("got %d %s %v", st, body, err)
	}
	if calls.Load() != 3 {
		t.Fatalf("calls = %d, want 3", calls.Load())
	}
}

// dropFirst closes the connection without an answer for the first n
// requests.
func dropFirst(n int32, next http.Handler) (http.Handler, *atomic.Int32) {
	var calls atomic.Int32
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= n {
			io.ReadAll(r.Body)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		next.ServeHTTP(w, r)
	}), &calls
}

func TestDroppedConnection(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{}`) })

	t.Run("safe request is retried", func(t *testing.T) {
		h, calls := dropFirst(2, ok)
		srv := httptest.NewServer(h)
		defer srv.Close()
		cl := newTestClient(t, srv.URL, nil)
		if st, _, err := cl.RawDo(context.Background(), "PATCH", "/me/contacts/x", []byte(`{}`), true); err != nil || st != 200 {
			t.Fatalf("got %d %v", st, err)
		}
		if calls.Load() != 3 {
			t.Fatalf("calls = %d, want 3", calls.Load())
		}
	})
	t.Run("create reports an unknown outcome", func(t *testing.T) {
		h, calls := dropFirst(1, ok)
		srv := httptest.NewServer(h)
		defer srv.Close()
		cl := newTestClient(t, srv.URL, nil)
		_, _, err := cl.RawDo(context.Background(), "POST", "/me/contacts", []byte(`{}`), false)
		if !errors.Is(err, graph.ErrUnknownOutcome) {
			t.Fatalf("err = %v, want ErrUnknownOutcome", err)
		}
		if calls.Load() != 1 {
			t.Fatalf("a create whose answer was lost was sent %d times", calls.Load())
		}
	})
}

// TestSlidingWindow sends twice the window's requests through a client:
// the second half cannot start before the first request's window has
// passed. (Which request waits how long is TestLimiterWindow's, on a
// fake clock; arrival times at a server would also measure connection
// set-up and scheduling on a loaded machine.)
func TestSlidingWindow(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	const window = 300 * time.Millisecond
	cl := newTestClient(t, srv.URL, func(c *graph.Config) { c.WindowRequests = 5; c.Window = window })
	start := time.Now()
	for range 10 {
		if _, _, err := cl.RawDo(context.Background(), "GET", "/me/contacts", nil, true); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took < window {
		t.Fatalf("10 requests with 5 per %v took only %v", window, took)
	}
	if calls.Load() != 10 {
		t.Fatalf("server saw %d requests, want 10", calls.Load())
	}
}

func TestForeignLinkRefused(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer other.Close()
	cl := newTestClient(t, "http://127.0.0.1:1", nil)
	_, _, err := cl.RawDo(context.Background(), "GET", other.URL+"/v1.0/me/contacts/delta", nil, true)
	if crm.ErrorCode(err) != crm.EINVALID || hits.Load() != 0 {
		t.Fatalf("err = %v, hits = %d: a link to another host must not get the token", err, hits.Load())
	}
}

// batchServer answers $batch like Graph: dependsOn chains (424 after a
// failure), answers in any order, and inner statuses from status.
func batchServer(t *testing.T, status func(id string, req map[string]any) (int, map[string]string, any)) (*httptest.Server, *atomic.Int32) {
	var batches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1.0/$batch" {
			t.Errorf("path %s", r.URL.Path)
			http.NotFound(w, r)
			return
		}
		batches.Add(1)
		var in struct {
			Requests []map[string]any `json:"requests"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(in.Requests) > 20 {
			t.Errorf("bad batch: %v (%d requests)", err, len(in.Requests))
			w.WriteHeader(400)
			return
		}
		failed := map[string]bool{}
		var out []map[string]any
		for _, req := range in.Requests {
			id := req["id"].(string)
			dep := false
			if d, ok := req["dependsOn"].([]any); ok {
				for _, x := range d {
					dep = dep || failed[x.(string)]
				}
			}
			if dep {
				failed[id] = true
				out = append(out, map[string]any{"id": id, "status": 424, "body": map[string]any{"error": map[string]any{"code": "FailedDependency"}}})
				continue
			}
			st, h, body := status(id, req)
			if st >= 400 {
				failed[id] = true
			}
			out = append(out, map[string]any{"id": id, "status": st, "headers": h, "body": body})
		}
		rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		json.NewEncoder(w).Encode(map[string]any{"responses": out})
	}))
	return srv, &batches
}

func TestBatch(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	throttled := map[string]bool{}
	srv, batches := batchServer(t, func(id string, req map[string]any) (int, map[string]string, any) {
		u := req["url"].(string)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case u == "/me/contacts/gone":
			return 404, nil, map[string]any{"error": map[string]any{"code": "ErrorItemNotFound", "message": "not found"}}
		case u == "/me/contacts/slow" && !throttled[u]:
			throttled[u] = true
			return 429, map[string]string{"Retry-After": "0.05"}, map[string]any{"error": map[string]any{"code": "TooManyRequests"}}
		}
		return 200, map[string]string{"Content-Type": "application/json"}, map[string]any{"url": u}
	})
	defer srv.Close()
	cl := newTestClient(t, srv.URL, nil)
	var urls, methods []string
	for i := range 45 {
		u := "/me/contacts/c" + string(rune('A'+i%26)) + string(rune('a'+i/26))
		switch i {
		case 3:
			u = "/me/contacts/gone"
		case 30:
			u = "/me/contacts/slow"
		}
		urls = append(urls, u)
		methods = append(methods, "GET")
	}
	res, err := cl.RawBatch(context.Background(), methods, urls, true)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if urls[i] == "/me/contacts/gone" {
			if crm.ErrorCode(r.Err) != crm.ENOTFOUND || r.Status != 404 {
				t.Errorf("gone: %d %v", r.Status, r.Err)
			}
			continue
		}
		var got struct{ URL string }
		if r.Err != nil || json.Unmarshal(r.Body, &got) != nil || got.URL != urls[i] {
			t.Errorf("request %d (%s): %d %s %v", i, urls[i], r.Status, r.Body, r.Err)
		}
	}
	// 45 requests: 3 or 4 batches, plus rounds for the requests held back
	// by the 404 and for the throttled one.
	if n := batches.Load(); n < 3 || n > 7 {
		t.Fatalf("%d batches for 45 requests", n)
	}
}

func TestBatchLostAnswer(t *testing.T) {
	t.Parallel()
	inner, _ := batchServer(t, func(id string, req map[string]any) (int, map[string]string, any) {
		return 201, nil, map[string]any{"id": "new"}
	})
	defer inner.Close()
	h, calls := dropFirst(1, inner.Config.Handler)
	srv := httptest.NewServer(h)
	defer srv.Close()

	cl := newTestClient(t, srv.URL, nil)
	res, err := cl.RawBatch(context.Background(), []string{"POST", "POST"}, []string{"/me/contacts", "/me/contacts"}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if !errors.Is(r.Err, graph.ErrUnknownOutcome) {
			t.Fatalf("a lost batch of creates gave %v, want ErrUnknownOutcome", r.Err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("a batch of creates whose answer was lost was sent %d times", calls.Load())
	}
}

func TestErrorCodes(t *testing.T) {
	t.Parallel()
	body := readShared(t, "error.example.json")
	for _, tc := range []struct {
		status int
		code   string
	}{{400, crm.EINVALID}, {403, crm.EFORBIDDEN}, {404, crm.ENOTFOUND}, {412, crm.EPRECONDITION}, {401, crm.EUNAUTHORIZED}} {
		srv, _ := batchServer(t, func(string, map[string]any) (int, map[string]string, any) {
			return tc.status, nil, json.RawMessage(body)
		})
		cl := newTestClient(t, srv.URL, nil)
		res, err := cl.RawBatch(context.Background(), []string{"PATCH"}, []string{"/me/contacts/x"}, true)
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := crm.ErrorCode(res[0].Err); got != tc.code {
			t.Errorf("status %d: code %q, want %q (%v)", tc.status, got, tc.code, res[0].Err)
		}
	}
}

// TestDeadlineKeepsTheCause retries a mailbox that refuses connections
// until the caller's deadline: the error is the deadline, and still says
// what kept the call retrying.
func TestDeadlineKeepsTheCause(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	closed := srv.URL
	srv.Close()
	// Retrying longer than the deadline: the deadline ends the call.
	cl := newTestClient(t, closed, func(c *graph.Config) { c.MaxAttempts = 100 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _, err := cl.RawDo(ctx, "GET", "/me/contacts", nil, true)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err = %v, want the deadline with the refused connection", err)
	}
}
