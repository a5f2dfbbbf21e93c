package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
)

// Sync is the sync engine's side of the My Contacts tab: the signed-in
// user's Outlook partnership. The implementation holds every rule (what
// a prerequisite is, which states exist); the tab only shows and asks.
type Sync interface {
	// Partnership is the user's sync of kind ("outlook" or "carddav")
	// now, its prerequisites checked (the remote is asked whether it
	// answers once connected).
	Partnership(ctx context.Context, u *crmsync.User, kind string) (*SyncState, error)
	// State is the user's sync state with one kind of remote alone ("none"
	// when not connected), cheap enough for a list of every user.
	State(ctx context.Context, u *crmsync.User, kind string) (string, error)
	// ConnectSandbox connects the user to the sandbox mailbox at url.
	ConnectSandbox(ctx context.Context, u *crmsync.User, url string) error
	// StartMicrosoft365 starts a device code sign-in to Microsoft 365 for
	// the user (replacing one under way); once the user signs in, the
	// token is stored and the mailbox connected in the background.
	StartMicrosoft365(ctx context.Context, u *crmsync.User) error
	// Microsoft365SignIn is the user's latest sign-in started here, or nil.
	Microsoft365SignIn(u *crmsync.User) *DeviceSignIn
	// CancelMicrosoft365 stops the user's sign-in under way, storing nothing.
	CancelMicrosoft365(u *crmsync.User)
	// ConnectCardDAV connects the user to a CardDAV address book.
	ConnectCardDAV(ctx context.Context, u *crmsync.User, a CardDAVAccount) error
	// Enable turns sync of kind on (EPRECONDITION naming what is
	// missing); the first sync then waits for StartFirstSync.
	Enable(ctx context.Context, u *crmsync.User, kind string, o SyncOptions) error
	// StartFirstSync runs the first sync of kind in the background.
	StartFirstSync(ctx context.Context, u *crmsync.User, kind string) error
	// FirstSync is the user's running or last first sync started here, or nil.
	FirstSync(u *crmsync.User) *RunStatus
	// Duplicates are the Outlook contacts a first sync set aside as
	// duplicates of CRM contacts, each beside its CRM contact.
	Duplicates(ctx context.Context, u *crmsync.User) ([]DuplicatePair, error)
	// MergeDuplicate merges the Outlook duplicate remoteID into its CRM
	// contact (empty fields filled, differing values to a journal).
	MergeDuplicate(ctx context.Context, u *crmsync.User, remoteID string) (filled, differing int, err error)
	// KeepBoth leaves the duplicate in Outlook, unsynced, and resolves it.
	KeepBoth(ctx context.Context, u *crmsync.User, remoteID string) error
	// Runs are the latest runs of the user's Outlook sync, newest first.
	Runs(ctx context.Context, u *crmsync.User) ([]engine.Run, error)
}

// DuplicatePair is an Outlook duplicate beside its CRM contact.
type DuplicatePair struct {
	RemoteID, CRMID, Name, Email string
	Rows                         []FieldPair // the fields either side has
}

// FieldPair is one field of both sides.
type FieldPair struct {
	Name, CRM, Outlook string
	Differs            bool
}

// CardDAVAccount reaches an address book; the password is stored
// owner-only beside the database, never shown again.
type CardDAVAccount struct{ URL, Username, Password, Book string }

// SyncState is a partnership as the tab shows it.
type SyncState struct {
	Kind      string // outlook or carddav
	Connected bool
	Where     string // the mailbox, e.g. the sandbox URL
	State     string // off, first-sync-pending or active
	Mode      string // automatic or manual
	Filter    string
	Policy    string
	Checks    []engine.Prerequisite
	// Microsoft365 says that Outlook can be connected by signing in to
	// Microsoft 365 (the server knows an app to sign in with).
	Microsoft365 bool
}

// DeviceSignIn is a Microsoft 365 device code sign-in as the tab shows
// it: the code to enter at VerificationURI before Expiry. The device code
// and the tokens never leave the sync side.
type DeviceSignIn struct {
	UserCode, VerificationURI string
	Expiry                    time.Time
	State                     string // pending, done, declined, expired, cancelled or failed
	Err                       string // what failed, when State is failed
}

// SyncOptions are the choices of turning sync on.
type SyncOptions struct{ Mode, Filter, Policy string }

// RunStatus is the progress and, once Finished, the summary of a first sync.
type RunStatus struct {
	Done, Total     int
	Started         time.Time
	Finished        bool
	Err             string
	CreatedInCRM    int
	CreatedInRemote int
	Duplicates      int
	Conflicts       int
	Errors          int
}

// Percent is how much is done, 100 once finished.
func (r *RunStatus) Percent() int {
	if r.Finished {
		return 100
	}
	if r.Total <= 0 {
		return 0
	}
	return r.Done * 100 / r.Total
}

// marking is the manual-mode state of the signed-in user's contacts.
type marking struct {
	Marked map[string]bool
}

// marking returns the user's marks when their Outlook sync is in manual
// mode (the user settings the sync reads), nil otherwise.
func (h *Handler) marking(rq *request) *marking {
	if h.sync == nil {
		return nil
	}
	settings, err := h.crm.UserSettings(rq.ctx)
	if err != nil {
		return nil
	}
	m := &marking{Marked: map[string]bool{}}
	manual := false
	for _, s := range settings {
		switch {
		case s.Path == "Contacts" && s.Name == "SyncMode":
			manual = s.Value == "manual"
		case s.Path == engine.ManualMarkPath && s.Value == "true":
			m.Marked[s.Name] = true
		}
	}
	if !manual {
		return nil
	}
	return m
}

// mark marks or unmarks a visible contact for sync in manual mode.
func (h *Handler) mark(w http.ResponseWriter, r *http.Request, rq *request) {
	it, err := h.item(rq, crmsync.Contacts, r.PostFormValue("guid"))
	if err != nil {
		h.fail(w, r, rq, err)
		return
	}
	v := "false"
	if r.PostFormValue("on") != "" {
		v = "true"
	}
	if err := h.crm.SaveUserSetting(rq.ctx, crmsync.Setting{Path: engine.ManualMarkPath, Name: it.GUID, Value: v}); err != nil {
		h.fail(w, r, rq, err)
		return
	}
	back := r.PostFormValue("back")
	if !strings.HasPrefix(back, "/contacts") || strings.HasPrefix(back, "//") {
		back = "/contacts/" + it.GUID
	}
	h.redirect(w, r, rq, back, "")
}

// firstSyncWaits reports whether the user turned sync on and answered
// Later, so that the question comes again at this sign-in. It reads the
// stored state alone: the start page is every page's brand link, and
// must not wait for a remote to answer the prerequisite check.
func (h *Handler) firstSyncWaits(rq *request) bool {
	for _, kind := range syncKinds {
		if st, err := h.sync.State(rq.ctx, rq.s.user, kind); err == nil && st == "first-sync-pending" {
			return true
		}
	}
	return false
}

func (h *Handler) syncRoutes(m *http.ServeMux) {
	if h.sync == nil {
		return
	}
	m.HandleFunc("GET /mycontacts", h.authed(h.myContacts))
	m.HandleFunc("POST /mycontacts/mark", h.authed(h.mark))
	m.HandleFunc("POST /mycontacts/connect", h.authed(h.connect))
	m.HandleFunc("POST /mycontacts/m365", h.authed(h.startMicrosoft365))
	m.HandleFunc("GET /mycontacts/m365", h.authed(h.microsoft365))
	m.HandleFunc("GET /mycontacts/m365/status", h.authed(h.microsoft365Status))
	m.HandleFunc("POST /mycontacts/m365/cancel", h.authed(h.cancelMicrosoft365))
	m.HandleFunc("POST /mycontacts/carddav", h.authed(h.connectCardDAV))
	m.HandleFunc("POST /mycontacts/enable", h.authed(h.enable))
	m.HandleFunc("POST /mycontacts/firstsync", h.authed(h.firstSync))
	m.HandleFunc("GET /mycontacts/progress", h.authed(h.progress))
	m.HandleFunc("GET /mycontacts/events", h.authed(h.events))
	m.HandleFunc("GET /mycontacts/duplicates", h.authed(h.duplicates))
	m.HandleFunc("GET /mycontacts/runs", h.authed(h.runs))
	m.HandleFunc("POST /mycontacts/runs/take", h.authed(h.takeLost))
	m.HandleFunc("POST /mycontacts/duplicates/merge", h.authed(h.resolveDuplicate(true)))
	m.HandleFunc("POST /mycontacts/duplicates/keep", h.authed(h.resolveDuplicate(false)))
}

func (h *Handler) duplicates(w http.ResponseWriter, r *http.Request, rq *request) {
	pairs, err := h.sync.Duplicates(rq.ctx, rq.s.user)
	if err != nil {
		h.fail(w, r, rq, err)
		return
	}
	h.render(w, r, http.StatusOK, "duplicates", h.view(rq, "mycontacts", &view{Title: tr(rq.lang, "dup.title"), Data: pairs}))
}

// resolveDuplicate merges a duplicate or keeps both.
func (h *Handler) resolveDuplicate(merge bool) func(http.ResponseWriter, *http.Request, *request) {
	return func(w http.ResponseWriter, r *http.Request, rq *request) {
		id := r.PostFormValue("id")
		var err error
		flash := tr(rq.lang, "dup.kept")
		if merge {
			var filled, differing int
			filled, differing, err = h.sync.MergeDuplicate(rq.ctx, rq.s.user, id)
			flash = fmt.Sprintf(tr(rq.lang, "dup.merged"), filled, differing)
		} else {
			err = h.sync.KeepBoth(rq.ctx, rq.s.user, id)
		}
		if err != nil {
			h.fail(w, r, rq, err)
			return
		}
		h.redirect(w, r, rq, "/mycontacts/duplicates", flash)
	}
}

func (h *Handler) myContacts(w http.ResponseWriter, r *http.Request, rq *request) {
	h.renderMyContacts(w, r, rq, http.StatusOK, "")
}

// syncKinds are the partnerships the tab shows, in order.
var syncKinds = []string{"outlook", "carddav"}

// partnerView is one partnership's section of the tab.
type partnerView struct {
	S     *SyncState
	Ready bool // every prerequisite ticked
}

func (h *Handler) renderMyContacts(w http.ResponseWriter, r *http.Request, rq *request, status int, errMsg string) {
	var parts []partnerView
	for _, kind := range syncKinds {
		st, err := h.sync.Partnership(rq.ctx, rq.s.user, kind)
		if err != nil {
			h.fail(w, r, rq, err)
			return
		}
		pv := partnerView{S: st, Ready: true}
		for _, c := range st.Checks {
			pv.Ready = pv.Ready && c.OK
		}
		parts = append(parts, pv)
	}
	h.render(w, r, status, "mycontacts", h.view(rq, "mycontacts", &view{Title: tr(rq.lang, "nav.mycontacts"), Error: errMsg,
		Data: map[string]any{"Parts": parts, "Run": h.sync.FirstSync(rq.s.user)}}))
}

// kindOf reads the form's partnership kind.
func kindOf(r *http.Request) (string, error) {
	k := r.PostFormValue("kind")
	if k == "" {
		k = "outlook"
	}
	for _, known := range syncKinds {
		if k == known {
			return k, nil
		}
	}
	return "", crmsync.Errorf(crmsync.EINVALID, "unknown sync kind %q", k)
}

func (h *Handler) connectCardDAV(w http.ResponseWriter, r *http.Request, rq *request) {
	a := CardDAVAccount{URL: strings.TrimSpace(r.PostFormValue("url")), Username: strings.TrimSpace(r.PostFormValue("username")),
		Password: r.PostFormValue("password"), Book: strings.TrimSpace(r.PostFormValue("book"))}
	if !strings.HasPrefix(a.URL, "http://") && !strings.HasPrefix(a.URL, "https://") || a.Username == "" || a.Password == "" {
		h.renderMyContacts(w, r, rq, http.StatusBadRequest, tr(rq.lang, "err.invalid")+" "+tr(rq.lang, "sync.badcarddav"))
		return
	}
	if err := h.sync.ConnectCardDAV(rq.ctx, rq.s.user, a); err != nil {
		h.renderMyContacts(w, r, rq, statusOf(err), h.message(rq.lang, err))
		return
	}
	h.redirect(w, r, rq, "/mycontacts", tr(rq.lang, "sync.connectedbook"))
}

func (h *Handler) connect(w http.ResponseWriter, r *http.Request, rq *request) {
	u := strings.TrimRight(strings.TrimSpace(r.PostFormValue("sandbox")), "/")
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		h.renderMyContacts(w, r, rq, http.StatusBadRequest, tr(rq.lang, "err.invalid")+" "+tr(rq.lang, "sync.badurl"))
		return
	}
	if err := h.sync.ConnectSandbox(rq.ctx, rq.s.user, u); err != nil {
		h.renderMyContacts(w, r, rq, statusOf(err), h.message(rq.lang, err))
		return
	}
	h.redirect(w, r, rq, "/mycontacts", tr(rq.lang, "sync.connected"))
}

func (h *Handler) startMicrosoft365(w http.ResponseWriter, r *http.Request, rq *request) {
	if err := h.sync.StartMicrosoft365(rq.ctx, rq.s.user); err != nil {
		h.renderMyContacts(w, r, rq, statusOf(err), h.message(rq.lang, err))
		return
	}
	h.redirect(w, r, rq, "/mycontacts/m365", "")
}

// microsoft365 shows the sign-in's code while it waits (re-checked by
// reloading without JavaScript, polled with it) and goes on to the tab's
// prerequisites once the mailbox is connected.
func (h *Handler) microsoft365(w http.ResponseWriter, r *http.Request, rq *request) {
	si := h.sync.Microsoft365SignIn(rq.s.user)
	switch {
	case si == nil:
		h.redirect(w, r, rq, "/mycontacts", "")
		return
	case si.State == "done":
		h.redirect(w, r, rq, "/mycontacts#outlook", tr(rq.lang, "m365.done"))
		return
	}
	h.render(w, r, http.StatusOK, "m365", h.view(rq, "mycontacts", &view{Title: tr(rq.lang, "m365.title"),
		Data: map[string]any{"S": si, "Minutes": max(0, int(time.Until(si.Expiry).Round(time.Minute)/time.Minute))}}))
}

// microsoft365Status is the sign-in's state for the page's script.
func (h *Handler) microsoft365Status(w http.ResponseWriter, r *http.Request, rq *request) {
	state := "none"
	if si := h.sync.Microsoft365SignIn(rq.s.user); si != nil {
		state = si.State
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]string{"state": state})
}

func (h *Handler) cancelMicrosoft365(w http.ResponseWriter, r *http.Request, rq *request) {
	h.sync.CancelMicrosoft365(rq.s.user)
	h.redirect(w, r, rq, "/mycontacts", tr(rq.lang, "m365.cancelled"))
}

func (h *Handler) enable(w http.ResponseWriter, r *http.Request, rq *request) {
	o := SyncOptions{Mode: r.PostFormValue("mode"), Filter: strings.TrimSpace(r.PostFormValue("filter")), Policy: r.PostFormValue("policy")}
	kind, err := kindOf(r)
	if err == nil {
		err = h.sync.Enable(rq.ctx, rq.s.user, kind, o)
	}
	if err != nil {
		h.renderMyContacts(w, r, rq, statusOf(err), h.message(rq.lang, err))
		return
	}
	h.sessions.firstAsk(rq.s) // asked right now, on the tab
	h.redirect(w, r, rq, "/mycontacts", "")
}

// firstSync answers "Run the first sync now?": Now starts it and shows
// the progress; Later leaves it waiting until the next sign-in.
func (h *Handler) firstSync(w http.ResponseWriter, r *http.Request, rq *request) {
	if r.PostFormValue("answer") != "now" {
		h.redirect(w, r, rq, "/mycontacts", tr(rq.lang, "sync.later"))
		return
	}
	kind, err := kindOf(r)
	if err == nil {
		err = h.sync.StartFirstSync(rq.ctx, rq.s.user, kind)
	}
	if err != nil {
		h.renderMyContacts(w, r, rq, statusOf(err), h.message(rq.lang, err))
		return
	}
	h.redirect(w, r, rq, "/mycontacts/progress", "")
}

func (h *Handler) progress(w http.ResponseWriter, r *http.Request, rq *request) {
	run := h.sync.FirstSync(rq.s.user)
	if run == nil {
		h.redirect(w, r, rq, "/mycontacts", "")
		return
	}
	h.render(w, r, http.StatusOK, "progress", h.view(rq, "mycontacts", &view{Title: tr(rq.lang, "sync.progress"),
		Data: map[string]any{"Run": run, "Rate": rate(run), "ETA": eta(rq.lang, run)}}))
}

// rate is the contacts per second so far.
func rate(run *RunStatus) string {
	s := time.Since(run.Started).Seconds()
	if s <= 0 || run.Done == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f/s", float64(run.Done)/s)
}

func eta(lang string, run *RunStatus) string {
	if run.Finished {
		return "0 s"
	}
	s := time.Since(run.Started).Seconds()
	if run.Done == 0 || run.Total <= run.Done || s <= 0 {
		return "–"
	}
	left := time.Duration(float64(run.Total-run.Done) / (float64(run.Done) / s) * float64(time.Second))
	return left.Round(time.Second).String()
}

// events pushes the first sync's progress as server-sent events until it
// is done.
func (h *Handler) events(w http.ResponseWriter, r *http.Request, rq *request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		run := h.sync.FirstSync(rq.s.user)
		if run == nil {
			return
		}
		b, _ := json.Marshal(map[string]any{"done": run.Done, "total": run.Total, "rate": rate(run), "eta": eta(rq.lang, run)})
		fmt.Fprintf(w, "event: progress\ndata: %s\n\n", b)
		if run.Finished {
			b, _ := json.Marshal(map[string]any{"createdInCRM": run.CreatedInCRM, "createdInRemote": run.CreatedInRemote,
				"duplicates": run.Duplicates, "conflicts": run.Conflicts, "errors": run.Errors})
			fmt.Fprintf(w, "event: done\ndata: %s\n\n", b)
			fl.Flush()
			return
		}
		fl.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

func (h *Handler) runs(w http.ResponseWriter, r *http.Request, rq *request) {
	runs, err := h.sync.Runs(rq.ctx, rq.s.user)
	if err != nil {
		h.fail(w, r, rq, err)
		return
	}
	h.render(w, r, http.StatusOK, "runs", h.view(rq, "mycontacts", &view{Title: tr(rq.lang, "runs.title"), Data: runs}))
}

// takeLost writes the value a conflict overwrote back to the CRM contact,
// as an edit by the user (the service checks the right; the sync carries
// it to Outlook). The conflict is looked up in the user's own runs, so
// the form names only which one.
func (h *Handler) takeLost(w http.ResponseWriter, r *http.Request, rq *request) {
	runs, err := h.sync.Runs(rq.ctx, rq.s.user)
	if err != nil {
		h.fail(w, r, rq, err)
		return
	}
	var c *engine.Conflict
	for i := range runs {
		if fmt.Sprint(runs[i].ID) == r.PostFormValue("run") {
			for j := range runs[i].Conflicts {
				if fmt.Sprint(j) == r.PostFormValue("index") {
					c = &runs[i].Conflicts[j]
				}
			}
		}
	}
	if c == nil || !crmsync.IsGUID(c.CRMID) {
		h.fail(w, r, rq, crmsync.Errorf(crmsync.ENOTFOUND, "no such conflict"))
		return
	}
	if _, err := h.saveOne(rq, crmsync.Contacts, crmsync.Patch{GUID: c.CRMID, Set: map[string]string{c.Field: c.Lost}}, crmsync.SaveOptions{}); err != nil {
		h.fail(w, r, rq, err)
		return
	}
	h.redirect(w, r, rq, "/contacts/"+c.CRMID, tr(rq.lang, "runs.taken"))
}
