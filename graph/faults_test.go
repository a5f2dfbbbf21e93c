package graph_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/graph"
	"github.com/crmsync/crmsync/graph/sandbox"
	"github.com/crmsync/crmsync/outlook"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

// syncedBuffer is a log or output sink safe for concurrent writers and readers.
type syncedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// faultScenario creates n contacts, updates each and deletes a few while
// the sandbox injects faults, then checks that the mailbox holds each
// contact exactly once with the last values written.
func faultScenario(t *testing.T, n int, arm func(*outlook.Faults)) *syncedBuffer {
	t.Helper()
	faults := &outlook.Faults{}
	sb := newSandbox(t, sandbox.Options{Faults: faults})
	logs := &syncedBuffer{}
	cl := newTestClient(t, sb.url, func(c *graph.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.MaxAttempts = 12
	})
	ctx := context.Background()
	arm(faults)

	var ops []engine.Op
	for i := range n {
		ops = append(ops, engine.Op{Kind: engine.Create, CRMGUID: fmt.Sprintf("e0000000-0000-0000-0000-%012d", i), Fields: fullFields(100+i, nil)})
	}
	res, err := cl.Apply(ctx, ops)
	if err != nil {
		t.Fatal(err)
	}
	mustOK(t, res)
	arm(faults)
	var ups []engine.Op
	for i, r := range res {
		if i == 1 || i == 4 {
			ups = append(ups, engine.Op{Kind: engine.Delete, ID: r.Record.ID})
			continue
		}
		ups = append(ups, engine.Op{Kind: engine.Update, ID: r.Record.ID, IfVersion: r.Record.Version,
			Fields: map[string]string{crm.FieldJobTitle: fmt.Sprintf("Updated %d", i), crm.FieldPhoneFax: fmt.Sprintf("fax %d", i)}})
	}
	upres, err := cl.Apply(ctx, ups)
	if err != nil {
		t.Fatal(err)
	}
	mustOK(t, upres)

	if got := sb.mb.Count(""); got != n-2 {
		t.Errorf("mailbox holds %d contacts, want %d", got, n-2)
	}
	for i := range n {
		ids := sb.mb.FindByCRMGUID(ops[i].CRMGUID)
		if i == 1 || i == 4 {
			if len(ids) != 0 {
				t.Errorf("contact %d not deleted", i)
			}
			continue
		}
		if len(ids) != 1 {
			t.Fatalf("contact %d is in the mailbox %d times", i, len(ids))
		}
		e, _ := sb.mb.Get(ids[0])
		want := fullFields(100+i, nil)
		want[crm.FieldJobTitle] = fmt.Sprintf("Updated %d", i)
		want[crm.FieldPhoneFax] = fmt.Sprintf("fax %d", i)
		if diff := cmp.Diff(want, outlook.ToRecordFields(e.Contact)); diff != "" {
			t.Errorf("contact %d (-want +got):\n%s", i, diff)
		}
	}
	if faults.Pending() != 0 {
		t.Errorf("%d faults never fired", faults.Pending())
	}
	if strings.Contains(logs.String(), testToken) {
		t.Error("the access token appears in the log")
	}
	return logs
}

func TestFaultThrottleBursts(t *testing.T) {
	t.Parallel()
	// A burst: every request in the first 50ms of each phase is throttled.
	var hits atomic.Int32
	logs := faultScenario(t, 30, func(f *outlook.Faults) {
		start := time.Now()
		f.SetHook(func(outlook.Call) *outlook.Fault {
			if time.Since(start) > 50*time.Millisecond {
				return nil
			}
			hits.Add(1)
			return &outlook.Fault{Kind: outlook.FaultThrottle, RetryAfter: 100 * time.Millisecond}
		})
	})
	if hits.Load() == 0 || !strings.Contains(logs.String(), "graph throttled") {
		t.Error("no throttling was seen")
	}
}

func TestFaultServiceUnavailable(t *testing.T) {
	t.Parallel()
	faultScenario(t, 30, func(f *outlook.Faults) {
		f.Inject(2, outlook.Fault{Kind: outlook.FaultServerError, Status: 503})
		f.Inject(2, outlook.Fault{Kind: outlook.FaultServerError, Status: 500})
	})
}

func TestFaultDroppedConnections(t *testing.T) {
	t.Parallel()
	faultScenario(t, 30, func(f *outlook.Faults) {
		f.Inject(3, outlook.Fault{Kind: outlook.FaultDrop})
	})
}

func TestFaultLostResponses(t *testing.T) {
	t.Parallel()
	// Writes that happen but whose answer is lost: creates must not
	// duplicate, updates must not lose their values.
	logs := faultScenario(t, 45, func(f *outlook.Faults) {
		f.Inject(3, outlook.Fault{Kind: outlook.FaultLostResponse})
	})
	if !strings.Contains(logs.String(), "graph create found after its answer was lost") && !strings.Contains(logs.String(), "graph write lost") {
		t.Error("no lost write was seen")
	}
}

func TestFaultTimeout(t *testing.T) {
	t.Parallel()
	faults := &outlook.Faults{}
	sb := newSandbox(t, sandbox.Options{Faults: faults})
	cl := newTestClient(t, sb.url, func(c *graph.Config) { c.RequestTimeout = 200 * time.Millisecond })
	res := apply(t, cl, engine.Op{Kind: engine.Create, CRMGUID: "f0000000-0000-0000-0000-000000000001", Fields: fullFields(1, nil)})
	mustOK(t, res)
	faults.Inject(1, outlook.Fault{Kind: outlook.FaultTimeout, RetryAfter: 2 * time.Second})
	recs, err := cl.Get(context.Background(), []string{res[0].Record.ID})
	if err != nil || len(recs) != 1 {
		t.Fatalf("Get after a timeout: %v", err)
	}
}

func TestAllFaultsUnauthorized(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Options{})
	cl := newTestClient(t, sb.url, func(c *graph.Config) { c.TokenSource = failingSource{} })
	_, err := cl.Changes(context.Background(), "")
	if crm.ErrorCode(err) != crm.EUNAUTHORIZED {
		t.Fatalf("err = %v, want EUNAUTHORIZED", err)
	}
}

type failingSource struct{}

func (failingSource) Token() (*oauth2.Token, error) { return nil, fmt.Errorf("refresh token revoked") }

// TestTokenNeverLogged drives the client through throttling, server
// errors, lost writes and a refused token with a debug-level log handler:
// the handler must see what happened, never the token.
func TestTokenNeverLogged(t *testing.T) {
	t.Parallel()
	faults := &outlook.Faults{}
	sb := newSandbox(t, sandbox.Options{Faults: faults})
	logs := &syncedBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cl := newTestClient(t, sb.url, func(c *graph.Config) { c.Logger = logger })
	faults.Inject(1, outlook.Fault{Kind: outlook.FaultThrottle, RetryAfter: 10 * time.Millisecond})
	faults.Inject(1, outlook.Fault{Kind: outlook.FaultServerError, Status: 502})
	faults.Inject(1, outlook.Fault{Kind: outlook.FaultLostResponse})
	var ops []engine.Op
	for i := range 5 {
		ops = append(ops, engine.Op{Kind: engine.Create, CRMGUID: fmt.Sprintf("70000000-0000-0000-0000-%012d", i), Fields: fullFields(i, nil)})
	}
	res, err := cl.Apply(context.Background(), ops)
	if err != nil {
		t.Fatal(err)
	}
	mustOK(t, res)
	// A refused token: the sandbox answers 401 without one; here the
	// bearer is empty.
	bad := newTestClient(t, sb.url, func(c *graph.Config) {
		c.Logger = logger
		c.TokenSource = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: ""})
	})
	if _, err := bad.Changes(context.Background(), ""); crm.ErrorCode(err) != crm.EUNAUTHORIZED {
		t.Fatalf("empty token: %v", err)
	} else if strings.Contains(err.Error(), testToken) {
		t.Fatal("an error carries the token")
	}
	out := logs.String()
	if out == "" {
		t.Fatal("nothing was logged: the test proves nothing")
	}
	if strings.Contains(out, testToken) || strings.Contains(out, "Bearer") {
		t.Fatalf("the log shows the token:\n%s", out)
	}
}

// TestBatchedStatusSeesInnerThrottles: two writes inside a $batch get 429
// while the $batch itself answers 200; BatchedStatus is told of every
// inner answer by its own status, the two 429s among them.
func TestBatchedStatusSeesInnerThrottles(t *testing.T) {
	t.Parallel()
	faults := &outlook.Faults{}
	var throttled atomic.Int32
	faults.SetHook(func(c outlook.Call) *outlook.Fault {
		if !c.Write || strings.HasSuffix(c.Op, "/$batch") || throttled.Add(1) > 2 {
			return nil
		}
		return &outlook.Fault{Kind: outlook.FaultThrottle}
	})
	sb := newSandbox(t, sandbox.Options{Faults: faults})
	var mu sync.Mutex
	seen := map[int]int64{}
	var total int64
	cl := newTestClient(t, sb.url, func(c *graph.Config) {
		c.BatchedStatus = func(status int) {
			mu.Lock()
			seen[status]++
			total++
			mu.Unlock()
		}
	})
	var ops []engine.Op
	for i := range 5 {
		ops = append(ops, engine.Op{Kind: engine.Create, CRMGUID: fmt.Sprintf("b0000000-0000-0000-0000-%012d", i), Fields: fullFields(i, nil)})
	}
	res, err := cl.Apply(context.Background(), ops)
	if err != nil {
		t.Fatal(err)
	}
	mustOK(t, res)
	mu.Lock()
	defer mu.Unlock()
	st := sb.srv.Stats()
	if seen[429] != 2 || st.InjectedFault != 2 {
		t.Errorf("inner 429s seen %d, sandbox injected %d; want 2 of each (all seen: %v)", seen[429], st.InjectedFault, seen)
	}
	if seen[201] != 5 {
		t.Errorf("inner 201s seen %d, want one per create (all seen: %v)", seen[201], seen)
	}
	if total != st.BatchItems {
		t.Errorf("%d inner answers seen, the sandbox received %d requests inside batches", total, st.BatchItems)
	}
}
