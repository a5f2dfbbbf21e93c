package web

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/crmsync/crmsync"
)

// view is the data of every page; Data holds the page's own.
type view struct {
	Lang   string
	Base   string
	CSRF   string
	User   *crmsync.User
	Nav    string // the active tab
	Title  string
	Flash  string
	Error  string
	Tabs   tabs
	Data   any
	Status int
}

// tabs says which tabs the signed-in user gets.
type tabs struct {
	Sync, Phones, Admin bool
}

type pageTemplate = template.Template

var pageNames = []string{"signin", "error", "list", "item", "form", "trash", "mycontacts", "progress", "duplicates", "runs", "admin", "phones", "m365"}

// loadPages parses each page with the layout, once per language, so that
// t in a template is bound to its catalogue.
func loadPages(base string) (map[string]map[string]*pageTemplate, error) {
	out := map[string]map[string]*pageTemplate{}
	for lang := range catalogues {
		out[lang] = map[string]*pageTemplate{}
		for _, name := range pageNames {
			t, err := template.New("layout.html").Funcs(funcs(lang, base)).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
			if err != nil {
				return nil, fmt.Errorf("web: parsing %s: %w", name, err)
			}
			out[lang][name] = t
		}
	}
	return out, nil
}

func funcs(lang, base string) template.FuncMap {
	return template.FuncMap{
		"t": func(key string) string { return tr(lang, key) },
		// u builds a link under the base path; query pairs follow.
		"u": func(path string, query ...string) string {
			s := base + path
			if len(query) > 1 {
				v := url.Values{}
				for i := 0; i+1 < len(query); i += 2 {
					if query[i+1] != "" {
						v.Set(query[i], query[i+1])
					}
				}
				if q := v.Encode(); q != "" {
					s += "?" + q
				}
			}
			return s
		},
		"label":    func(field string) string { return tr(lang, "field."+field) },
		"when":     displayTime,
		"enumName": func(v *crmsync.EnumValue) string { return enumLabel(lang, v) },
		"lines":    func(s string) []string { return strings.Split(s, "\n") },
		"list":     func(s ...string) []string { return s },
		"levelOf": func(r crmsync.Rights, k string) crmsync.Level {
			return map[string]crmsync.Level{"view": r.View, "edit": r.Edit, "delete": r.Delete}[k]
		},
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[fmt.Sprint(kv[i])] = kv[i+1]
			}
			return m
		},
	}
}

// displayTime shows a stored DateTime value in the page's form.
func displayTime(s string) string {
	t, err := crmsync.ParseTime(s)
	if err != nil {
		return s
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// view fills the common part of a page for a signed-in request.
func (h *Handler) view(rq *request, nav string, v *view) *view {
	v.Lang, v.CSRF, v.User, v.Nav = rq.lang, rq.s.csrf, rq.s.user, nav
	if v.Flash == "" {
		v.Flash = h.sessions.takeFlash(rq.s)
	}
	v.Tabs = tabs{Sync: h.sync != nil, Phones: h.davPath != "", Admin: rq.s.user.IsAdmin}
	return v
}

// render writes a page; a template failure is logged and answered 500
// before anything was sent.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, v *view) {
	if v.Lang == "" {
		v.Lang = language(r)
	}
	v.Base, v.Status = h.base, status
	t := h.pages[v.Lang][page]
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		h.log.Error("web: rendering", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Language", v.Lang)
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// statusOf maps a service error to the HTTP status of its page.
func statusOf(err error) int {
	switch crmsync.ErrorCode(err) {
	case crmsync.ENOTFOUND:
		return http.StatusNotFound
	case crmsync.EFORBIDDEN:
		return http.StatusForbidden
	case crmsync.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case crmsync.EINVALID, crmsync.EDUPLICATE:
		return http.StatusBadRequest
	case crmsync.ECONFLICT, crmsync.EEXISTS:
		return http.StatusConflict
	case crmsync.EPRECONDITION:
		return http.StatusPreconditionFailed
	}
	return http.StatusInternalServerError
}

// message is what a page says about a service error, in the page's
// language; the service's own (English) text follows for input errors,
// which it explains best.
func (h *Handler) message(lang string, err error) string {
	code := crmsync.ErrorCode(err)
	switch code {
	case crmsync.EINVALID, crmsync.EDUPLICATE, crmsync.EPRECONDITION:
		return tr(lang, "err."+code) + " " + crmsync.ErrorMessage(err)
	case crmsync.EINTERNAL:
		h.log.Error("web: service failed", "err", err)
	}
	return tr(lang, "err."+code)
}

// fail renders the error page for a service error; a session the
// service no longer accepts (user removed) is ended.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, rq *request, err error) {
	if crmsync.ErrorCode(err) == crmsync.EUNAUTHORIZED {
		h.sessions.remove(rq.s.id)
		http.SetCookie(w, h.cookie(r, sessionCookie, "", -1))
	}
	h.render(w, r, statusOf(err), "error", h.view(rq, "", &view{Error: h.message(rq.lang, err)}))
}

// redirect ends a POST by sending the browser to path with a message.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, rq *request, path, flash string) {
	if flash != "" {
		h.sessions.setFlash(rq.s, flash)
	}
	http.Redirect(w, r, h.base+path, http.StatusSeeOther)
}
