package sandbox

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crmsync/crmsync/outlook"
)

// Options tune the sandbox. The zero value gives Graph's documented
// limits with no added latency.
type Options struct {
	// Latency is added to every HTTP request (a $batch counts once),
	// while it holds its concurrency slot, to model the network and
	// service time of a real tenant.
	Latency time.Duration
	// BatchItemLatency is added to each request inside a $batch.
	BatchItemLatency time.Duration
	// MaxConcurrent is the number of requests a mailbox serves at once
	// (Graph: 4); one more gets 429 MailboxConcurrency.
	MaxConcurrent int
	// RateLimit requests per RateWindow are served (Graph: 10,000 per 10
	// minutes per app and mailbox); the next gets 429 with Retry-After.
	RateLimit  int
	RateWindow time.Duration
	// ListPageSize is the default page of a list (Graph: 10); DeltaPageSize
	// the default page of a delta round. Prefer: odata.maxpagesize and
	// $top override them.
	ListPageSize  int
	DeltaPageSize int
	// MaxDeltaPage caps a delta page whatever odata.maxpagesize asks
	// (default 1000, as $top on lists). Real Graph is reported to stop at
	// 200 contacts (not documented); set 200 to see its effect.
	MaxDeltaPage int
	// Faults injects failures into requests (each HTTP request, and each
	// request inside a $batch, consults it once).
	Faults *outlook.Faults
	// Logger receives one line per failed request; nil discards.
	Logger *slog.Logger
	// Now is the clock for rate windows and error dates.
	Now func() time.Time
}

// Stats counts what the sandbox served, so benchmarks can report how well
// a client batches.
type Stats struct {
	HTTPRequests  int64 // HTTP requests received, $batch included
	Batches       int64 // $batch requests
	BatchItems    int64 // requests inside batches
	Operations    int64 // requests served, inner ones counted individually
	Throttled     int64 // 429 answers (concurrency or rate)
	InjectedFault int64 // faults injected
}

// Server is a Graph-compatible HTTP front of one outlook.Mailbox.
type Server struct {
	mb       *outlook.Mailbox
	opt      Options
	inflight atomic.Int32

	rateMu sync.Mutex
	stamps []time.Time // start times of served requests, oldest first

	stats struct {
		http, batches, items, ops, throttled, faults atomic.Int64
	}
}

// NewServer returns the sandbox handler for mb; it serves Graph's paths
// under /v1.0 (e.g. /v1.0/me/contacts).
func NewServer(mb *outlook.Mailbox, opt Options) *Server {
	if opt.MaxConcurrent <= 0 {
		opt.MaxConcurrent = 4
	}
	if opt.RateLimit <= 0 {
		opt.RateLimit = 10_000
	}
	if opt.RateWindow <= 0 {
		opt.RateWindow = 10 * time.Minute
	}
	if opt.ListPageSize <= 0 {
		opt.ListPageSize = 10
	}
	if opt.DeltaPageSize <= 0 {
		opt.DeltaPageSize = 100
	}
	if opt.MaxDeltaPage <= 0 {
		opt.MaxDeltaPage = 1000
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{mb: mb, opt: opt}
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	return Stats{
		HTTPRequests: s.stats.http.Load(), Batches: s.stats.batches.Load(), BatchItems: s.stats.items.Load(),
		Operations: s.stats.ops.Load(), Throttled: s.stats.throttled.Load(), InjectedFault: s.stats.faults.Load(),
	}
}

// Mailbox returns the mailbox the server fronts.
func (s *Server) Mailbox() *outlook.Mailbox { return s.mb }

// request is one Graph call, from HTTP or from inside a $batch.
type request struct {
	ctx    context.Context
	method string
	path   string // below /v1.0, starting with "/"
	query  url.Values
	header http.Header
	body   []byte
	base   string // "http://host/v1.0"
}

// response is what a call answers.
type response struct {
	status int
	header http.Header
	body   []byte // the raw body (JSON, or binary for a photo)
	// drop asks to close the connection without answering (an injected
	// fault); the call may or may not have run.
	drop bool
}

// ServeHTTP answers one Graph request: authentication, the request size
// limit, then the call itself under the mailbox's limits ($batch: each
// inner request under them).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.stats.http.Add(1)
	reqID := newRequestID()
	w.Header().Set("request-id", reqID)
	if c := r.Header.Get("client-request-id"); c != "" {
		w.Header().Set("client-request-id", c)
	}
	base := "http://" + r.Host + "/v1.0"
	if r.TLS != nil {
		base = "https://" + r.Host + "/v1.0"
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/v1.0")
	if !ok || path == "" {
		s.write(w, s.errorResponse(http.StatusNotFound, "BadRequest", "Invalid version: the sandbox serves /v1.0 only."))
		return
	}
	if res := authorize(r.Header); res != nil {
		s.write(w, *res)
		return
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength <= outlook.MaxPhotoBytes {
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(io.LimitReader(r.Body, outlook.MaxPhotoBytes+1))
	body := buf.Bytes()
	if err != nil {
		s.write(w, s.errorResponse(http.StatusBadRequest, "BadRequest", "Could not read the request body."))
		return
	}
	if len(body) > outlook.MaxPhotoBytes {
		s.write(w, s.errorResponse(http.StatusRequestEntityTooLarge, outlook.CodeTooLarge, "The request exceeds the maximum size of 4 MB."))
		return
	}
	req := &request{ctx: r.Context(), method: r.Method, path: path, query: r.URL.Query(), header: r.Header, body: body, base: base}

	if path == "/$batch" {
		s.stats.batches.Add(1)
		if !s.sleep(r.Context(), s.opt.Latency) {
			return
		}
		res := s.batch(req)
		if res.drop {
			panic(http.ErrAbortHandler)
		}
		s.write(w, res)
		return
	}
	res := s.limited(req, s.opt.Latency)
	if res.drop {
		panic(http.ErrAbortHandler) // closes the connection without a response
	}
	if res.status >= 400 {
		s.opt.Logger.Debug("graph sandbox request failed", "method", r.Method, "path", path, "status", res.status)
	}
	s.write(w, res)
}

// limited runs one call under the mailbox's limits: the concurrency slot,
// the rate window, injected faults and the added latency.
func (s *Server) limited(req *request, latency time.Duration) response {
	if n := s.inflight.Add(1); int(n) > s.opt.MaxConcurrent {
		s.inflight.Add(-1)
		s.stats.throttled.Add(1)
		res := s.errorResponse(http.StatusTooManyRequests, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
		res.header.Set("Retry-After", "1")
		return res
	}
	defer s.inflight.Add(-1)
	if wait, ok := s.admit(); !ok {
		s.stats.throttled.Add(1)
		res := s.throttled(wait)
		return res
	}
	s.stats.ops.Add(1)
	if !s.sleep(req.ctx, latency) {
		return response{drop: true}
	}
	write := req.method != http.MethodGet
	if f, ok := s.opt.Faults.Next(outlook.Call{Op: req.method + " /v1.0" + req.path, Write: write}); ok {
		s.stats.faults.Add(1)
		switch f.Kind {
		case outlook.FaultThrottle, outlook.FaultServerError:
			ge := f.Error()
			res := s.errorResponse(ge.Status, ge.Code, ge.Message)
			if ge.Retry > 0 {
				res.header.Set("Retry-After", retryAfter(ge.Retry))
			}
			return res
		case outlook.FaultTimeout:
			s.sleep(req.ctx, f.RetryAfter)
			return response{drop: true}
		case outlook.FaultDrop:
			return response{drop: true}
		case outlook.FaultLostResponse:
			s.route(req)
			return response{drop: true}
		}
	}
	return s.route(req)
}

func (s *Server) throttled(wait time.Duration) response {
	res := s.errorResponse(http.StatusTooManyRequests, outlook.CodeTooManyRequests, "Please retry again later.")
	res.header.Set("Retry-After", retryAfter(wait))
	return res
}

// admit counts a request against the sliding rate window; when the window
// is full it says how long until a slot frees.
func (s *Server) admit() (time.Duration, bool) {
	now := s.opt.Now()
	s.rateMu.Lock()
	defer s.rateMu.Unlock()
	cut := now.Add(-s.opt.RateWindow)
	i := 0
	for i < len(s.stamps) && !s.stamps[i].After(cut) {
		i++
	}
	if i > 0 {
		s.stamps = append(s.stamps[:0], s.stamps[i:]...)
	}
	if len(s.stamps) >= s.opt.RateLimit {
		return s.stamps[0].Add(s.opt.RateWindow).Sub(now), false
	}
	s.stamps = append(s.stamps, now)
	return 0, true
}

func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// retryAfter renders a Retry-After delay in whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// authorize accepts any bearer token, as the sandbox has no directory;
// a request without one gets Graph's 401.
func authorize(h http.Header) *response {
	auth := h.Get("Authorization")
	scheme, token, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		res := errorBody(http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.", time.Now())
		res.header.Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"`)
		return &res
	}
	return nil
}

func (s *Server) write(w http.ResponseWriter, res response) {
	for k, vs := range res.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(res.body)))
	status := res.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	if len(res.body) > 0 {
		w.Write(res.body)
	}
}

func (s *Server) errorResponse(status int, code, message string) response {
	return errorBody(status, code, message, s.opt.Now())
}

// errorBody renders Graph's error envelope (testdata/graph/error.example.json).
func errorBody(status int, code, message string, now time.Time) response {
	inner := map[string]string{
		"date":       now.UTC().Format("2006-01-02T15:04:05"),
		"request-id": newRequestID(),
	}
	if status == http.StatusTooManyRequests && code == outlook.CodeTooManyRequests {
		inner["code"], inner["status"], inner["message"] = "429", "429", "Please retry after"
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": message, "innerError": inner}})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return response{status: status, header: h, body: b}
}

// fromError answers a mailbox failure as Graph does.
func (s *Server) fromError(err error) response {
	var ge *outlook.GraphError
	if errors.As(err, &ge) {
		res := s.errorResponse(ge.Status, ge.Code, ge.Message)
		if ge.Retry > 0 {
			res.header.Set("Retry-After", retryAfter(ge.Retry))
		}
		return res
	}
	var pe *outlook.PatchError
	if errors.As(err, &pe) {
		return s.errorResponse(http.StatusBadRequest, "RequestBodyRead", pe.Message)
	}
	s.opt.Logger.Error("graph sandbox internal error", "err", err)
	return s.errorResponse(http.StatusInternalServerError, "ErrorInternalServerError", "An internal server error occurred.")
}

func jsonResponse(status int, v any) response {
	b, ok := v.(json.RawMessage) // rendered already
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			return errorBody(http.StatusInternalServerError, "ErrorInternalServerError", "encoding the response failed", time.Now())
		}
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8")
	h.Set("OData-Version", "4.0")
	return response{status: status, header: h, body: b}
}

func newRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// b64 decodes a base64 body of a $batch request.
func b64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}
