// Package web is the CRM's web UI: server-rendered pages over the same
// service as the eWay API and CardDAV, for the salesperson (contacts,
// companies, journals, their Outlook or CardDAV sync) and the
// administrator. Every handler calls the service as the signed-in user;
// rights and business rules stay there. Pages work without JavaScript,
// except the live progress of a running sync, which a little script
// receives as server-sent events.
package web

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/carddav"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// CRM is what the UI needs of the service: the CRM and its paged listing.
type CRM interface {
	crmsync.CRM
	crmsync.Lister
}

// Options configure a Handler.
type Options struct {
	CRM CRM
	// BasePath is the URL path the UI is mounted under, e.g. "/crm"; ""
	// for the root. Every link, form, redirect and cookie uses it.
	BasePath string
	// Sync manages the signed-in user's Outlook and CardDAV sync (the My
	// Contacts tab); nil hides the tab.
	Sync Sync
	// CardDAVPath is where the CardDAV server answers ("/dav/"), for the
	// Phones page; "" hides the page.
	CardDAVPath string
	Logger      *slog.Logger
	Now         func() time.Time
}

// Handler serves the UI.
type Handler struct {
	crm      CRM
	sync     Sync
	base     string
	davPath  string
	log      *slog.Logger
	sessions *sessions
	pages    map[string]map[string]*pageTemplate // language -> page -> template
	mux      *http.ServeMux
}

// New returns the UI's handler.
func New(opts Options) (*Handler, error) {
	if opts.CRM == nil {
		return nil, errors.New("web: no CRM")
	}
	base := strings.TrimRight(opts.BasePath, "/")
	if base != "" && !strings.HasPrefix(base, "/") {
		base = "/" + base
	}
	h := &Handler{crm: opts.CRM, sync: opts.Sync, base: base, davPath: opts.CardDAVPath, log: opts.Logger,
		sessions: &sessions{now: opts.Now, byID: map[string]*session{}}}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.sessions.now == nil {
		h.sessions.now = time.Now
	}
	var err error
	if h.pages, err = loadPages(base); err != nil {
		return nil, err
	}
	h.routes()
	return h, nil
}

// Mount adds the UI to mux under the base path.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.Handle(h.base+"/", h)
}

// URL is the address of the UI's start page on a server at origin
// (e.g. "http://127.0.0.1:8080").
func (h *Handler) URL(origin string) string { return strings.TrimRight(origin, "/") + h.base + "/" }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	if h.base != "" {
		http.StripPrefix(h.base, h.mux).ServeHTTP(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// routes registers every page. Handlers of signed-in pages get the
// session through authed; every POST checks the CSRF token first.
func (h *Handler) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	m.HandleFunc("GET /signin", h.signinPage)
	m.HandleFunc("POST /signin", h.signin)
	m.HandleFunc("POST /signout", h.authed(h.signout))
	m.HandleFunc("GET /{$}", h.authed(h.home))
	for _, f := range folderPages {
		p := "/" + f.Slug
		m.HandleFunc("GET "+p, h.authed(h.list(f)))
		m.HandleFunc("GET "+p+"/trash", h.authed(h.trash(f)))
		m.HandleFunc("GET "+p+"/new", h.authed(h.newForm(f)))
		m.HandleFunc("POST "+p+"/new", h.authed(h.create(f)))
		m.HandleFunc("GET "+p+"/{guid}", h.authed(h.open(f)))
		m.HandleFunc("GET "+p+"/{guid}/edit", h.authed(h.editForm(f)))
		m.HandleFunc("POST "+p+"/{guid}/edit", h.authed(h.update(f)))
		m.HandleFunc("POST "+p+"/{guid}/delete", h.authed(h.remove(f)))
		m.HandleFunc("POST "+p+"/{guid}/restore", h.authed(h.restore(f)))
	}
	m.HandleFunc("GET /contacts/{guid}/photo", h.authed(h.photo))
	if h.davPath != "" {
		m.HandleFunc("GET /phones", h.authed(h.phones))
	}
	h.syncRoutes(m)
	h.adminRoutes(m)
	m.HandleFunc("/", h.authed(func(w http.ResponseWriter, r *http.Request, rq *request) {
		h.fail(w, r, rq, crmsync.Errorf(crmsync.ENOTFOUND, "no such page"))
	}))
	h.mux = m
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// request is what a signed-in handler knows of its request.
type request struct {
	s    *session
	ctx  context.Context // carries the user for the service
	lang string
}

// authed wraps a handler of signed-in pages: without a live session it
// redirects to the sign-in page (a POST gets 401); a POST without the
// session's CSRF token is refused with 403 and reaches nothing.
func (h *Handler) authed(fn func(http.ResponseWriter, *http.Request, *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		lang := language(r)
		var ss *session
		if c, err := r.Cookie(sessionCookie); err == nil {
			ss = h.sessions.get(c.Value)
		}
		if ss == nil {
			if r.Method == http.MethodPost {
				h.render(w, r, http.StatusUnauthorized, "error", &view{Lang: lang, Error: tr(lang, "err.signedout")})
				return
			}
			http.Redirect(w, r, h.base+"/signin", http.StatusSeeOther)
			return
		}
		rq := &request{s: ss, ctx: crmsync.WithUser(r.Context(), ss.user), lang: lang}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 16<<20)
			if !sameToken(r.PostFormValue("csrf"), ss.csrf) {
				h.render(w, r, http.StatusForbidden, "error", h.view(rq, "", &view{Error: tr(lang, "err.csrf")}))
				return
			}
		}
		fn(w, r, rq)
	}
}

func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request) {
	lang := language(r)
	h.render(w, r, http.StatusOK, "signin", &view{Lang: lang, CSRF: h.preToken(w, r)})
}

// preToken returns the sign-in form's CSRF token, setting its cookie.
func (h *Handler) preToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(preCookie); err == nil && len(c.Value) == 64 {
		return c.Value
	}
	t := randomToken()
	http.SetCookie(w, h.cookie(r, preCookie, t, 3600))
	return t
}

func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	lang := language(r)
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	c, err := r.Cookie(preCookie)
	if err != nil || !sameToken(r.PostFormValue("csrf"), c.Value) {
		h.render(w, r, http.StatusForbidden, "signin", &view{Lang: lang, CSRF: h.preToken(w, r), Error: tr(lang, "err.csrf")})
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	u, err := h.crm.Authenticate(crmsync.WithClientAddr(r.Context(), r.RemoteAddr), name, crmsync.PasswordMD5(r.PostFormValue("password")))
	if err != nil {
		msg := tr(lang, "signin.wrong")
		status := http.StatusUnauthorized
		if errors.Is(err, crmsync.ErrThrottled) {
			msg, status = tr(lang, "signin.throttled"), http.StatusTooManyRequests
		} else if crmsync.ErrorCode(err) != crmsync.EUNAUTHORIZED {
			msg, status = tr(lang, "err.internal"), http.StatusInternalServerError
			h.log.Warn("web sign-in failed", "err", err)
		}
		h.render(w, r, status, "signin", &view{Lang: lang, CSRF: c.Value, Error: msg, Data: map[string]string{"Name": name}})
		return
	}
	ss := h.sessions.create(u)
	http.SetCookie(w, h.cookie(r, sessionCookie, ss.id, 0))
	http.SetCookie(w, h.cookie(r, preCookie, "", -1))
	http.Redirect(w, r, h.base+"/", http.StatusSeeOther)
}

func (h *Handler) signout(w http.ResponseWriter, r *http.Request, rq *request) {
	h.sessions.remove(rq.s.id)
	http.SetCookie(w, h.cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, h.base+"/signin", http.StatusSeeOther)
}

// home is the start page: the contacts, or the first-sync question when a
// first sync waits (asked once per sign-in).
func (h *Handler) home(w http.ResponseWriter, r *http.Request, rq *request) {
	if h.sync != nil && h.firstSyncWaits(rq) && h.sessions.firstAsk(rq.s) {
		http.Redirect(w, r, h.base+"/mycontacts", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, h.base+"/contacts", http.StatusSeeOther)
}

// phones shows the CardDAV addresses to type into a phone or mail client.
func (h *Handler) phones(w http.ResponseWriter, r *http.Request, rq *request) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	origin := scheme + "://" + r.Host
	h.render(w, r, http.StatusOK, "phones", h.view(rq, "phones", &view{Title: tr(rq.lang, "nav.phones"),
		Data: map[string]string{"Server": origin + h.base + "/", "Book": origin + carddav.BookPath(h.base+h.davPath, rq.s.user.Name)}}))
}
