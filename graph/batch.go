package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// maxBatch is Graph's limit of requests in one $batch (§1.9).
const maxBatch = 20

// maxBatchBytes keeps a $batch under Graph's 4 MB per REST request, with
// room for the envelope; base64 makes a photo a third larger.
const maxBatchBytes = 3_500_000

// sub is one request inside a $batch.
type sub struct {
	method string
	url    string // relative to /v1.0, e.g. "/me/contacts/{id}"
	// body is JSON, or raw bytes when contentType is not JSON (a photo).
	body        []byte
	contentType string
	header      map[string]string
	safe        bool // may be sent again when its outcome is unknown
}

// subResult is the answer to one sub.
type subResult struct {
	status int
	header map[string]string
	body   []byte
	err    error // transport failure, or errUnknownOutcome
}

// unit is a run of subs that stays together, in order, in one $batch
// (e.g. a photo upload and the read of the changeKey it produced). A sub
// after a failed one is not run; it gets the failure.
type unit []sub

type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      json.RawMessage   `json:"body,omitempty"`
	DependsOn []string          `json:"dependsOn,omitempty"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// unitState tracks a unit across rounds.
type unitState struct {
	pos      int // next sub to send
	attempts int
	results  []subResult
	done     bool
}

// batch runs units through $batch: up to 20 requests per batch, chained
// with dependsOn so that each batch runs one request at a time in the
// mailbox, and up to MaxInFlight batches at once — never more than four
// requests in the mailbox, as Outlook allows (§1.9, §1.10). Requests that
// were not run (424), were throttled (429/503, which raise the fence) or
// failed on the server are queued again while that is safe. The answer
// holds one result per sub of each unit.
func (cl *Client) batch(ctx context.Context, units []unit) ([][]subResult, error) {
	return cl.schedule(ctx, units, nil, nil, cl.cfg.ParallelBatches)
}

// batchParallel runs independent single-request units in $batch requests
// without dependsOn, one batch at a time: Outlook runs up to four of its
// requests at once, which is the mailbox's whole budget. It suits reads
// that often fail (photos: 404 when there is none), which in a chain
// would hold back every request after them.
func (cl *Client) batchParallel(ctx context.Context, units []unit) ([][]subResult, error) {
	return cl.schedule(ctx, units, nil, nil, true)
}

// batchThen is batch with follow-ups: when unit i is done, then(i, its
// results) may return more units (e.g. a photo upload for a contact just
// created), which are queued at once, ahead of the rest, and numbered
// after the others in the answer. mayFollow(i) says whether unit i can
// have follow-ups. Work flows continuously: a free slot takes the next 20
// queued requests, and waits for a full batch only while batches out may
// still add follow-ups. then runs under the scheduler's lock.
func (cl *Client) batchThen(ctx context.Context, units []unit, mayFollow func(i int) bool, then func(i int, res []subResult) []unit) ([][]subResult, error) {
	return cl.schedule(ctx, units, mayFollow, then, cl.cfg.ParallelBatches)
}

// schedule is batchThen with the batch shape chosen: chained batches, up
// to MaxInFlight at once, or parallel ones, one at a time.
func (cl *Client) schedule(ctx context.Context, units []unit, mayFollow func(i int) bool, then func(i int, res []subResult) []unit, parallel bool) ([][]subResult, error) {
	workers := cl.cfg.MaxInFlight
	if parallel {
		workers = 1
	}
	var (
		mu         sync.Mutex
		cond       = sync.NewCond(&mu)
		states     []*unitState
		queue      []int
		queuedSubs int
		inFlight   int
		following  int // units out that may add follow-ups
		failure    error
	)
	follows := func(i int) bool { return then != nil && mayFollow != nil && i < len(units) && mayFollow(i) }
	all := []unit{}
	// add queues units; follow-ups (front) go before what waits, so that
	// work under way ends first instead of trailing the call alone.
	add := func(us []unit, front bool) {
		var added []int
		for _, u := range us {
			all = append(all, u)
			states = append(states, &unitState{results: make([]subResult, len(u))})
			if len(u) == 0 {
				states[len(states)-1].done = true
				continue
			}
			added = append(added, len(all)-1)
			queuedSubs += len(u)
		}
		if front {
			queue = append(added, queue...)
		} else {
			queue = append(queue, added...)
		}
	}
	add(units, false)
	// settle requeues a unit that still has requests to send, or ends it.
	settle := func(i int) {
		st := states[i]
		if !st.done && st.pos < len(all[i]) {
			queue = append(queue, i)
			queuedSubs += len(all[i]) - st.pos
			return
		}
		st.done = true
		if then != nil {
			add(then(i, st.results), true)
		}
	}
	worker := func() {
		mu.Lock()
		defer mu.Unlock()
		for {
			if failure != nil || (len(queue) == 0 && inFlight == 0) {
				cond.Broadcast()
				return
			}
			if err := ctx.Err(); err != nil {
				failure = err
				continue
			}
			if len(queue) == 0 || (queuedSubs < cl.cfg.BatchSize && following > 0) {
				cond.Wait()
				continue
			}
			size := cl.cfg.BatchSize
			if !parallel {
				size = cl.batchSizeFor(queuedSubs)
			}
			group := packQueue(all, states, &queue, size)
			us := make([]unit, len(group))
			sts := make([]*unitState, len(group))
			for k, i := range group {
				us[k], sts[k] = all[i], states[i]
				queuedSubs -= len(all[i]) - states[i].pos
				if follows(i) {
					following++
				}
			}
			inFlight++
			mu.Unlock()
			err := cl.runBatch(ctx, us, sts, parallel)
			mu.Lock()
			inFlight--
			if err != nil && failure == nil {
				failure = err
			}
			for _, i := range group {
				if follows(i) {
					following--
				}
				settle(i)
			}
			cond.Broadcast()
		}
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(worker)
	}
	wg.Wait()
	if failure != nil {
		return nil, failure
	}
	out := make([][]subResult, len(all))
	for i, s := range states {
		out[i] = s.results
	}
	return out, nil
}

// batchSizeFor spreads the last queued requests evenly over a multiple of
// MaxInFlight batches, so that the final round keeps every slot busy
// instead of leaving one long batch to finish alone — unless that would
// make batches less than half full.
func (cl *Client) batchSizeFor(queued int) int {
	full, slots := cl.cfg.BatchSize, cl.cfg.MaxInFlight
	if queued >= 2*full*slots {
		return full
	}
	n := (queued + full - 1) / full
	spread := (n + slots - 1) / slots * slots
	if size := (queued + spread - 1) / spread; size >= full/2 {
		return size
	}
	// Too few requests to be worth more round trips.
	return max(1, (queued+n-1)/n)
}

// packQueue takes units off the head of the queue for one batch: at most
// size requests and maxBatchBytes of bodies, each unit's remaining
// requests together.
func packQueue(all []unit, states []*unitState, queue *[]int, size int) []int {
	var group []int
	n, bytes := 0, 0
	k := 0
	for ; k < len(*queue); k++ {
		i := (*queue)[k]
		rest := all[i][states[i].pos:]
		b := 0
		for _, s := range rest {
			b += len(s.body)*4/3 + 200
		}
		if len(group) > 0 && (n+len(rest) > size || bytes+b > maxBatchBytes) {
			break
		}
		group = append(group, i)
		n += len(rest)
		bytes += b
	}
	*queue = (*queue)[k:]
	return group
}

type slot struct{ unit, sub int }

// runBatch sends one $batch holding the remaining subs of units and
// records what came back in their states. Only a failure that ends the whole call
// (context, sign-in) is returned.
func (cl *Client) runBatch(ctx context.Context, units []unit, states []*unitState, parallel bool) error {
	var reqs []batchRequest
	var slots []slot
	safe := true
	for i := range units {
		for j := states[i].pos; j < len(units[i]); j++ {
			s := units[i][j]
			id := strconv.Itoa(len(reqs) + 1)
			r := batchRequest{ID: id, Method: s.method, URL: s.url}
			if len(s.header) > 0 || s.body != nil {
				r.Headers = map[string]string{}
				for k, v := range s.header {
					r.Headers[k] = v
				}
			}
			if s.body != nil {
				ct := s.contentType
				if ct == "" {
					ct = "application/json"
				}
				r.Headers["Content-Type"] = ct
				if isJSON(ct) {
					r.Body = s.body
				} else {
					r.Body, _ = json.Marshal(base64.StdEncoding.EncodeToString(s.body))
				}
			}
			if !parallel && len(reqs) > 0 {
				r.DependsOn = []string{reqs[len(reqs)-1].ID}
			}
			reqs = append(reqs, r)
			slots = append(slots, slot{i, j})
			safe = safe && s.safe
		}
	}
	payload, err := encodeRequests(reqs)
	if err != nil {
		return fmt.Errorf("encoding $batch: %w", err)
	}
	width := 1
	if parallel {
		width = min(len(reqs), cl.cfg.MaxInFlight)
	}
	r, err := cl.do(ctx, call{method: http.MethodPost, url: "/$batch", body: payload, safe: safe, cost: len(reqs), slots: width})
	if err != nil {
		if errors.Is(err, errUnknownOutcome) {
			// The batch may have run in part: safe requests go again,
			// unsafe ones report that their outcome is unknown.
			for _, sl := range slots {
				st := states[sl.unit]
				if st.done || sl.sub != st.pos {
					continue
				}
				if units[sl.unit][sl.sub].safe {
					cl.retryOrFail(st, units[sl.unit], err)
				} else {
					cl.finish(st, units[sl.unit], sl.sub, subResult{err: err})
				}
			}
			return nil
		}
		return err
	}
	if r.status != http.StatusOK {
		perr := statusError("$batch", r.status, r.body)
		for i := range units {
			cl.finish(states[i], units[i], states[i].pos, subResult{status: r.status, err: perr})
		}
		return nil
	}
	var answer struct {
		Responses []batchResponse `json:"responses"`
	}
	if err := json.Unmarshal(r.body, &answer); err != nil {
		return fmt.Errorf("decoding $batch answer: %w", err)
	}
	byID := make(map[string]batchResponse, len(answer.Responses))
	for _, a := range answer.Responses {
		byID[a.ID] = a
		if cl.cfg.BatchedStatus != nil {
			cl.cfg.BatchedStatus(a.Status)
		}
	}
	for k, sl := range slots {
		st := states[sl.unit]
		if st.done || sl.sub != st.pos {
			continue // an earlier sub of the unit failed or was not run
		}
		s := units[sl.unit][sl.sub]
		a, ok := byID[reqs[k].ID]
		switch {
		case !ok || a.Status == http.StatusFailedDependency:
			// Not run: send again next round; the first request of a
			// batch has no dependency, so every round makes progress.
			if !ok || k == 0 {
				cl.retryOrFail(st, units[sl.unit], fmt.Errorf("$batch did not run request %s (status %d)", reqs[k].ID, a.Status))
			}
		case a.Status == http.StatusTooManyRequests || a.Status == http.StatusServiceUnavailable:
			d := retryAfter(header(a.Headers, "Retry-After"), cl.backoff(st.attempts+1))
			cl.lim.pause(min(d, cl.cfg.MaxRetryAfter))
			cl.retryOrFail(st, units[sl.unit], fmt.Errorf("graph answered %d", a.Status))
		case a.Status >= 500:
			if s.safe {
				cl.retryOrFail(st, units[sl.unit], fmt.Errorf("graph answered %d: %s", a.Status, errorText(a.Body)))
			} else {
				cl.finish(st, units[sl.unit], sl.sub, subResult{status: a.Status, err: fmt.Errorf("%w: graph answered %d", errUnknownOutcome, a.Status)})
			}
		default:
			res := subResult{status: a.Status, header: a.Headers, body: decodeBody(a)}
			if a.Status >= 400 {
				res.err = statusError(s.method+" "+opName(s.url), a.Status, res.body)
				cl.finish(st, units[sl.unit], sl.sub, res)
				continue
			}
			st.results[sl.sub] = res
			st.pos++
			st.attempts = 0
		}
	}
	return nil
}

// encodeRequests writes the $batch payload with the bodies spliced in as
// they are: json.Marshal would check and compact again each body, JSON
// this client encoded itself.
func encodeRequests(reqs []batchRequest) ([]byte, error) {
	size := 16
	for _, r := range reqs {
		size += len(r.Body) + 256
	}
	b := append(make([]byte, 0, size), `{"requests":[`...)
	for i, r := range reqs {
		if i > 0 {
			b = append(b, ',')
		}
		body := r.Body
		r.Body = nil
		head, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		if body == nil {
			b = append(b, head...)
			continue
		}
		b = append(b, head[:len(head)-1]...)
		b = append(b, `,"body":`...)
		b = append(b, body...)
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

// retryOrFail counts a failed attempt of the unit's current sub; past
// MaxAttempts the unit ends with err.
func (cl *Client) retryOrFail(st *unitState, u unit, err error) {
	st.attempts++
	if st.attempts >= cl.cfg.MaxAttempts {
		cl.finish(st, u, st.pos, subResult{err: fmt.Errorf("giving up after %d attempts: %w", st.attempts, err)})
	}
}

// finish ends a unit at sub j with res; later subs get the same failure.
func (cl *Client) finish(st *unitState, u unit, j int, res subResult) {
	for k := j; k < len(u); k++ {
		st.results[k] = res
	}
	st.done = true
}

// decodeBody returns an inner answer's body: JSON as is, other content
// (a photo) decoded from the base64 string Graph puts in its place.
func decodeBody(a batchResponse) []byte {
	if len(a.Body) == 0 || string(a.Body) == "null" {
		return nil
	}
	if a.Body[0] == '"' && !isJSON(header(a.Headers, "Content-Type")) {
		var s string
		if json.Unmarshal(a.Body, &s) == nil {
			if b, err := base64.StdEncoding.DecodeString(s); err == nil {
				return b
			}
		}
	}
	return a.Body
}

func isJSON(ct string) bool {
	return ct == "" || strings.Contains(strings.ToLower(ct), "json")
}

// header looks a header up case-insensitively, as JSON keys are not
// canonicalised.
func header(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// opName shortens a request URL to its resource for error messages.
func opName(u string) string {
	u, _, _ = strings.Cut(u, "?")
	return u
}
