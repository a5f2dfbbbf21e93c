package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	crm "github.com/crmsync/crmsync"
)

// limiter keeps one mailbox's traffic inside Graph's Outlook limits
// (graph-and-peers.md §1.10): at most MaxInFlight requests at once, at most
// WindowRequests requests per Window, and a fence that holds every request
// back after a 429 or 503 until its Retry-After has passed.
//
// Free slots go to the waiting request of the oldest call first (see
// withRank): when the engine sends the next batch of writes while one is
// still under way, the older batch finishes as if alone and the newer one
// fills the slots its tail leaves free.
type limiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	slots   sync.Mutex
	free    int
	waiters []*waiter // by rank, then arrival

	mu     sync.Mutex
	fence  time.Time
	stamps []time.Time // send times inside the window, oldest first
}

type waiter struct {
	rank  int64
	slots int
	ready chan struct{}
}

func newLimiter(inFlight, limit int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{free: inFlight, limit: limit, window: window, now: now}
}

type rankKey struct{}

// withRank marks the requests made under ctx as those of the call number
// rank: lower ranks get free slots first; unmarked requests rank 0.
func withRank(ctx context.Context, rank int64) context.Context {
	return context.WithValue(ctx, rankKey{}, rank)
}

// acquire waits for the fence, slots free slots (a $batch whose requests
// run in parallel takes one per request the mailbox runs at once) and room
// in the window for cost requests (a $batch counts each inner request, as
// Graph does).
func (l *limiter) acquire(ctx context.Context, cost, slots int) error {
	cost = min(cost, l.limit)
	for {
		if err := l.waitFence(ctx); err != nil {
			return err
		}
		if err := l.take(ctx, slots); err != nil {
			return err
		}
		wait := l.reserve(cost)
		if wait == 0 {
			return nil
		}
		l.release(slots)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// take waits for slots free slots. Waiters are served strictly in order,
// so a taker of several slots never holds part of what another waits for.
func (l *limiter) take(ctx context.Context, slots int) error {
	rank, _ := ctx.Value(rankKey{}).(int64)
	l.slots.Lock()
	if len(l.waiters) == 0 && l.free >= slots {
		l.free -= slots
		l.slots.Unlock()
		return nil
	}
	w := &waiter{rank: rank, slots: slots, ready: make(chan struct{})}
	i := len(l.waiters)
	for i > 0 && l.waiters[i-1].rank > rank {
		i--
	}
	l.waiters = slices.Insert(l.waiters, i, w)
	l.slots.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		l.slots.Lock()
		defer l.slots.Unlock()
		if i := slices.Index(l.waiters, w); i >= 0 {
			l.waiters = slices.Delete(l.waiters, i, i+1)
		} else {
			l.free += w.slots // granted meanwhile
		}
		l.grant()
		return ctx.Err()
	}
}

func (l *limiter) release(slots int) {
	l.slots.Lock()
	defer l.slots.Unlock()
	l.free += slots
	l.grant()
}

// grant hands free slots to the waiters at the head of the line.
func (l *limiter) grant() {
	for len(l.waiters) > 0 && l.free >= l.waiters[0].slots {
		w := l.waiters[0]
		l.waiters = l.waiters[1:]
		l.free -= w.slots
		close(w.ready)
	}
}

// reserve records cost sends now, or returns how long to wait when the
// fence is up or the window is full.
func (l *limiter) reserve(cost int) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Before(l.fence) {
		return l.fence.Sub(now)
	}
	cut := 0
	for cut < len(l.stamps) && now.Sub(l.stamps[cut]) >= l.window {
		cut++
	}
	l.stamps = l.stamps[cut:]
	if len(l.stamps)+cost > l.limit {
		wait := l.window - now.Sub(l.stamps[len(l.stamps)+cost-l.limit-1])
		return max(wait, time.Millisecond)
	}
	for range cost {
		l.stamps = append(l.stamps, now)
	}
	return 0
}

func (l *limiter) waitFence(ctx context.Context) error {
	for {
		l.mu.Lock()
		wait := l.fence.Sub(l.now())
		l.mu.Unlock()
		if wait <= 0 {
			return nil
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// pause raises the fence so that no request starts for d.
func (l *limiter) pause(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := l.now().Add(d); t.After(l.fence) {
		l.fence = t
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// call is one HTTP request to Graph.
type call struct {
	method string
	// url is a path under /v1.0 ("/me/contacts") or an absolute URL that
	// Graph handed out (a nextLink or deltaLink), used unchanged.
	url         string
	body        []byte
	contentType string
	header      map[string]string
	// prefer is added to Prefer next to IdType="ImmutableId".
	prefer string
	// safe marks a request that may be sent again when its outcome is
	// unknown (the connection dropped after it was sent).
	safe bool
	// cost is how many requests Graph counts for it (1, or the size of a
	// $batch).
	cost int
	// slots is how many requests it runs in the mailbox at once (1, or up
	// to 4 for a $batch without dependsOn).
	slots int
}

// reply is Graph's answer to a call.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// errUnknownOutcome marks a write that may or may not have been applied:
// the request was sent, but its answer never came back.
var errUnknownOutcome = errors.New("graph: the answer to a write was lost")

// do sends c, honouring the limits, and retries what is safe to retry:
// 429 and 503 (after Retry-After, they were not processed), other 5xx and
// dropped connections for safe requests. A lost answer to an unsafe request
// returns errUnknownOutcome. Any other status is returned as a reply.
func (cl *Client) do(ctx context.Context, c call) (*reply, error) {
	var last error
	// stopped is the error of a call whose ctx ended: with the failure
	// that kept it retrying, so that "connection refused" is not hidden
	// behind "context deadline exceeded".
	stopped := func(err error) error {
		if last == nil {
			return err
		}
		return fmt.Errorf("%s %s: %w (after: %v)", c.method, redactURL(c.url), err, last)
	}
	for attempt := 0; attempt < cl.cfg.MaxAttempts; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, cl.backoff(attempt)); err != nil {
				return nil, stopped(err)
			}
		}
		r, err := cl.once(ctx, c)
		if err != nil {
			if ctx.Err() != nil {
				return nil, stopped(ctx.Err())
			}
			var ce *crm.Error
			if errors.As(err, &ce) {
				return nil, err // sign-in problems: retrying will not help
			}
			if !c.safe {
				cl.log.Warn("graph write lost", "method", c.method, "url", redactURL(c.url), "err", err)
				return nil, fmt.Errorf("%w: %v", errUnknownOutcome, err)
			}
			last = err
			continue
		}
		switch {
		case r.status == http.StatusTooManyRequests || r.status == http.StatusServiceUnavailable:
			d := retryAfter(r.header.Get("Retry-After"), cl.backoff(attempt+1))
			cl.lim.pause(min(d, cl.cfg.MaxRetryAfter))
			cl.log.Info("graph throttled", "status", r.status, "retry_after", d)
			last = fmt.Errorf("graph answered %d", r.status)
			continue
		case r.status >= 500:
			if !c.safe {
				return nil, fmt.Errorf("%w: graph answered %d", errUnknownOutcome, r.status)
			}
			last = fmt.Errorf("graph answered %d: %s", r.status, errorText(r.body))
			continue
		}
		return r, nil
	}
	return nil, fmt.Errorf("%s %s: giving up after %d attempts: %w", c.method, redactURL(c.url), cl.cfg.MaxAttempts, last)
}

// once sends c one time.
func (cl *Client) once(ctx context.Context, c call) (*reply, error) {
	tok, err := cl.cfg.TokenSource.Token()
	if err != nil {
		return nil, &crm.Error{Code: crm.EUNAUTHORIZED, Message: "cannot get a Microsoft 365 access token; sign in again with crmsync outlook connect", Err: err}
	}
	cost := max(c.cost, 1)
	slots := min(max(c.slots, 1), cl.cfg.MaxInFlight)
	if err := cl.lim.acquire(ctx, cost, slots); err != nil {
		return nil, err
	}
	defer cl.lim.release(slots)

	rctx, cancel := context.WithTimeout(ctx, cl.cfg.RequestTimeout)
	defer cancel()
	u := c.url
	if strings.HasPrefix(u, "/") {
		u = cl.base + u
	} else if !strings.HasPrefix(u, cl.base+"/") {
		// A link Graph handed out must lead back to the same service:
		// the bearer token must never go anywhere else.
		return nil, &crm.Error{Code: crm.EINVALID, Message: "graph: refusing to follow a link outside " + cl.base}
	}
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(rctx, c.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	prefer := `IdType="ImmutableId"`
	if c.prefer != "" {
		prefer = c.prefer + "," + prefer
	}
	req.Header.Set("Prefer", prefer)
	req.Header.Set("Accept", "application/json")
	if c.body != nil {
		ct := c.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	cl.requests.Add(1)
	resp, err := cl.http.Do(req)
	if err != nil {
		// Keep delta and skip tokens out of messages and logs.
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("%s %s: %w", ue.Op, redactURL(ue.URL), ue.Err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if resp.ContentLength > 0 && resp.ContentLength <= maxResponse {
		buf.Grow(int(resp.ContentLength) + bytes.MinRead) // one allocation: ReadFrom wants MinRead spare
	}
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, maxResponse))
	data := buf.Bytes()
	if err != nil {
		return nil, fmt.Errorf("reading the answer to %s: %w", c.method, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, &crm.Error{Code: crm.EUNAUTHORIZED, Message: "Microsoft 365 refused the access token; sign in again with crmsync outlook connect",
			Err: fmt.Errorf("graph answered 401: %s", errorText(data))}
	}
	return &reply{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// maxResponse bounds what is read of one answer: a $batch of 20 photos of
// 4 MB each, base64-encoded, plus slack.
const maxResponse = 128 << 20

func (cl *Client) backoff(attempt int) time.Duration {
	d := cl.cfg.RetryBase << min(attempt-1, 6)
	return d/2 + rand.N(d/2+1)
}

// retryAfter parses Retry-After: seconds (Graph sends fractions, e.g.
// "2.128") or an HTTP date; def when absent or unreadable.
func retryAfter(v string, def time.Duration) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return def
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return def
}

// redactURL drops the query of a URL for logs: delta and skip tokens are
// capabilities.
func redactURL(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}
