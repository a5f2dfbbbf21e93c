package ewayapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crmsync/crmsync"
)

// eWay return codes used by this server (reference/eway-crm.md §3.1).
const (
	rcSuccess                  = "rcSuccess"
	rcGeneralError             = "rcGeneralError"
	rcParameterError           = "rcParameterError"
	rcInternalError            = "rcInternalError"
	rcLoginFailed              = "rcLoginFailed"
	rcBadSession               = "rcBadSession"
	rcAccessDenied             = "rcAccessDenied"
	rcItemConflict             = "rcItemConflict"
	rcItemAlreadyUploaded      = "rcItemAlreadyUploaded"
	rcDuplicateContact         = "rcDuplicateContact"
	rcBaseItemChangeIdNotFound = "rcBaseItemChangeIdNotFound"
)

// returnCodes is the one table from domain error codes to eWay return
// codes. ENOTFOUND has no eWay counterpart among the documented codes; it
// becomes rcGeneralError with a Description saying what was not found.
// EUNAUTHORIZED is rcBadSession, except in LogIn, where it is
// rcLoginFailed.
var returnCodes = map[string]string{
	crmsync.ECONFLICT:     rcItemConflict,
	crmsync.EEXISTS:       rcItemAlreadyUploaded,
	crmsync.EDUPLICATE:    rcDuplicateContact,
	crmsync.EINVALID:      rcParameterError,
	crmsync.ENOTFOUND:     rcGeneralError,
	crmsync.EFORBIDDEN:    rcAccessDenied,
	crmsync.EUNAUTHORIZED: rcBadSession,
	crmsync.EPRECONDITION: rcGeneralError,
	crmsync.EINTERNAL:     rcInternalError,
}

// ReturnCode returns the eWay return code for err: rcSuccess for nil, the
// code of returnCodes for a domain error, rcInternalError for anything else.
func ReturnCode(err error) string {
	if err == nil {
		return rcSuccess
	}
	var de *decodeError
	if errors.As(err, &de) {
		return de.code
	}
	if rc, ok := returnCodes[crmsync.ErrorCode(err)]; ok {
		return rc
	}
	return rcInternalError
}

// Prefixes are the URL path prefixes the server answers under:
// `API.svc` (https deployments), `InsecureAPI.svc` (http) and the legacy
// `WcfService/Service.svc`, each followed by the method name. Mount the
// server on each of them.
var Prefixes = []string{"/API.svc/", "/InsecureAPI.svc/", "/WcfService/Service.svc/"}

// DefaultMaxBodyBytes bounds a request body: large enough for a batch of
// contacts with profile pictures, small enough that one call cannot
// exhaust memory.
const DefaultMaxBodyBytes = 32 << 20

// Options configure a Server. The zero value is usable: NewServer fills in
// the defaults documented on each field.
type Options struct {
	// Logger receives one line per failed call (never passwords or
	// session ids). Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock of the session deadlines. Default: time.Now.
	Now func() time.Time
	// MaxBodyBytes bounds the body of the Save* methods (the others take
	// far less, see method.bodyLimit). Default: DefaultMaxBodyBytes (32 MiB).
	MaxBodyBytes int64
	// SessionIdle ends a session not used for this long. Default: 20 min, as eWay.
	SessionIdle time.Duration
	// SessionMax ends a session this long after LogIn, used or not. Default: 24 h, as eWay.
	SessionMax time.Duration
	// MaxSessions bounds the sessions held in memory. Default: 10,000.
	MaxSessions int
	// MaxSessionsPerUser bounds one user's sessions; a new LogIn beyond it
	// ends that user's least recently used session. Default: 100.
	MaxSessionsPerUser int
	// WcfVersion is reported by LogIn. Default: "9.0.0.180", the eWay API
	// version whose subset crmsync implements, so clients enable matching features.
	WcfVersion string
}

// Server serves the eWay-CRM compatible JSON API over a crmsync.CRM.
// Every answer is HTTP 200 with the envelope {ReturnCode, Description,
// Data | Datum | Guid, ...}, as eWay answers, except for requests that are
// not POST (405) and paths outside Prefixes (404).
type Server struct {
	tokens   *tokens // issued by the OAuth token endpoint (oauth.go)
	crm      crmsync.CRM
	log      *slog.Logger
	maxBody  int64
	sessions *sessions
	version  string
}

var _ http.Handler = (*Server)(nil)

// NewServer returns a Server answering with crm, sessions held in memory.
func NewServer(crm crmsync.CRM, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.SessionIdle <= 0 {
		opts.SessionIdle = 20 * time.Minute
	}
	if opts.SessionMax <= 0 {
		opts.SessionMax = 24 * time.Hour
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 10000
	}
	if opts.MaxSessionsPerUser <= 0 {
		opts.MaxSessionsPerUser = 100
	}
	if opts.WcfVersion == "" {
		opts.WcfVersion = "9.0.0.180"
	}
	return &Server{
		crm:     crm,
		log:     opts.Logger,
		maxBody: opts.MaxBodyBytes,
		version: opts.WcfVersion,
		tokens:  &tokens{now: opts.Now, byKey: map[string]*token{}},
		sessions: &sessions{
			now: opts.Now, idle: opts.SessionIdle, max: opts.SessionMax,
			limit: opts.MaxSessions, perUser: opts.MaxSessionsPerUser,
			byID: map[string]*session{},
		},
	}
}

// Handle mounts the server on mux under every path of Prefixes, also in
// lower case (eWay runs on IIS, whose paths are not case-sensitive).
func (s *Server) Handle(mux *http.ServeMux) {
	for _, p := range Prefixes {
		mux.Handle(p, s)
		mux.Handle(strings.ToLower(p), s)
	}
	mux.HandleFunc(TokenPath, s.serveToken)
}

// IsAPIPath reports whether path is under one of the Prefixes (in any case).
func IsAPIPath(path string) bool {
	for _, p := range Prefixes {
		if _, ok := cutPrefixFold(path, p); ok {
			return true
		}
	}
	return false
}

// NotFound answers a request for a path nothing serves with the eWay
// envelope (HTTP 404), so that eWay clients, which read every answer as
// JSON, report a clear error. crmsync serve answers unknown paths with it.
func NotFound(w http.ResponseWriter, r *http.Request) {
	buf, _ := json.Marshal(&reply{ReturnCode: rcGeneralError, Description: fmt.Sprintf(
		"no API method at %s: the API answers at /API.svc/{Method} (or /InsecureAPI.svc/, /WcfService/Service.svc/) under the service URL",
		truncate(r.URL.Path))})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	w.Write(buf)
}

// Sessions returns the number of live (not yet pruned) sessions.
func (s *Server) Sessions() int { return s.sessions.count() }

// reply is the envelope. Data, Datum and the LogIn fields appear only when
// set; a method that returns a list always sets Data (maybe empty).
type reply struct {
	ReturnCode  string
	Description string
	Data        any    `json:",omitempty"`
	Datum       any    `json:",omitempty"`
	Guid        string `json:",omitempty"`
	// ItemVersion is the version a Save* stored (crmsync's addition, so a
	// client need not re-read the item to learn it).
	ItemVersion int `json:",omitempty"`

	SessionId    string `json:",omitempty"`
	UserItemGuid string `json:",omitempty"`
	IsAdmin      *bool  `json:",omitempty"`
	WcfVersion   string `json:",omitempty"`

	FoldersWithChangedAvailability []crmsync.Folder `json:",omitempty"`

	// stream, when set, writes the Data as it is read, items with their
	// foreign keys and pictures as the flags say.
	stream                    func(out *streamOut) error
	streamFKs, streamPictures bool `json:"-"`
}

// ServeHTTP answers one API call: POST {prefix}{Method} with the method's
// parameters as a JSON object.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := methodName(r.URL.Path)
	if !ok {
		s.write(w, http.StatusNotFound, &reply{ReturnCode: rcGeneralError,
			Description: "not found: the API answers at /API.svc/{Method}"})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.write(w, http.StatusMethodNotAllowed, &reply{ReturnCode: rcGeneralError,
			Description: fmt.Sprintf("method %s not allowed: call %s with POST and a JSON body", r.Method, truncate(name))})
		return
	}
	if status, msg := crossSite(r); status != 0 {
		s.log.WarnContext(r.Context(), "api call refused", "reason", msg, "method", truncate(name), "origin", truncate(r.Header.Get("Origin")),
			"content_type", truncate(r.Header.Get("Content-Type")), "addr", r.RemoteAddr)
		s.write(w, status, &reply{ReturnCode: rcGeneralError, Description: msg})
		return
	}
	ctx := crmsync.WithClientAddr(r.Context(), r.RemoteAddr)
	rep := s.call(ctx, name, w, r)
	if rep.stream != nil {
		s.writeStream(ctx, name, w, rep)
		return
	}
	status := http.StatusOK
	if rep.ReturnCode == rcBadAccessToken {
		status = http.StatusUnauthorized // eWay's JavaScript client refreshes its token on 401
	}
	s.write(w, status, rep)
}

// streamFlushBytes is how much of a streamed answer is buffered before it
// is written out.
const streamFlushBytes = 64 << 10

// streamOut is where a stream writes the Data of an answer: JSON text (Raw)
// and items (Item). The envelope goes out with the first item, so an
// error before it (a missing right, a failed read) is still answered as an
// ordinary failed call.
type streamOut struct {
	w             http.ResponseWriter
	head          []byte // the envelope without its closing brace
	pending, buf  bytes.Buffer
	started       bool
	fks, pictures bool
}

// Raw writes JSON text.
func (o *streamOut) Raw(s string) {
	if o.started {
		o.buf.WriteString(s)
	} else {
		o.pending.WriteString(s)
	}
}

// Item writes it as itemJSON, flushing the buffer when it is full.
func (o *streamOut) Item(it *crmsync.Item) error {
	o.start()
	itemJSON{item: it, fks: o.fks, pictures: o.pictures}.writeTo(&o.buf)
	if o.buf.Len() < streamFlushBytes {
		return nil
	}
	_, err := o.w.Write(o.buf.Bytes())
	o.buf.Reset()
	return err
}

func (o *streamOut) start() {
	if o.started {
		return
	}
	o.started = true
	o.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	o.w.WriteHeader(http.StatusOK)
	o.buf.Write(o.head)
	o.buf.WriteString(`,"Data":`)
	o.buf.Write(o.pending.Bytes())
}

// itemList is the stream of a list of items that each calls fn with.
func itemList(each func(fn func(*crmsync.Item) error) error) func(*streamOut) error {
	return func(out *streamOut) error {
		out.Raw("[")
		first := true
		err := each(func(it *crmsync.Item) error {
			if !first {
				out.Raw(",")
			}
			first = false
			return out.Item(it)
		})
		out.Raw("]")
		return err
	}
}

// writeStream writes an envelope whose Data rep.stream writes. An error
// once the envelope is on its way aborts the connection: the client sees
// a truncated answer, never a short list that claims rcSuccess.
func (s *Server) writeStream(ctx context.Context, name string, w http.ResponseWriter, rep *reply) {
	stream := rep.stream
	rep.stream = nil
	if rep.ReturnCode == "" {
		rep.ReturnCode = rcSuccess
	}
	head, err := json.Marshal(rep)
	if err != nil {
		s.write(w, http.StatusOK, s.fail(ctx, name, err))
		return
	}
	out := &streamOut{w: w, head: head[:len(head)-1]}
	out.fks, out.pictures = rep.streamFKs, rep.streamPictures
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(ctx, "api call panicked", "method", truncate(name), "panic", v)
			if out.started {
				panic(http.ErrAbortHandler)
			}
			s.write(w, http.StatusOK, &reply{ReturnCode: rcInternalError, Description: "internal error"})
		}
	}()
	err = stream(out)
	switch {
	case err != nil && !out.started:
		s.write(w, http.StatusOK, s.fail(ctx, name, err))
		return
	case err != nil:
		s.log.WarnContext(ctx, "api answer cut off", "method", truncate(name), "err", err)
		panic(http.ErrAbortHandler)
	}
	out.start()
	out.buf.WriteString("}")
	w.Write(out.buf.Bytes())
}

// crossSite returns the status and message refusing a request a web page
// of another site could have made a browser send, or 0: one with a body
// type browsers send cross-site without a preflight, or whose Origin or
// Sec-Fetch-Site names another site. eWay clients are programs, which
// send JSON and no Origin.
func crossSite(r *http.Request) (int, string) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch strings.ToLower(mt) {
	case "text/plain", "application/x-www-form-urlencoded", "multipart/form-data":
		return http.StatusUnsupportedMediaType, fmt.Sprintf("content type %s refused: send the parameters as application/json", mt)
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return http.StatusForbidden, "cross-site request refused"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return 0, ""
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || !(strings.EqualFold(u.Host, r.Host) || strings.EqualFold(u.Host, r.Header.Get("X-Forwarded-Host"))) {
		return http.StatusForbidden, fmt.Sprintf("cross-site request from %s refused", truncate(origin))
	}
	return 0, ""
}

// encodeReply marshals the envelope; a list of items in Data is written
// directly after the other fields (see writeItems).
func encodeReply(rep *reply) ([]byte, error) {
	items, ok := rep.Data.([]itemJSON)
	if !ok {
		return json.Marshal(rep)
	}
	head := *rep
	head.Data = nil
	buf, err := json.Marshal(&head)
	if err != nil {
		return nil, err
	}
	b := bytes.NewBuffer(make([]byte, 0, len(buf)+len(items)*1024))
	b.Write(buf[:len(buf)-1]) // without the closing brace
	b.WriteString(`,"Data":`)
	writeItems(b, items)
	b.WriteByte('}')
	return b.Bytes(), nil
}

// methodName extracts {Method} from one of the Prefixes.
func methodName(path string) (string, bool) {
	for _, p := range Prefixes {
		if name, ok := cutPrefixFold(path, p); ok && name != "" && !strings.Contains(name, "/") {
			return name, true
		}
	}
	return "", false
}

// call runs one API call and always returns an envelope; a panic in a
// handler becomes rcInternalError, so the server keeps serving.
func (s *Server) call(ctx context.Context, name string, w http.ResponseWriter, r *http.Request) (rep *reply) {
	defer func() {
		if v := recover(); v != nil {
			s.log.ErrorContext(ctx, "api call panicked", "method", truncate(name), "panic", v)
			rep = &reply{ReturnCode: rcInternalError, Description: "internal error"}
		}
	}()
	m := lookupMethod(name)
	if m == nil {
		return s.fail(ctx, name, unknownMethod(name))
	}
	data, err := s.readBody(m, w, r)
	if err != nil {
		return s.fail(ctx, name, err)
	}
	req, err := decodeRequest(name, data)
	if err != nil {
		return s.fail(ctx, name, err)
	}
	req.bearer, req.bearerSent = bearer(r)
	if req.method.name != "LogIn" {
		u, ok := s.sessions.get(req.SessionID)
		if !ok && req.SessionID == "" && req.bearer != "" {
			if u, ok = s.tokens.get(req.bearer, false, false); !ok {
				return s.fail(ctx, name, badAccessToken)
			}
		}
		if !ok {
			msg := "session is unknown or expired: LogIn again"
			if req.SessionID == "" {
				msg = "missing parameter \"sessionId\": LogIn first"
			}
			return s.fail(ctx, name, &decodeError{code: rcBadSession, msg: msg})
		}
		ctx = crmsync.WithUser(ctx, u)
	}
	rep, err = req.method.run(ctx, s, req)
	if err != nil {
		if req.method.name != "LogIn" && crmsync.ErrorCode(err) == crmsync.EUNAUTHORIZED {
			s.sessions.remove(req.SessionID) // its password changed or its user is gone
			if req.SessionID == "" {
				s.tokens.remove(req.bearer)
			}
		}
		return s.fail(ctx, name, err)
	}
	if rep.ReturnCode == "" {
		rep.ReturnCode = rcSuccess
	}
	return rep
}

// preAuthBodyBytes is what the server reads of a body before it knows the
// caller: an unauthenticated client costs at most this much memory, not
// the method's limit (32 MiB for Save*).
const preAuthBodyBytes = 64 << 10

// readBody reads the body of a call to m, at most m's limit. Past the first
// preAuthBodyBytes it reads on only when the part read so far holds the
// sessionId of a live session, so the session is checked before a large
// body is read, let alone decoded; clients send sessionId first.
func (s *Server) readBody(m *method, w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := m.bodyLimit(s.maxBody)
	body := &budgetReader{r: http.MaxBytesReader(w, r.Body, limit), budget: min(limit, preAuthBodyBytes)}
	var buf bytes.Buffer
	if t, _ := bearer(r); t != "" && s.tokenLive(t) {
		body.budget = limit // a valid access token authenticates the call
	}
	if body.budget < limit && m.name != "LogIn" {
		if id, found := sessionIn(io.TeeReader(body, &buf)); found {
			if _, live := s.sessions.get(id); !live {
				return nil, &decodeError{code: rcBadSession, msg: "session is unknown or expired: LogIn again"}
			}
			body.budget = limit
			if r.ContentLength > 0 {
				buf.Grow(int(min(r.ContentLength, limit)) - buf.Len())
			}
		}
	}
	_, err := buf.ReadFrom(body)
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return buf.Bytes(), nil
	case errors.Is(err, errOverBudget):
		return nil, &decodeError{code: rcBadSession, msg: fmt.Sprintf(
			"no valid sessionId in the first %d bytes of the body: send sessionId first (LogIn for one)", preAuthBodyBytes)}
	case errors.As(err, &tooBig):
		return nil, paramErrorf("request body exceeds the limit of %d bytes for %s", tooBig.Limit, m.name)
	}
	return nil, paramErrorf("reading request body: %v", err)
}

var errOverBudget = errors.New("request body over budget")

// budgetReader reads at most budget bytes of r, then fails with
// errOverBudget if more follow; the budget may be raised between reads.
type budgetReader struct {
	r      io.Reader
	read   int64
	budget int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.read > b.budget {
		return 0, errOverBudget
	}
	if room := b.budget + 1 - b.read; int64(len(p)) > room {
		p = p[:room] // one byte beyond the budget tells whether more follow
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	if b.read > b.budget {
		return n, errOverBudget
	}
	return n, err
}

// sessionIn scans the members of the JSON object r starts with until it
// finds sessionId, and returns its value; found is false when r ends or
// fails first, or the object is malformed (decodeRequest then says how).
func sessionIn(r io.Reader) (id string, found bool) {
	dec := json.NewDecoder(r)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", false
		}
		if t == "sessionId" {
			err := dec.Decode(&id)
			return id, err == nil
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return "", false
		}
	}
	return "", false
}

// fail turns err into an envelope. Internal errors are logged with their
// cause and answered with a generic message that leaks nothing.
func (s *Server) fail(ctx context.Context, name string, err error) *reply {
	rc := ReturnCode(err)
	msg := describe(err)
	if rc == rcInternalError {
		s.log.ErrorContext(ctx, "api call failed", "method", truncate(name), "err", err)
	} else {
		s.log.DebugContext(ctx, "api call refused", "method", truncate(name), "code", rc, "description", msg)
	}
	return &reply{ReturnCode: rc, Description: msg}
}

// describe is the Description for err: what the caller did wrong, never
// an internal cause.
func describe(err error) string {
	var de *decodeError
	if errors.As(err, &de) {
		return de.msg
	}
	return crmsync.ErrorMessage(err)
}

func (s *Server) write(w http.ResponseWriter, status int, rep *reply) {
	buf, err := encodeReply(rep)
	if err != nil {
		s.log.Error("encoding api reply", "err", err)
		status = http.StatusInternalServerError
		buf = []byte(`{"ReturnCode":"rcInternalError","Description":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf)
}
