package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/crmsync/crmsync"
)

// The administration pages: every call goes to the service as the signed-in
// user, which refuses non-administrators (EFORBIDDEN); the tab is shown to
// administrators only.

func (h *Handler) adminRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /admin", h.authed(h.admin))
	m.HandleFunc("POST /admin/users", h.authed(h.addUser))
	m.HandleFunc("POST /admin/password", h.authed(h.setPassword))
	m.HandleFunc("POST /admin/disable", h.authed(h.setDisabled))
	m.HandleFunc("POST /admin/groups", h.authed(h.saveGroup))
	m.HandleFunc("POST /admin/members", h.authed(h.membership))
	m.HandleFunc("POST /admin/settings", h.authed(h.saveSettings))
}

type adminData struct {
	Users    []*crmsync.User
	Groups   []groupRow
	Settings map[string]string
	Names    []string // the global settings, in order
	Levels   []crmsync.Level
	Folders  []crmsync.Folder
	States   map[string]*syncStates // user GUID -> sync state per remote
	NewGroup groupRow               // the empty form for a new group
}

// syncStates are a user's sync states with Outlook and with a CardDAV book.
type syncStates struct{ Outlook, CardDAV string }

type groupRow struct {
	Name   string
	Rights map[crmsync.Folder]crmsync.Rights
}

func (h *Handler) admin(w http.ResponseWriter, r *http.Request, rq *request) {
	h.renderAdmin(w, r, rq, http.StatusOK, "")
}

func (h *Handler) renderAdmin(w http.ResponseWriter, r *http.Request, rq *request, status int, errMsg string) {
	users, err := h.crm.Users(rq.ctx)
	if err != nil {
		h.fail(w, r, rq, err)
		return
	}
	groups, err := h.crm.Groups(rq.ctx)
	if err != nil {
		h.fail(w, r, rq, err)
		return
	}
	settings, err := h.crm.GlobalSettings(rq.ctx)
	if err != nil {
		h.fail(w, r, rq, err)
		return
	}
	d := &adminData{Users: users, Settings: settings, Folders: crmsync.Folders, States: map[string]*syncStates{},
		NewGroup: groupRow{Rights: map[crmsync.Folder]crmsync.Rights{}},
		Levels:   []crmsync.Level{crmsync.LevelNone, crmsync.LevelOwn, crmsync.LevelRelated, crmsync.LevelAll}}
	for name := range settings {
		d.Names = append(d.Names, name)
	}
	slices.Sort(d.Names)
	for name, rights := range groups {
		g := groupRow{Name: name, Rights: map[crmsync.Folder]crmsync.Rights{}}
		for _, rt := range rights {
			g.Rights[rt.Folder] = rt
		}
		d.Groups = append(d.Groups, g)
	}
	slices.SortFunc(d.Groups, func(a, b groupRow) int { return strings.Compare(a.Name, b.Name) })
	if h.sync != nil {
		for _, u := range users {
			outlook, err1 := h.sync.State(rq.ctx, u, "outlook")
			carddav, err2 := h.sync.State(rq.ctx, u, "carddav")
			if err1 == nil && err2 == nil {
				d.States[u.GUID] = &syncStates{Outlook: outlook, CardDAV: carddav}
			}
		}
	}
	h.render(w, r, status, "admin", h.view(rq, "admin", &view{Title: tr(rq.lang, "nav.admin"), Error: errMsg, Data: d}))
}

// adminDone ends an administration POST: back to the page with a message,
// or the page again with what went wrong.
func (h *Handler) adminDone(w http.ResponseWriter, r *http.Request, rq *request, err error) {
	switch crmsync.ErrorCode(err) {
	case "":
		h.redirect(w, r, rq, "/admin", tr(rq.lang, "flash.saved"))
	case crmsync.EEXISTS, crmsync.ENOTFOUND:
		h.renderAdmin(w, r, rq, statusOf(err), h.message(rq.lang, err)+" "+crmsync.ErrorMessage(err))
	case crmsync.EINVALID, crmsync.EPRECONDITION: // message already says what was wrong
		h.renderAdmin(w, r, rq, statusOf(err), h.message(rq.lang, err))
	default:
		h.fail(w, r, rq, err)
	}
}

func (h *Handler) addUser(w http.ResponseWriter, r *http.Request, rq *request) {
	_, err := h.crm.AddUser(rq.ctx, r.PostFormValue("name"), r.PostFormValue("password"), r.PostFormValue("admin") != "")
	h.adminDone(w, r, rq, err)
}

func (h *Handler) setPassword(w http.ResponseWriter, r *http.Request, rq *request) {
	h.adminDone(w, r, rq, h.crm.SetPassword(rq.ctx, r.PostFormValue("name"), r.PostFormValue("password")))
}

// setDisabled disables (disabled=true) or enables (disabled=false) a user.
func (h *Handler) setDisabled(w http.ResponseWriter, r *http.Request, rq *request) {
	var disabled bool
	switch v := r.PostFormValue("disabled"); v {
	case "true", "false":
		disabled = v == "true"
	default:
		h.adminDone(w, r, rq, crmsync.Errorf(crmsync.EINVALID, "disabled must be true or false, not %q", v))
		return
	}
	h.adminDone(w, r, rq, h.crm.SetDisabled(rq.ctx, r.PostFormValue("name"), disabled))
}

func (h *Handler) saveGroup(w http.ResponseWriter, r *http.Request, rq *request) {
	var rights []crmsync.Rights
	for _, f := range crmsync.Folders {
		rt := crmsync.Rights{Folder: f, CanCreate: r.PostFormValue(string(f)+".create") != "", CanExport: r.PostFormValue(string(f)+".export") != ""}
		for _, lv := range []struct {
			key string
			to  *crmsync.Level
		}{{"view", &rt.View}, {"edit", &rt.Edit}, {"delete", &rt.Delete}} {
			v := r.PostFormValue(string(f) + "." + lv.key)
			l, ok := crmsync.ParseLevel(v)
			if !ok {
				h.adminDone(w, r, rq, crmsync.Errorf(crmsync.EINVALID, "%s %s: %q is not a level", f, lv.key, v))
				return
			}
			*lv.to = l
		}
		rights = append(rights, rt)
	}
	h.adminDone(w, r, rq, h.crm.SaveGroup(rq.ctx, strings.TrimSpace(r.PostFormValue("group")), rights))
}

func (h *Handler) membership(w http.ResponseWriter, r *http.Request, rq *request) {
	user, group := r.PostFormValue("user"), r.PostFormValue("group")
	if r.PostFormValue("remove") != "" {
		h.adminDone(w, r, rq, h.crm.RemoveFromGroup(rq.ctx, user, group))
		return
	}
	h.adminDone(w, r, rq, h.crm.AddToGroup(rq.ctx, user, group))
}

func (h *Handler) saveSettings(w http.ResponseWriter, r *http.Request, rq *request) {
	current, err := h.crm.GlobalSettings(rq.ctx)
	if err != nil {
		h.fail(w, r, rq, err)
		return
	}
	for name := range current {
		v := "false"
		if r.PostFormValue(name) != "" {
			v = "true"
		}
		if err := h.crm.SetGlobalSetting(rq.ctx, name, v); err != nil {
			h.adminDone(w, r, rq, err)
			return
		}
	}
	h.adminDone(w, r, rq, nil)
}
