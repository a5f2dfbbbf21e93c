package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/graph"
	"github.com/crmsync/crmsync/graph/sandbox"
	"github.com/crmsync/crmsync/outlook"
)

// The My Contacts tab over real HTTP against an in-process sandbox
// mailbox: connect, the prerequisites with ticks, turning sync on, Later
// (asked again at the next sign-in), Now, the progress pushed as
// server-sent events and the summary's counts.
// syncWorld is a CRM with alice (contacts rights without Export) and
// three contacts, a sandbox mailbox with two (one a duplicate by e-mail)
// and the web UI with its My Contacts tab, all on loopback.
type syncWorld struct {
	d       *syncDeps
	alice   *crmsync.User
	mailbox string // the sandbox's URL
	ui      string // the UI's URL
	rights  crmsync.Rights
	mb      *outlook.Mailbox
}

// grantExport gives alice's group the Export right sync needs.
func (w *syncWorld) grantExport(t *testing.T) {
	w.rights.CanExport = true
	if err := w.d.svc.SaveGroup(crmsync.System(context.Background()), "sales", []crmsync.Rights{w.rights}); err != nil {
		t.Fatal(err)
	}
}

func newSyncWorld(t *testing.T, extra int) *syncWorld { return newSyncWorldWith(t, extra, nil) }

// newSyncWorldWith lets configure change the tab's wiring before the UI
// serves.
func newSyncWorldWith(t *testing.T, extra int, configure func(w *syncWorld, ws *webSync)) *syncWorld {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	env := testEnv(io.Discard)
	mb := outlook.NewMemory()
	t.Cleanup(func() { mb.Close() })
	for _, f := range []map[string]string{
		{crmsync.FieldFirstName: "Only", crmsync.FieldLastName: "Outlook", crmsync.FieldEmail1: "only@outlook.example"},
		{crmsync.FieldFirstName: "Jan", crmsync.FieldLastName: "Novák", crmsync.FieldEmail1: "jan@firma.cz"},
	} {
		c := &outlook.Contact{}
		outlook.ApplyFields(c, f)
		if _, err := mb.Create(mb.DefaultFolder(), c); err != nil {
			t.Fatal(err)
		}
	}
	_, addr, err := startSandbox(ctx, env, mb, "127.0.0.1:0", sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := openSync(ctx, env, dbLocation{Path: filepath.Join(t.TempDir(), "crm.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	sys := crmsync.System(ctx)
	rights := crmsync.Rights{Folder: crmsync.Contacts, View: crmsync.LevelAll, Edit: crmsync.LevelAll, Delete: crmsync.LevelAll, CanCreate: true}
	if err := d.svc.SaveGroup(sys, "sales", []crmsync.Rights{rights}); err != nil {
		t.Fatal(err)
	}
	alice, err := d.svc.AddUser(sys, "alice", "alice-pw", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.svc.AddToGroup(sys, "alice", "sales"); err != nil {
		t.Fatal(err)
	}
	actx := crmsync.WithUser(ctx, alice)
	for _, f := range []map[string]string{
		{crmsync.FieldFirstName: "Jan", crmsync.FieldLastName: "Novák", crmsync.FieldEmail1: "jan@firma.cz"},
		{crmsync.FieldFirstName: "Eva", crmsync.FieldLastName: "Malá", crmsync.FieldEmail1: "eva@firma.cz"},
		{crmsync.FieldFirstName: "Petr", crmsync.FieldLastName: "Velký", crmsync.FieldEmail1: "petr@firma.cz"},
	} {
		if res, err := d.svc.Save(actx, crmsync.Contacts, []crmsync.Patch{{Set: f}}, crmsync.SaveOptions{}); err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
	}
	ws := newWebSync(ctx, d, graph.AuthConfig{})
	w := &syncWorld{d: d, alice: alice, mailbox: "http://" + addr, rights: rights, mb: mb}
	if configure != nil {
		configure(w, ws)
	}
	ui, err := newWebUI(d.svc, ws, "")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	ui.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	for i := 0; i < extra; i++ {
		f := map[string]string{crmsync.FieldFirstName: "Extra", crmsync.FieldLastName: fmt.Sprintf("Person %03d", i), crmsync.FieldEmail1: fmt.Sprintf("extra%d@firma.cz", i)}
		if res, err := d.svc.Save(actx, crmsync.Contacts, []crmsync.Patch{{Set: f}}, crmsync.SaveOptions{}); err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
	}
	w.ui = srv.URL
	return w
}

func TestWebFirstSync(t *testing.T) {
	w := newSyncWorld(t, 0)
	ctx, d, alice, addr, srv := context.Background(), w.d, w.alice, strings.TrimPrefix(w.mailbox, "http://"), struct{ URL string }{w.ui}
	c := newWebClient(t, srv.URL)
	c.signIn("alice", "alice-pw")
	tab := c.get("/mycontacts")
	if !strings.Contains(tab, "Sandbox mailbox address") || strings.Contains(tab, "Prerequisites") {
		t.Fatalf("the tab before connecting:\n%s", tab)
	}
	if st, body := c.post("/mycontacts", "/mycontacts/connect", url.Values{"sandbox": {"not a url"}}); st != http.StatusBadRequest || !strings.Contains(body, "must start with http") {
		t.Errorf("connecting to a bad address: %d", st)
	}
	if st, _ := c.post("/mycontacts", "/mycontacts/connect", url.Values{"sandbox": {"http://" + addr}}); st != http.StatusSeeOther {
		t.Fatalf("connect: %d", st)
	}
	tab = c.get("/mycontacts")
	if !strings.Contains(tab, `<li class="missing">Right to export contacts`) || !strings.Contains(tab, `<li class="ok">Right to create contacts`) ||
		!strings.Contains(tab, `<li class="ok">The mailbox or address book answers`) {
		t.Fatalf("prerequisites without the Export right:\n%s", tab)
	}
	if st, body := c.post("/mycontacts", "/mycontacts/enable", url.Values{"mode": {"automatic"}, "policy": {"newest"}}); st != http.StatusPreconditionFailed || !strings.Contains(body, "export") {
		t.Errorf("enabling without the Export right: %d", st)
	}
	w.grantExport(t)
	if st, body := c.post("/mycontacts", "/mycontacts/enable", url.Values{"mode": {"sideways"}, "policy": {"newest"}}); st != http.StatusBadRequest || !strings.Contains(body, "automatic or manual") {
		t.Errorf("a bad mode: %d", st)
	}
	if st, body := c.post("/mycontacts", "/mycontacts/enable", url.Values{"mode": {"automatic"}, "policy": {"newest"}}); st != http.StatusSeeOther {
		t.Fatalf("enable: %d\n%s", st, body)
	}
	if tab = c.get("/mycontacts"); !strings.Contains(tab, "Run the first sync now?") {
		t.Fatalf("no first-sync question:\n%s", tab)
	}
	// Later: asked again at the next sign-in.
	if st, _ := c.post("/mycontacts", "/mycontacts/firstsync", url.Values{"answer": {"later"}}); st != http.StatusSeeOther {
		t.Fatalf("later: %d", st)
	}
	next := newWebClient(t, srv.URL)
	if loc := next.signIn("alice", "alice-pw"); loc != "/mycontacts" {
		t.Errorf("the next sign-in's start page is %q, want the first-sync question", loc)
	}
	if loc := next.redirect("/"); loc != "/contacts" {
		t.Errorf("asked twice in one sign-in: %q", loc)
	}

	// Now: the progress arrives as events, then the summary.
	if st, _ := next.post("/mycontacts", "/mycontacts/firstsync", url.Values{"answer": {"now"}}); st != http.StatusSeeOther {
		t.Fatalf("now: %d", st)
	}
	if page := next.get("/mycontacts/progress"); !strings.Contains(page, `data-progress="/mycontacts/events"`) {
		t.Fatalf("progress page:\n%s", page)
	}
	progress, done := next.events("/mycontacts/events")
	if len(progress) == 0 || done == nil {
		t.Fatalf("events: %d progress, done %v", len(progress), done)
	}
	last := progress[len(progress)-1]
	if last["done"] != last["total"] || last["total"].(float64) < 1 {
		t.Errorf("the last progress event %v", last)
	}
	// Jan is in both (same e-mail): Outlook's copy is a duplicate, set
	// aside, and the CRM's three go to Outlook; "Only Outlook" comes to
	// the CRM.
	if done["createdInRemote"] != 3.0 || done["createdInCRM"] != 1.0 || done["duplicates"] != 1.0 || done["errors"] != 0.0 {
		t.Errorf("summary %v", done)
	}
	if page := next.get("/mycontacts/progress"); !strings.Contains(page, "The first sync is done") || !strings.Contains(page, `<dialog id="summary" aria-labelledby="summary-title" open>`) {
		t.Errorf("the finished progress page without JavaScript:\n%s", page)
	}
	p, err := d.state.Partnership(ctx, alice.GUID, "outlook")
	if err != nil || p.State != "active" {
		t.Errorf("partnership after the first sync: %+v %v", p, err)
	}
	if page := next.get("/mycontacts"); !strings.Contains(page, "sync is on") {
		t.Errorf("tab after the first sync:\n%s", page)
	}

	// The administrator sees every user's sync state.
	if _, err := d.svc.AddUser(crmsync.System(ctx), "root", "root-pw", true); err != nil {
		t.Fatal(err)
	}
	admin := newWebClient(t, srv.URL)
	admin.signIn("root", "root-pw")
	if page := admin.get("/admin"); !strings.Contains(page, "<td>on</td>") || !strings.Contains(page, "<td>not connected</td>") {
		t.Errorf("sync states on the admin page:\n%s", page)
	}

	// The duplicate side by side, then merged.
	dups := next.get("/mycontacts/duplicates")
	if !strings.Contains(dups, "jan@firma.cz") || !strings.Contains(dups, `/mycontacts/duplicates/merge`) || strings.Count(dups, ">Novák<") != 2 {
		t.Fatalf("duplicates page:\n%s", dups)
	}
	if st, _ := next.post("/mycontacts/duplicates", "/mycontacts/duplicates/merge", url.Values{"id": {"no-such-id"}}); st != http.StatusNotFound {
		t.Errorf("merging an unknown duplicate: %d", st)
	}
	id := regexp.MustCompile(`name="id" value="([^"]+)"`).FindStringSubmatch(dups)[1]
	if st, _ := next.post("/mycontacts/duplicates", "/mycontacts/duplicates/merge", url.Values{"id": {id}}); st != http.StatusSeeOther {
		t.Fatalf("merge: %d", st)
	}
	if page := next.get("/mycontacts/duplicates"); !strings.Contains(page, "Merged: ") || !strings.Contains(page, "No duplicates await review.") {
		t.Errorf("after merging:\n%s", page)
	}
	left, err := d.state.Duplicates(ctx, p.ID)
	if err != nil || len(left) != 0 {
		t.Errorf("duplicates left after merging: %v %v", left, err)
	}

	// A conflict: Eva's job title changed in Outlook, then in the CRM; the
	// CRM's newer value wins, the log offers Outlook's back.
	actx := crmsync.WithUser(ctx, alice)
	found, err := d.svc.Search(actx, crmsync.Contacts, map[string]string{crmsync.FieldEmail1: "eva@firma.cz"}, false)
	if err != nil || len(found) != 1 {
		t.Fatal(err, found)
	}
	eva := found[0].GUID
	ids := w.mb.FindByCRMGUID(eva)
	if len(ids) != 1 {
		t.Fatalf("Eva in Outlook: %v", ids)
	}
	if _, err := w.mb.Update(ids[0], "", func(c *outlook.Contact) error {
		outlook.ApplyFields(c, map[string]string{crmsync.FieldJobTitle: "Outlook title"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := d.svc.Save(actx, crmsync.Contacts, []crmsync.Patch{{GUID: eva, Set: map[string]string{crmsync.FieldJobTitle: "CRM title"}}}, crmsync.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	eng, err := d.engineFor(ctx, p, alice)
	if err != nil {
		t.Fatal(err)
	}
	if run, err := eng.Cycle(ctx); err != nil || len(run.Conflicts) != 1 {
		t.Fatalf("the conflicting cycle: %v, %+v", err, run)
	}
	log := next.get("/mycontacts/runs")
	if !strings.Contains(log, "Outlook title") || !strings.Contains(log, "Take the lost value") {
		t.Fatalf("sync log:\n%s", log)
	}
	m := regexp.MustCompile(`name="run" value="(\d+)"><input type="hidden" name="index" value="(\d+)"`).FindStringSubmatch(log)
	if st, _ := next.post("/mycontacts/runs", "/mycontacts/runs/take", url.Values{"run": {m[1]}, "index": {"99"}}); st != http.StatusNotFound {
		t.Errorf("taking an unknown conflict: %d", st)
	}
	if st, _ := next.post("/mycontacts/runs", "/mycontacts/runs/take", url.Values{"run": {m[1]}, "index": {m[2]}}); st != http.StatusSeeOther {
		t.Fatalf("take the lost value: %d", st)
	}
	items, err := d.svc.Items(actx, crmsync.Contacts, []string{eva})
	if err != nil || items[0].Get(crmsync.FieldJobTitle) != "Outlook title" {
		t.Errorf("after taking the lost value: %v %v", items, err)
	}
}

type webClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newWebClient(t *testing.T, base string) *webClient {
	jar, _ := cookiejar.New(nil)
	return &webClient{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *webClient) do(req *http.Request) (int, string, string) {
	c.t.Helper()
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

func (c *webClient) get(path string) string {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+path, nil)
	st, body, _ := c.do(req)
	if st != http.StatusOK {
		c.t.Fatalf("GET %s: %d\n%s", path, st, body)
	}
	return body
}

func (c *webClient) redirect(path string) string {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+path, nil)
	_, _, loc := c.do(req)
	return loc
}

var webCSRF = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func (c *webClient) post(from, path string, form url.Values) (int, string) {
	c.t.Helper()
	m := webCSRF.FindStringSubmatch(c.get(from))
	if m == nil {
		c.t.Fatalf("no CSRF token on %s", from)
	}
	form.Set("csrf", m[1])
	req, _ := http.NewRequest("POST", c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	st, body, _ := c.do(req)
	return st, body
}

// signIn signs in and follows the start page's redirect once.
func (c *webClient) signIn(name, password string) string {
	c.t.Helper()
	if st, body := c.post("/signin", "/signin", url.Values{"name": {name}, "password": {password}}); st != http.StatusSeeOther {
		c.t.Fatalf("sign-in: %d\n%s", st, body)
	}
	return c.redirect("/")
}

// events reads a server-sent event stream to its end.
func (c *webClient) events(path string) (progress []map[string]any, done map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+path, nil)
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		c.t.Fatalf("events content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			event = v
		} else if v, ok := strings.CutPrefix(line, "data: "); ok {
			var m map[string]any
			if err := json.Unmarshal([]byte(v), &m); err != nil {
				c.t.Fatal(err)
			}
			if event == "done" {
				done = m
			} else {
				progress = append(progress, m)
			}
		}
	}
	return progress, done
}

// Manual mode: the contacts the user marks on the list or the contact page
// are the ones the first sync sends to Outlook.
func TestWebManualMarks(t *testing.T) {
	w := newSyncWorld(t, 0)
	w.grantExport(t)
	c := newWebClient(t, w.ui)
	c.signIn("alice", "alice-pw")
	if st, _ := c.post("/mycontacts", "/mycontacts/connect", url.Values{"sandbox": {w.mailbox}}); st != http.StatusSeeOther {
		t.Fatalf("connect: %d", st)
	}
	if list := c.get("/contacts"); strings.Contains(list, "/mycontacts/mark") {
		t.Error("marks offered before manual mode is on")
	}
	if st, body := c.post("/mycontacts", "/mycontacts/enable", url.Values{"mode": {"manual"}, "policy": {"newest"}}); st != http.StatusSeeOther {
		t.Fatalf("enable manual: %d\n%s", st, body)
	}
	list := c.get("/contacts")
	if strings.Count(list, `action="/mycontacts/mark"`) != 3 {
		t.Fatalf("the list offers %d marks, want 3", strings.Count(list, `action="/mycontacts/mark"`))
	}
	found, err := w.d.svc.Search(crmsync.WithUser(context.Background(), w.alice), crmsync.Contacts, map[string]string{crmsync.FieldEmail1: "eva@firma.cz"}, false)
	if err != nil || len(found) != 1 {
		t.Fatal(err, found)
	}
	eva := found[0].GUID
	if st, _ := c.post("/contacts", "/mycontacts/mark", url.Values{"guid": {eva}, "on": {"1"}, "back": {"/contacts"}}); st != http.StatusSeeOther {
		t.Fatalf("mark: %d", st)
	}
	page := c.get("/contacts/" + eva)
	if !strings.Contains(page, `aria-pressed="true"`) {
		t.Fatalf("Eva's page does not show her marked:\n%s", page)
	}
	if st, _ := c.post("/contacts", "/mycontacts/mark", url.Values{"guid": {"not-a-guid"}, "on": {"1"}}); st != http.StatusNotFound {
		t.Errorf("marking a bad GUID: %d", st)
	}
	if st, _ := c.post("/mycontacts", "/mycontacts/firstsync", url.Values{"answer": {"now"}}); st != http.StatusSeeOther {
		t.Fatalf("now: %d", st)
	}
	if _, done := c.events("/mycontacts/events"); done == nil || done["createdInRemote"] != 1.0 {
		t.Errorf("manual first sync summary %v", done)
	}
	if ids := w.mb.FindByCRMGUID(eva); len(ids) != 1 {
		t.Errorf("Eva in Outlook: %v", ids)
	}
	// Unmarking from the contact page.
	if st, _ := c.post("/contacts/"+eva, "/mycontacts/mark", url.Values{"guid": {eva}, "on": {""}, "back": {"/contacts/" + eva}}); st != http.StatusSeeOther {
		t.Fatalf("unmark: %d", st)
	}
	if page := c.get("/contacts/" + eva); !strings.Contains(page, `aria-pressed="false"`) {
		t.Error("Eva still shown marked")
	}
}

// The same tab for a CardDAV book: another crmsync serves it on loopback.
func TestWebCardDAVFirstSync(t *testing.T) {
	w := newSyncWorld(t, 0)
	w.grantExport(t)
	peerDB := filepath.Join(t.TempDir(), "peer.db")
	mustRun(t, "group", "set", "sales", "--module", "Contacts,Companies,Journal", "--view", "All", "--edit", "All", "--delete", "All", "--create", "--export", "--db", peerDB)
	mustRun(t, "user", "add", "bob", "--password", "phone-pw", "--group", "sales", "--db", peerDB)
	peer, _ := startServe(t, "--db", peerDB)

	c := newWebClient(t, w.ui)
	c.signIn("alice", "alice-pw")
	if st, body := c.post("/mycontacts", "/mycontacts/carddav", url.Values{"url": {peer + "/"}, "username": {"bob"}}); st != http.StatusBadRequest || !strings.Contains(body, "the password of the address book") {
		t.Errorf("connecting without a password: %d", st)
	}
	if st, _ := c.post("/mycontacts", "/mycontacts/carddav", url.Values{"url": {peer + "/"}, "username": {"bob"}, "password": {"wrong"}}); st != http.StatusSeeOther {
		t.Fatalf("connect: %d", st)
	}
	tab := c.get("/mycontacts")
	if !strings.Contains(tab, `<li class="missing">The mailbox or address book answers`) {
		t.Fatalf("a wrong password does not show as a missing prerequisite:\n%s", tab)
	}
	if st, _ := c.post("/mycontacts", "/mycontacts/enable", url.Values{"kind": {"carddav"}, "mode": {"automatic"}, "policy": {"newest"}}); st != http.StatusPreconditionFailed {
		t.Errorf("enabling with a wrong password: %d", st)
	}
	if st, _ := c.post("/mycontacts", "/mycontacts/carddav", url.Values{"url": {peer + "/"}, "username": {"bob"}, "password": {"phone-pw"}}); st != http.StatusSeeOther {
		t.Fatalf("connect again: %d", st)
	}
	if st, body := c.post("/mycontacts", "/mycontacts/enable", url.Values{"kind": {"carddav"}, "mode": {"automatic"}, "policy": {"newest"}}); st != http.StatusSeeOther {
		t.Fatalf("enable: %d\n%s", st, body)
	}
	if st, _ := c.post("/mycontacts", "/mycontacts/firstsync", url.Values{"kind": {"carddav"}, "answer": {"now"}}); st != http.StatusSeeOther {
		t.Fatalf("now: %d", st)
	}
	if _, done := c.events("/mycontacts/events"); done == nil || done["createdInRemote"] != 3.0 || done["errors"] != 0.0 {
		t.Errorf("CardDAV first sync summary %v", done)
	}
	p, err := w.d.state.Partnership(context.Background(), w.alice.GUID, "carddav")
	if err != nil || p.State != "active" {
		t.Errorf("CardDAV partnership after the first sync: %+v %v", p, err)
	}
	// The administrator sees alice's CardDAV sync on, her Outlook not connected.
	if _, err := w.d.svc.AddUser(crmsync.System(context.Background()), "root", "root-pw", true); err != nil {
		t.Fatal(err)
	}
	admin := newWebClient(t, w.ui)
	admin.signIn("root", "root-pw")
	if page := admin.get("/admin"); !strings.Contains(page, "<td>alice</td><td>sales</td>\n  <td>not connected</td><td>on</td>") {
		t.Errorf("alice's sync states on the admin page:\n%s", page)
	}
	if st, _ := c.post("/mycontacts", "/mycontacts/enable", url.Values{"kind": {"fax"}, "mode": {"automatic"}, "policy": {"newest"}}); st != http.StatusBadRequest {
		t.Errorf("an unknown kind: %d", st)
	}
}
