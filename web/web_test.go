package web_test

import (
	"context"
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

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/sqlite"
	"github.com/crmsync/crmsync/web"
)

// world is a UI over a real SQLite service on a loopback server, with
// alice (contacts, companies and journals: all rights), bob (view only)
// and the administrator root.
type world struct {
	t     testing.TB
	svc   *service.Service
	srv   *httptest.Server
	base  string
	alice *crmsync.User
	bob   *crmsync.User
}

func newWorld(t testing.TB, opts web.Options) *world {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "crm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := service.New(db, service.Options{PasswordCost: 4})
	sys := crmsync.System(context.Background())
	w := &world{t: t, svc: svc, base: opts.BasePath}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var full, viewOnly []crmsync.Rights
	for _, f := range crmsync.Folders {
		full = append(full, crmsync.Rights{Folder: f, View: crmsync.LevelAll, Edit: crmsync.LevelAll, Delete: crmsync.LevelAll, CanCreate: true, CanExport: true})
		viewOnly = append(viewOnly, crmsync.Rights{Folder: f, View: crmsync.LevelAll})
	}
	must(svc.SaveGroup(sys, "sales", full))
	must(svc.SaveGroup(sys, "viewers", viewOnly))
	w.alice, err = svc.AddUser(sys, "alice", "alice-pw", false)
	must(err)
	w.bob, err = svc.AddUser(sys, "bob", "bob-pw", false)
	must(err)
	_, err = svc.AddUser(sys, "root", "root-pw", true)
	must(err)
	must(svc.AddToGroup(sys, "alice", "sales"))
	must(svc.AddToGroup(sys, "bob", "viewers"))
	opts.CRM = svc
	h, err := web.New(opts)
	must(err)
	mux := http.NewServeMux()
	h.Mount(mux)
	w.srv = httptest.NewServer(mux)
	t.Cleanup(w.srv.Close)
	return w
}

// browser is one client with its own cookies.
type browser struct {
	w    *world
	c    *http.Client
	lang string
}

func (w *world) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{w: w, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	body   string
	loc    string
	resp   *http.Response
}

func (b *browser) do(method, path string, form url.Values) page {
	b.w.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.w.srv.URL+b.w.base+path, body)
	if err != nil {
		b.w.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.w.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, body: string(data), loc: resp.Header.Get("Location"), resp: resp}
}

func (b *browser) get(path string) page { return b.do("GET", path, nil) }

var csrfPattern = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func (p page) csrf(t testing.TB) string {
	t.Helper()
	m := csrfPattern.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token on the page (%d):\n%s", p.status, p.body)
	}
	return m[1]
}

// post submits form to path with the CSRF token of the page at from.
func (b *browser) post(from, path string, form url.Values) page {
	b.w.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", b.get(from).csrf(b.w.t))
	return b.do("POST", path, form)
}

func (w *world) signIn(name, password string) *browser {
	w.t.Helper()
	b := w.browser()
	p := b.post("/signin", "/signin", url.Values{"name": {name}, "password": {password}})
	if p.status != http.StatusSeeOther {
		w.t.Fatalf("signing in as %s: %d\n%s", name, p.status, p.body)
	}
	return b
}

func (w *world) count(u *crmsync.User, f crmsync.Folder) int {
	w.t.Helper()
	items, err := w.svc.Items(crmsync.WithUser(context.Background(), u), f, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return len(items)
}

// save creates an item as u and returns its GUID.
func (w *world) save(u *crmsync.User, f crmsync.Folder, fields map[string]string) string {
	w.t.Helper()
	return w.patch(u, f, crmsync.Patch{Set: fields})
}

// patch saves p as u, behind the UI's back; any refusal fails the test.
func (w *world) patch(u *crmsync.User, f crmsync.Folder, p crmsync.Patch) string {
	w.t.Helper()
	res, err := w.svc.Save(crmsync.WithUser(context.Background(), u), f, []crmsync.Patch{p}, crmsync.SaveOptions{})
	if err != nil || res[0].Err != nil {
		w.t.Fatal(err, res)
	}
	return res[0].GUID
}

// field is the stored value of an item's field, as u sees it.
func (w *world) field(u *crmsync.User, f crmsync.Folder, guid, name string) string {
	w.t.Helper()
	items, err := w.svc.Items(crmsync.WithUser(context.Background(), u), f, []string{guid})
	if err != nil || len(items) != 1 {
		w.t.Fatalf("reading %s %s: %d items, %v", f, guid, len(items), err)
	}
	return items[0].Get(name)
}

func TestSignInAndOut(t *testing.T) {
	w := newWorld(t, web.Options{})
	b := w.browser()
	if p := b.get("/contacts"); p.status != http.StatusSeeOther || p.loc != "/signin" {
		t.Fatalf("signed out, /contacts gives %d to %q", p.status, p.loc)
	}
	wrong := b.post("/signin", "/signin", url.Values{"name": {"alice"}, "password": {"nope"}})
	unknown := b.post("/signin", "/signin", url.Values{"name": {"nobody"}, "password": {"nope"}})
	for _, p := range []page{wrong, unknown} {
		if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "Wrong user name or password.") {
			t.Errorf("bad sign-in: %d\n%s", p.status, p.body)
		}
	}
	// The page must not tell an existing user from an unknown one.
	strip := func(s string) string {
		return csrfPattern.ReplaceAllString(strings.ReplaceAll(s, "nobody", "alice"), "")
	}
	if strip(wrong.body) != strip(unknown.body) {
		t.Error("the answers for a wrong password and an unknown user differ")
	}

	ok := b.post("/signin", "/signin", url.Values{"name": {"alice"}, "password": {"alice-pw"}})
	if ok.status != http.StatusSeeOther || ok.loc != "/" {
		t.Fatalf("sign-in: %d to %q", ok.status, ok.loc)
	}
	var sc *http.Cookie
	for _, c := range ok.resp.Cookies() {
		if c.Name == "crmsync_session" {
			sc = c
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" {
		t.Fatalf("session cookie %+v", sc)
	}
	if p := b.get("/contacts"); p.status != http.StatusOK || !strings.Contains(p.body, "alice") {
		t.Fatalf("signed in, /contacts: %d", p.status)
	}
	if p := b.post("/contacts", "/signout", nil); p.status != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", p.status)
	}
	if p := b.get("/contacts"); p.status != http.StatusSeeOther {
		t.Fatalf("after sign-out /contacts gives %d", p.status)
	}
	// The old session id no longer works even if replayed.
	replay := w.browser()
	u, _ := url.Parse(w.srv.URL)
	replay.c.Jar.SetCookies(u, []*http.Cookie{sc})
	if p := replay.get("/contacts"); p.status != http.StatusSeeOther {
		t.Fatalf("a replayed session after sign-out gives %d", p.status)
	}
}

func TestCSRFRefused(t *testing.T) {
	w := newWorld(t, web.Options{})
	// Sign-in without the form's token.
	b := w.browser()
	if p := b.do("POST", "/signin", url.Values{"name": {"alice"}, "password": {"alice-pw"}}); p.status != http.StatusForbidden {
		t.Errorf("sign-in without a token: %d", p.status)
	}
	a := w.signIn("alice", "alice-pw")
	g := w.save(w.alice, crmsync.Contacts, map[string]string{crmsync.FieldLastName: "Keep"})
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/contacts/new", url.Values{"LastName": {"Forged"}}},
		{"/contacts/new", url.Values{"LastName": {"Forged"}, "csrf": {"0000000000000000000000000000000000000000000000000000000000000000"}}},
		{"/contacts/" + g + "/edit", url.Values{"LastName": {"Forged"}, "version": {"1"}}},
		{"/contacts/" + g + "/delete", url.Values{}},
		{"/signout", url.Values{}},
	} {
		if p := a.do("POST", c.path, c.form); p.status != http.StatusForbidden || !strings.Contains(p.body, "did not come from this site") {
			t.Errorf("POST %s without the token: %d", c.path, p.status)
		}
	}
	if n := w.count(w.alice, crmsync.Contacts); n != 1 {
		t.Errorf("%d contacts after forged posts, want 1", n)
	}
	if p := a.get("/contacts/" + g); !strings.Contains(p.body, "Keep") {
		t.Error("a forged post changed the contact or signed alice out")
	}
}

func TestContactLifecycle(t *testing.T) {
	w := newWorld(t, web.Options{})
	a := w.signIn("alice", "alice-pw")
	company := w.save(w.alice, crmsync.Companies, map[string]string{crmsync.FieldCompanyName: "Acme s.r.o."})

	p := a.post("/contacts/new", "/contacts/new", url.Values{"FirstName": {"Eva"}, "LastName": {"Nováková"}, "Email1Address": {"eva@example.com"}, "TelephoneNumber3": {"+420 777 123 456"}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.loc, "/contacts/") {
		t.Fatalf("create: %d %q\n%s", p.status, p.loc, p.body)
	}
	guid := strings.TrimPrefix(p.loc, "/contacts/")
	w.patch(w.alice, crmsync.Contacts, crmsync.Patch{GUID: guid, Set: map[string]string{crmsync.FieldCompanyGUID: company}})
	w.save(w.alice, crmsync.Journal, map[string]string{crmsync.FieldFileAs: "First call", crmsync.FieldContactGUID: guid, crmsync.FieldEventStart: "2026-01-01 10:00:00"})
	w.save(w.alice, crmsync.Journal, map[string]string{crmsync.FieldFileAs: "Second meeting", crmsync.FieldContactGUID: guid, crmsync.FieldEventStart: "2026-03-01 10:00:00"})

	open := a.get("/contacts/" + guid)
	if open.status != http.StatusOK || !strings.Contains(open.body, "Created.") || !strings.Contains(open.body, "Acme s.r.o.") {
		t.Fatalf("open after create: %d\n%s", open.status, open.body)
	}
	if i, j := strings.Index(open.body, "Second meeting"), strings.Index(open.body, "First call"); i < 0 || j < 0 || i > j {
		t.Errorf("journals not newest first (%d, %d)", i, j)
	}
	for _, q := range []string{"nováková", "EVA@example", "777123456"} {
		if l := a.get("/contacts?q=" + url.QueryEscape(q)); !strings.Contains(l.body, "/contacts/"+guid) {
			t.Errorf("search %q does not find the contact", q)
		}
	}
	if l := a.get("/contacts?q=nobody-like-this"); strings.Contains(l.body, guid) || !strings.Contains(l.body, "Nothing matches") {
		t.Error("a search that matches nothing")
	}

	// Edit, then a conflict: someone saves while the form is open.
	edit := a.get("/contacts/" + guid + "/edit")
	token := edit.csrf(t)
	form := url.Values{"csrf": {token}, "version": {"2"}, "FirstName": {"Eva"}, "LastName": {"Nováková"}, "Title": {"Head of sales"}}
	if p := a.do("POST", "/contacts/"+guid+"/edit", form); p.status != http.StatusSeeOther {
		t.Fatalf("edit: %d\n%s", p.status, p.body)
	}
	w.patch(w.alice, crmsync.Contacts, crmsync.Patch{GUID: guid, Set: map[string]string{crmsync.FieldJobTitle: "CEO"}})
	form.Set("Title", "Sales director")
	conflict := a.do("POST", "/contacts/"+guid+"/edit", form) // still version 2: stale
	if conflict.status != http.StatusConflict || !strings.Contains(conflict.body, "changed by someone else meanwhile") ||
		!strings.Contains(conflict.body, `value="Sales director"`) || !strings.Contains(conflict.body, "Saved meanwhile: CEO") {
		t.Fatalf("conflict: %d\n%s", conflict.status, conflict.body)
	}
	if title := w.field(w.alice, crmsync.Contacts, guid, crmsync.FieldJobTitle); title != "CEO" {
		t.Fatalf("the conflicting save wrote %q", title)
	}
	// Saving the conflict form again keeps the user's value knowingly.
	again := url.Values{}
	for k, v := range form {
		again[k] = v
	}
	again.Set("version", regexp.MustCompile(`name="version" value="(\d+)"`).FindStringSubmatch(conflict.body)[1])
	if p := a.do("POST", "/contacts/"+guid+"/edit", again); p.status != http.StatusSeeOther {
		t.Fatalf("saving over the conflict: %d", p.status)
	}
	if title := w.field(w.alice, crmsync.Contacts, guid, crmsync.FieldJobTitle); title != "Sales director" {
		t.Fatalf("after saving again: %q", title)
	}

	// Delete to the trash and restore.
	if p := a.post("/contacts/"+guid, "/contacts/"+guid+"/delete", nil); p.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", p.status)
	}
	if p := a.get("/contacts/" + guid); p.status != http.StatusNotFound {
		t.Errorf("a deleted contact opens: %d", p.status)
	}
	tr := a.get("/contacts/trash")
	if !strings.Contains(tr.body, "Nováková") || !strings.Contains(tr.body, "/contacts/"+guid+"/restore") {
		t.Fatalf("trash:\n%s", tr.body)
	}
	if p := a.post("/contacts/trash", "/contacts/"+guid+"/restore", nil); p.status != http.StatusSeeOther {
		t.Fatalf("restore: %d", p.status)
	}
	if p := a.get("/contacts/" + guid); p.status != http.StatusOK || !strings.Contains(p.body, "Restored") {
		t.Errorf("after restore: %d", p.status)
	}
}

func TestBadInputWritesNothing(t *testing.T) {
	w := newWorld(t, web.Options{})
	a := w.signIn("alice", "alice-pw")
	contact := w.save(w.alice, crmsync.Contacts, map[string]string{crmsync.FieldLastName: "Dvořák"})
	before := w.count(w.alice, crmsync.Journal)
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"FileAs": {"Call"}, "EventStart": {"yesterday"}, "Contacts_ContactGuid": {contact}}, "is not a date and time"},
		{url.Values{"FileAs": {"Call"}, "TypeEn": {"not-a-guid"}, "Contacts_ContactGuid": {contact}}, "is not a GUID"},
		{url.Values{"FileAs": {"Call"}, "Contacts_ContactGuid": {"nope"}}, "is not a GUID"},
	} {
		p := a.post("/journals/new", "/journals/new", c.form)
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "Please correct the input") || !strings.Contains(p.body, c.want) ||
			!strings.Contains(p.body, `value="Call"`) {
			t.Errorf("bad journal %v: %d\n%s", c.form, p.status, p.body)
		}
	}
	if n := w.count(w.alice, crmsync.Journal); n != before {
		t.Errorf("bad input wrote %d journals", n-before)
	}
	edit := a.get("/contacts/" + contact + "/edit")
	p := a.do("POST", "/contacts/"+contact+"/edit", url.Values{"csrf": {edit.csrf(t)}, "version": {"x1"}, "LastName": {"Changed"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "no valid item version") {
		t.Errorf("bad version: %d", p.status)
	}
	if w.field(w.alice, crmsync.Contacts, contact, crmsync.FieldLastName) != "Dvořák" {
		t.Error("a bad version still wrote")
	}
	if p := a.get("/contacts?after=%25%25"); p.status != http.StatusBadRequest {
		t.Errorf("bad page cursor: %d", p.status)
	}
	if p := a.get("/contacts/not-a-guid"); p.status != http.StatusNotFound {
		t.Errorf("bad GUID in the path: %d", p.status)
	}
}

// A user without rights sees no buttons and gets 403 on forged posts; a
// private item of another user is absent everywhere.
func TestRights(t *testing.T) {
	w := newWorld(t, web.Options{})
	shared := w.save(w.alice, crmsync.Contacts, map[string]string{crmsync.FieldLastName: "Shared"})
	private := w.save(w.alice, crmsync.Contacts, map[string]string{crmsync.FieldLastName: "Hidden", crmsync.FieldIsPrivate: "true"})
	b := w.signIn("bob", "bob-pw")
	for _, f := range []string{"contacts", "companies", "journals"} {
		if l := b.get("/" + f); l.status != http.StatusOK || strings.Contains(l.body, "/"+f+"/new") {
			t.Errorf("bob's %s list: %d, offers New: %v", f, l.status, strings.Contains(l.body, "/"+f+"/new"))
		}
	}
	l := b.get("/contacts")
	if !strings.Contains(l.body, "Shared") || strings.Contains(l.body, "Hidden") || strings.Contains(l.body, private) {
		t.Errorf("bob's list shows the wrong contacts:\n%s", l.body)
	}
	o := b.get("/contacts/" + shared)
	if o.status != http.StatusOK || strings.Contains(o.body, "/edit") || strings.Contains(o.body, "/delete") {
		t.Errorf("bob's view of a contact he may not change offers buttons: %d", o.status)
	}
	if p := b.get("/contacts/" + private); p.status != http.StatusNotFound || strings.Contains(p.body, "Hidden") {
		t.Errorf("bob opens alice's private contact: %d", p.status)
	}
	if p := b.get("/contacts?q=hidden"); strings.Contains(p.body, "Hidden") {
		t.Error("bob finds alice's private contact by search")
	}
	if p := b.get("/contacts/" + shared + "/edit"); p.status != http.StatusForbidden {
		t.Errorf("bob's edit form: %d", p.status)
	}
	if p := b.get("/contacts/new"); p.status != http.StatusForbidden {
		t.Errorf("bob's new form: %d", p.status)
	}
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/contacts/new", url.Values{"LastName": {"Forged"}}},
		{"/companies/new", url.Values{"CompanyName": {"Forged"}}},
		{"/journals/new", url.Values{"FileAs": {"Forged"}}},
		{"/contacts/" + shared + "/edit", url.Values{"LastName": {"Forged"}, "version": {"1"}}},
		{"/contacts/" + shared + "/delete", nil},
	} {
		if p := b.post("/contacts", c.path, c.form); p.status != http.StatusForbidden || !strings.Contains(p.body, "You do not have the right") {
			t.Errorf("bob's forged POST %s: %d", c.path, p.status)
		}
	}
	if p := b.post("/contacts", "/contacts/"+private+"/edit", url.Values{"LastName": {"Forged"}, "version": {"1"}}); p.status != http.StatusNotFound {
		t.Errorf("bob's POST on alice's private contact: %d", p.status)
	}
	if n := w.count(w.alice, crmsync.Contacts); n != 2 {
		t.Errorf("%d contacts after bob's attempts", n)
	}
	if w.field(w.alice, crmsync.Contacts, shared, crmsync.FieldLastName) != "Shared" {
		t.Error("bob changed the contact")
	}
	// Bob may not restore from the trash either.
	if err := w.svc.Delete(crmsync.WithUser(context.Background(), w.alice), crmsync.Contacts, []string{shared}); err != nil {
		t.Fatal(err)
	}
	if tr := b.get("/contacts/trash"); !strings.Contains(tr.body, "Shared") || strings.Contains(tr.body, "/restore") {
		t.Error("bob's trash offers a restore")
	}
	if p := b.post("/contacts/trash", "/contacts/"+shared+"/restore", nil); p.status != http.StatusForbidden {
		t.Errorf("bob's forged restore: %d", p.status)
	}
}

func TestPaging(t *testing.T) {
	w := newWorld(t, web.Options{})
	var patches []crmsync.Patch
	for i := 0; i < 120; i++ {
		patches = append(patches, crmsync.Patch{Set: map[string]string{crmsync.FieldLastName: "Person " + string(rune('A'+i/26)) + string(rune('a'+i%26))}})
	}
	if _, err := w.svc.Save(crmsync.System(context.Background()), crmsync.Contacts, patches, crmsync.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	a := w.signIn("alice", "alice-pw")
	next := regexp.MustCompile(`rel="next" href="([^"]+)"`)
	path, seen := "/contacts", map[string]bool{}
	row := regexp.MustCompile(`<td><a href="/contacts/([0-9a-f-]{36})"`)
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		p := a.get(path)
		for _, m := range row.FindAllStringSubmatch(p.body, -1) {
			if seen[m[1]] {
				t.Fatalf("%s listed twice", m[1])
			}
			seen[m[1]] = true
		}
		path = ""
		if m := next.FindStringSubmatch(p.body); m != nil {
			path = strings.TrimPrefix(strings.ReplaceAll(m[1], "&amp;", "&"), w.base)
		}
	}
	if len(seen) != 120 {
		t.Errorf("paging listed %d of 120", len(seen))
	}
}

func TestCzechAndBasePath(t *testing.T) {
	w := newWorld(t, web.Options{BasePath: "/crm"})
	b := w.browser()
	b.lang = "cs-CZ,cs;q=0.9,en;q=0.5"
	p := b.get("/signin")
	if !strings.Contains(p.body, "Přihlášení do crmsync") || !strings.Contains(p.body, `action="/crm/signin"`) {
		t.Fatalf("Czech sign-in under /crm:\n%s", p.body)
	}
	form := url.Values{"name": {"alice"}, "password": {"alice-pw"}, "csrf": {p.csrf(t)}}
	s := b.do("POST", "/signin", form)
	if s.status != http.StatusSeeOther || s.loc != "/crm/" {
		t.Fatalf("sign-in under /crm: %d %q", s.status, s.loc)
	}
	for _, c := range s.resp.Cookies() {
		if c.Name == "crmsync_session" && c.Path != "/crm/" {
			t.Errorf("session cookie path %q", c.Path)
		}
	}
	l := b.get("/contacts")
	if l.status != http.StatusOK || !strings.Contains(l.body, "Kontakty") || !strings.Contains(l.body, `href="/crm/companies"`) || !strings.Contains(l.body, `href="/crm/static/style.css"`) {
		t.Fatalf("Czech list under /crm: %d\n%s", l.status, l.body)
	}
	if st := b.get("/static/style.css"); st.status != http.StatusOK {
		t.Errorf("static under /crm: %d", st.status)
	}
	if h := b.get("/"); h.status != http.StatusSeeOther || h.loc != "/crm/contacts" {
		t.Errorf("start page redirects to %q", h.loc)
	}
}

func TestPhonesPage(t *testing.T) {
	w := newWorld(t, web.Options{CardDAVPath: "/dav/"})
	a := w.signIn("alice", "alice-pw")
	p := a.get("/phones")
	if p.status != http.StatusOK || !strings.Contains(p.body, w.srv.URL+"/dav/addressbooks/alice/contacts/") {
		t.Fatalf("phones page: %d\n%s", p.status, p.body)
	}
	if p := newWorld(t, web.Options{}).signIn("alice", "alice-pw").get("/phones"); p.status != http.StatusNotFound {
		t.Errorf("phones page without CardDAV: %d", p.status)
	}
}

func TestAdmin(t *testing.T) {
	w := newWorld(t, web.Options{})
	sys := crmsync.System(context.Background())
	a := w.signIn("alice", "alice-pw")
	if p := a.get("/contacts"); strings.Contains(p.body, `href="/admin"`) {
		t.Error("alice is offered the administration tab")
	}
	if p := a.get("/admin"); p.status != http.StatusForbidden {
		t.Errorf("alice opens /admin: %d", p.status)
	}
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/admin/users", url.Values{"name": {"mallory"}, "password": {"x-pw-123"}, "admin": {"1"}}},
		{"/admin/password", url.Values{"name": {"bob"}, "password": {"taken-over"}}},
		{"/admin/members", url.Values{"user": {"alice"}, "group": {"viewers"}}},
		{"/admin/settings", url.Values{crmsync.SettingDuplicityCheck: {"true"}}},
	} {
		if p := a.post("/contacts", c.path, c.form); p.status != http.StatusForbidden {
			t.Errorf("alice's forged POST %s: %d", c.path, p.status)
		}
	}
	if _, err := w.svc.UserByName(sys, "mallory"); crmsync.ErrorCode(err) != crmsync.ENOTFOUND {
		t.Errorf("alice created a user: %v", err)
	}
	w.signIn("bob", "bob-pw") // bob's password unchanged

	r := w.signIn("root", "root-pw")
	page := r.get("/admin")
	if page.status != http.StatusOK || !strings.Contains(page.body, "alice") || !strings.Contains(page.body, "viewers") {
		t.Fatalf("admin page: %d\n%s", page.status, page.body)
	}
	if p := r.post("/admin", "/admin/users", url.Values{"name": {" "}, "password": {"pw"}}); p.status != http.StatusBadRequest || !strings.Contains(p.body, "Please correct the input") {
		t.Errorf("adding a user without a name: %d", p.status)
	}
	users, _ := w.svc.Users(sys)
	if len(users) != 3 {
		t.Errorf("a bad user form wrote: %d users", len(users))
	}
	if p := r.post("/admin", "/admin/users", url.Values{"name": {"carol"}, "password": {"carol-pw"}}); p.status != http.StatusSeeOther {
		t.Fatalf("add carol: %d\n%s", p.status, p.body)
	}
	w.signIn("carol", "carol-pw")
	if p := r.post("/admin", "/admin/password", url.Values{"name": {"bob"}, "password": {"bob-new-pw"}}); p.status != http.StatusSeeOther {
		t.Fatalf("set bob's password: %d", p.status)
	}
	w.signIn("bob", "bob-new-pw")
	form := url.Values{"group": {"viewers"}}
	for _, f := range crmsync.Folders {
		form.Set(string(f)+".view", "All")
		form.Set(string(f)+".edit", "None")
		form.Set(string(f)+".delete", "None")
	}
	form.Set("Contacts.create", "1")
	if p := r.post("/admin", "/admin/groups", form); p.status != http.StatusSeeOther {
		t.Fatalf("save group: %d\n%s", p.status, p.body)
	}
	form.Set("Contacts.view", "Everything")
	if p := r.post("/admin", "/admin/groups", form); p.status != http.StatusBadRequest || !strings.Contains(p.body, "is not a level") {
		t.Errorf("a bad level: %d", p.status)
	}
	rights, _ := w.svc.MyRights(crmsync.WithUser(context.Background(), w.bob))
	if !rights[0].CanCreate || rights[0].View != crmsync.LevelAll {
		t.Errorf("bob's rights after the group edit: %+v", rights[0])
	}
	if p := r.post("/admin", "/admin/members", url.Values{"user": {"carol"}, "group": {"sales"}}); p.status != http.StatusSeeOther {
		t.Fatalf("membership: %d", p.status)
	}
	if u, _ := w.svc.UserByName(sys, "carol"); len(u.Groups) != 1 || u.Groups[0] != "sales" {
		t.Errorf("carol's groups %v", u.Groups)
	}
	if p := r.post("/admin", "/admin/settings", url.Values{crmsync.SettingDuplicityCheck: {"true"}}); p.status != http.StatusSeeOther {
		t.Fatalf("settings: %d", p.status)
	}
	if s, _ := w.svc.GlobalSettings(sys); s[crmsync.SettingDuplicityCheck] != "true" || s[crmsync.SettingCreateCompany] != "false" {
		t.Errorf("settings %v", s)
	}
}

// TestLongListsWithoutExport opens a company with more contacts than a read
// without the Export right may return: bob (no Export) gets the page with a
// note instead of an error, alice (Export) gets every contact listed.
func TestLongListsWithoutExport(t *testing.T) {
	w := newWorld(t, web.Options{})
	company := w.save(w.alice, crmsync.Companies, map[string]string{crmsync.FieldCompanyName: "Big Customer s.r.o."})
	var patches []crmsync.Patch
	for i := range service.ExportFreeItems + 20 {
		patches = append(patches, crmsync.Patch{Set: map[string]string{
			crmsync.FieldLastName:    fmt.Sprintf("Employee %03d", i),
			crmsync.FieldCompanyGUID: company,
		}})
	}
	if _, err := w.svc.Save(crmsync.System(context.Background()), crmsync.Contacts, patches, crmsync.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`<li><a href="/contacts/[0-9a-f-]{36}"`)

	p := w.signIn("bob", "bob-pw").get("/companies/" + company)
	if p.status != http.StatusOK {
		t.Fatalf("bob opening the company: %d\n%s", p.status, p.body)
	}
	if !contains(p.body, "Export right") || contains(p.body, "Employee 000") {
		t.Errorf("bob's company page does not say the contacts were left out:\n%s", p.body)
	}

	p = w.signIn("alice", "alice-pw").get("/companies/" + company)
	if p.status != http.StatusOK {
		t.Fatalf("alice opening the company: %d", p.status)
	}
	if n := len(row.FindAllString(p.body, -1)); n != service.ExportFreeItems+20 {
		t.Errorf("alice's company page lists %d contacts, want %d", n, service.ExportFreeItems+20)
	}
}
