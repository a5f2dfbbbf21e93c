package graph

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestLimiterServesOlderCallsFirst fills the slots, queues takers of
// several ranks, and frees one slot at a time: the lowest rank goes first,
// equal ranks in arrival order, and a taker that gives up holds nothing.
func TestLimiterServesOlderCallsFirst(t *testing.T) {
	l := newLimiter(2, 1000, time.Minute, time.Now)
	ctx := context.Background()
	for range 2 {
		if err := l.take(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	granted := make(chan string, 8)
	queue := func(name string, rank int64, ctx context.Context) {
		l.slots.Lock()
		queued := len(l.waiters)
		l.slots.Unlock()
		go func() {
			if err := l.take(withRank(ctx, rank), 1); err != nil {
				granted <- name + " gave up"
				return
			}
			granted <- name
		}()
		for { // wait until it is in line, so arrival order is known
			l.slots.Lock()
			n := len(l.waiters)
			l.slots.Unlock()
			if n > queued {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	queue("call 3", 3, ctx)
	queue("call 2 first", 2, ctx)
	queue("call 1 (gives up)", 1, cancelled)
	queue("call 2 second", 2, ctx)
	cancel()
	if got := <-granted; got != "call 1 (gives up) gave up" {
		t.Fatalf("first answer %q, want the cancelled taker giving up", got)
	}
	var order []string
	for range 3 {
		l.release(1)
		order = append(order, <-granted)
	}
	if diff := cmp.Diff([]string{"call 2 first", "call 2 second", "call 3"}, order); diff != "" {
		t.Errorf("grant order (-want +got):\n%s", diff)
	}
	l.release(1)
	l.release(1)
	if l.free != 2 || len(l.waiters) != 0 {
		t.Errorf("after all releases: %d free, %d waiting; want 2 and 0", l.free, len(l.waiters))
	}
}

// TestEncodeRequestsIsJSONMarshal checks the hand-written $batch envelope
// against encoding/json's.
func TestEncodeRequestsIsJSONMarshal(t *testing.T) {
	reqs := []batchRequest{
		{ID: "1", Method: "POST", URL: "/me/contacts", Headers: map[string]string{"Content-Type": "application/json"}, Body: json.RawMessage(`{"givenName":"Jan \"Honza\"","emailAddresses":[{"address":"j@x.cz"}]}`)},
		{ID: "2", Method: "GET", URL: "/me/contacts/AAk=?$select=id", DependsOn: []string{"1"}},
		{ID: "3", Method: "PUT", URL: "/me/contacts/AAk=/photo/$value", Headers: map[string]string{"Content-Type": "image/jpeg"}, Body: json.RawMessage(`"/9j/4AAQ"`), DependsOn: []string{"2"}},
	}
	got, err := encodeRequests(reqs)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(map[string]any{"requests": reqs})
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, got)
	}
	json.Unmarshal(want, &w)
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("envelope differs from json.Marshal (-want +got):\n%s", diff)
	}
}

// TestLimiterWindow reserves on a fake clock: at most limit sends in any
// window, a full window says how long until its oldest send leaves it, and
// a $batch's cost counts each of its requests.
func TestLimiterWindow(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const window = 10 * time.Second
	l := newLimiter(4, 5, window, func() time.Time { return now })
	for i := range 5 {
		if wait := l.reserve(1); wait != 0 {
			t.Fatalf("send %d of 5 waits %v in an empty window", i, wait)
		}
		now = now.Add(time.Second)
	}
	// Sends at 0..4 s, now 5 s: the first leaves the window at 10 s.
	if wait := l.reserve(1); wait != 5*time.Second {
		t.Fatalf("sixth send waits %v, want 5s", wait)
	}
	now = now.Add(5 * time.Second)
	if wait := l.reserve(1); wait != 0 {
		t.Fatalf("send after the oldest left the window waits %v", wait)
	}
	// Window holds sends at 1..4 s and 10 s; a batch of 3 needs the sends
	// at 1, 2 and 3 s gone: until 13 s.
	if wait := l.reserve(3); wait != 3*time.Second {
		t.Fatalf("batch of 3 waits %v, want 3s", wait)
	}
}
