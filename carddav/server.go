package carddav

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	crm "github.com/crmsync/crmsync"
)

// Options configure a Handler; the zero value is valid.
type Options struct {
	// Prefix is the URL path the DAV tree lives under; "/dav/" when empty.
	Prefix string
	// Store keeps client hrefs and unmapped card properties; an in-memory
	// store (lost on restart) when nil. Use NewSQLStore in a server.
	Store Store
	// Logger receives failures the client is not told the details of.
	Logger *slog.Logger
	// MaxCardSize is the largest vCard accepted by PUT; 10 MiB when 0.
	MaxCardSize int64
}

// Handler serves each user's visible contacts as one CardDAV address book
// (RFC 6352) with sync-collection (RFC 6578), over the CRM's rights.
type Handler struct {
	crm    crm.CRM
	prefix string
	store  Store
	log    *slog.Logger
	max    int64
}

var _ http.Handler = (*Handler)(nil)

// NewHandler returns the CardDAV handler; mount it with Mount, or at
// /.well-known/carddav and at opts.Prefix.
func NewHandler(c crm.CRM, opts Options) *Handler {
	h := &Handler{crm: c, prefix: opts.Prefix, store: opts.Store, log: opts.Logger,
		max: opts.MaxCardSize}
	if h.prefix == "" {
		h.prefix = "/dav/"
	}
	if !strings.HasPrefix(h.prefix, "/") {
		h.prefix = "/" + h.prefix
	}
	if !strings.HasSuffix(h.prefix, "/") {
		h.prefix += "/"
	}
	if h.store == nil {
		h.store = NewMemoryStore()
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.max == 0 {
		h.max = 10 << 20
	}
	return h
}

// Mount registers the handler on mux at /.well-known/carddav and its prefix.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.Handle("/.well-known/carddav", h)
	mux.Handle("/.well-known/carddav/", h)
	mux.Handle(h.prefix, h)
}

// resource kinds of the DAV tree.
type kind int

const (
	kindRoot kind = iota
	kindPrincipal
	kindHome
	kindBook
	kindObject
)

// target is a parsed request path.
type target struct {
	kind  kind
	owner string // user name in the path
	name  string // resource name of an object
}

const bookName = "contacts"

func (h *Handler) principalPath(user string) string {
	return h.prefix + "principals/" + url.PathEscape(user) + "/"
}

func (h *Handler) homePath(user string) string { return homePath(h.prefix, user) }

func homePath(prefix, user string) string {
	return prefix + "addressbooks/" + url.PathEscape(user) + "/"
}

func (h *Handler) bookPath(user string) string { return BookPath(h.prefix, user) }

// BookPath is the URL path of user's address book under a server mounted
// at prefix ("/dav/"), for pages that tell users what to type into a
// phone.
func BookPath(prefix, user string) string { return homePath(prefix, user) + bookName + "/" }

func (h *Handler) objectPath(user, name string) string {
	return h.bookPath(user) + url.PathEscape(name)
}

// parse maps a request path to a resource; ok is false for paths outside
// the tree.
func (h *Handler) parse(p string) (target, bool) {
	if p+"/" == h.prefix {
		return target{kind: kindRoot}, true
	}
	rest, ok := strings.CutPrefix(p, h.prefix)
	if !ok {
		return target{}, false
	}
	parts := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	switch {
	case rest == "":
		return target{kind: kindRoot}, true
	case parts[0] == "principals" && len(parts) == 2 && parts[1] != "":
		return target{kind: kindPrincipal, owner: parts[1]}, true
	case parts[0] == "addressbooks" && len(parts) == 2 && parts[1] != "":
		return target{kind: kindHome, owner: parts[1]}, true
	case parts[0] == "addressbooks" && len(parts) == 3 && parts[2] == bookName:
		return target{kind: kindBook, owner: parts[1]}, true
	case parts[0] == "addressbooks" && len(parts) == 4 && parts[2] == bookName && parts[3] != "" && !strings.HasSuffix(rest, "/"):
		return target{kind: kindObject, owner: parts[1], name: parts[3]}, true
	}
	return target{}, false
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; p == "/.well-known/carddav" || p == "/.well-known/carddav/" {
		// RFC 6764: point the client at the DAV root, where
		// current-user-principal leads on. No credentials needed for that.
		http.Redirect(w, r, h.prefix, http.StatusMovedPermanently)
		return
	}
	t, ok := h.parse(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	user, err := h.authenticate(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="crmsync", charset="UTF-8"`)
		http.Error(w, "authentication required: "+crm.ErrorMessage(err), http.StatusUnauthorized)
		return
	}
	if t.kind != kindRoot && t.owner != user.Name {
		http.Error(w, "this address book belongs to another user", http.StatusForbidden)
		return
	}
	ctx := crm.WithUser(r.Context(), user)
	w.Header().Set("DAV", "1, 3, addressbook")
	switch r.Method {
	case http.MethodOptions:
		w.Header().Set("Allow", "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, REPORT")
		w.WriteHeader(http.StatusOK)
	case "PROPFIND":
		h.propfind(ctx, w, r, user, t)
	case "REPORT":
		h.report(ctx, w, r, user, t)
	case http.MethodGet, http.MethodHead:
		h.get(ctx, w, r, user, t)
	case http.MethodPut:
		h.put(ctx, w, r, user, t)
	case http.MethodDelete:
		h.delete(ctx, w, r, user, t)
	case "PROPPATCH", "MKCOL", "MOVE", "COPY", "LOCK", "UNLOCK", "POST":
		http.Error(w, r.Method+" is not supported on this address book", http.StatusForbidden)
	default:
		w.Header().Set("Allow", "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, REPORT")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// authenticate checks Basic credentials with the CRM (which takes the hex
// MD5 of the password, as eWay clients send it). The CRM's limiter and
// its cache of verified passwords (clients send the password with every
// request) apply, so the client's address goes along.
func (h *Handler) authenticate(r *http.Request) (*crm.User, error) {
	name, pw, ok := r.BasicAuth()
	if !ok || name == "" {
		return nil, crm.Errorf(crm.EUNAUTHORIZED, "no credentials")
	}
	return h.crm.Authenticate(crm.WithClientAddr(r.Context(), r.RemoteAddr), name, crm.PasswordMD5(pw))
}

// fail answers a CRM error with its HTTP status; internal errors are
// logged and answered without detail.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	switch crm.ErrorCode(err) {
	case crm.EINVALID:
		code = http.StatusBadRequest
	case crm.ENOTFOUND:
		code = http.StatusNotFound
	case crm.EFORBIDDEN:
		code = http.StatusForbidden
	case crm.EUNAUTHORIZED:
		code = http.StatusUnauthorized
	case crm.ECONFLICT, crm.EEXISTS, crm.EPRECONDITION:
		code = http.StatusPreconditionFailed
	case crm.EDUPLICATE:
		code = http.StatusConflict
	}
	if code == http.StatusInternalServerError {
		h.log.Error("carddav", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var ce *crm.Error
	msg := "internal error"
	if errors.As(err, &ce) || code != http.StatusInternalServerError {
		msg = crm.ErrorMessage(err)
	}
	http.Error(w, msg, code)
}

func writeXML(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(code)
	w.Write(body)
}

// bookState is what listing the address book needs, read once per request.
type bookState struct {
	names   map[string]string // GUID → resource name, where not <guid>.vcf
	byName  map[string]string // resource name → GUID
	tags    map[string]string // GUID → stored card tag, of the contacts loadTag read
	enums   *enums
	rights  crm.Rights
	changes int64
}

func (h *Handler) loadState(ctx context.Context, user *crm.User) (*bookState, error) {
	names, err := h.store.Names(ctx, user.GUID)
	if err != nil {
		return nil, err
	}
	st := &bookState{names: names, byName: map[string]string{}, tags: map[string]string{}}
	for g, n := range names {
		st.byName[n] = g
	}
	return st, nil
}

func (st *bookState) name(guid string) string {
	if n, ok := st.names[guid]; ok {
		return n
	}
	return guid + ".vcf"
}

// guid returns the contact a resource name stands for ("" if none).
func (st *bookState) guid(name string) string {
	if g, ok := st.byName[name]; ok {
		return g
	}
	g := guidOfName(name)
	if _, renamed := st.names[g]; renamed {
		return "" // that contact lives under the name its client chose
	}
	return g
}

// etag is the ETag of a contact whose tag was read (loadTag).
func (st *bookState) etag(it *crm.Item) string { return etag(it.GUID, it.Version, st.tags[it.GUID]) }

// loadTag reads the stored card tag of one contact, for its ETag.
func (q *request) loadTag(guid string) error {
	tags, err := q.h.store.Tags(q.ctx, []string{guid})
	if err != nil {
		return err
	}
	q.st.tags[guid] = tags[guid]
	return nil
}

// end finishes a multistatus answer, or fails it: with an error status
// while nothing is sent yet, else by breaking the connection, so that a
// client never takes a cut listing for a whole one (and the contacts left
// out for deleted).
func (h *Handler) end(w http.ResponseWriter, r *http.Request, ms *multistatus, syncToken string, err error) {
	if err == nil {
		if err = ms.finish(syncToken); err == nil {
			return
		}
	}
	if !ms.sent {
		h.fail(w, r, err)
		return
	}
	h.log.Error("carddav: answer cut off", "method", r.Method, "path", r.URL.Path, "err", err)
	panic(http.ErrAbortHandler)
}
