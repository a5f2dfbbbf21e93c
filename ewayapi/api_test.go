package ewayapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/ewayapi"
	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/sqlite"
	"golang.org/x/crypto/bcrypt"
)

// clock is the injected session clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a real CRM on a SQLite file behind the API on a loopback
// HTTP server, with alice (full rights through group "sales") and bob
// (in group "blind": no View on anything).
type fixture struct {
	tb     testing.TB
	crm    crmsync.CRM
	url    string
	clock  *clock
	client *http.Client // http.DefaultClient when nil; see from
}

type fixtureOptions struct {
	api ewayapi.Options
	// wrap replaces the CRM the API sees (to inject failures).
	wrap func(crmsync.CRM) crmsync.CRM
	// svc configures the service (bcrypt's lowest cost is filled in);
	// its clock is the fixture's when svcClock is set.
	svc      service.Options
	svcClock bool
}

func newFixture(tb testing.TB, opts fixtureOptions) *fixture {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "crm.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	clk := &clock{t: time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)}
	so := opts.svc
	so.PasswordCost = bcrypt.MinCost
	if opts.svcClock {
		so.Now = clk.Now
	}
	if so.Logger == nil {
		so.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	svc := service.New(db, so)
	sys := crmsync.System(ctx)
	var full, none []crmsync.Rights
	for _, f := range crmsync.Folders {
		full = append(full, crmsync.FullRights(f))
		none = append(none, crmsync.Rights{Folder: f, CanCreate: false})
	}
	must(tb, svc.SaveGroup(sys, "sales", full))
	must(tb, svc.SaveGroup(sys, "blind", none))
	for _, u := range []struct{ name, group string }{{"alice", "sales"}, {"bob", "blind"}} {
		if _, err := svc.AddUser(sys, u.name, u.name+"-pw", false); err != nil {
			tb.Fatal(err)
		}
		must(tb, svc.AddToGroup(sys, u.name, u.group))
	}
	f := &fixture{tb: tb, crm: svc, clock: clk}
	var api crmsync.CRM = svc
	if opts.wrap != nil {
		api = opts.wrap(svc)
	}
	o := opts.api
	o.Now = f.clock.Now
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	mux := http.NewServeMux()
	ewayapi.NewServer(api, o).Handle(mux)
	hs := httptest.NewServer(mux)
	tb.Cleanup(hs.Close)
	f.url = hs.URL
	return f
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// reply is a decoded envelope.
type reply map[string]any

func (r reply) code() string { s, _ := r["ReturnCode"].(string); return s }
func (r reply) desc() string { s, _ := r["Description"].(string); return s }
func (r reply) data() []any  { d, _ := r["Data"].([]any); return d }

// post sends body (marshalled unless it is a string) to method and
// decodes the envelope; the HTTP status must be 200.
func (f *fixture) post(method string, body any) reply {
	f.tb.Helper()
	var raw []byte
	switch b := body.(type) {
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			f.tb.Fatal(err)
		}
	}
	c := f.client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Post(f.url+"/API.svc/"+method, "application/json", bytes.NewReader(raw))
	if err != nil {
		f.tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		f.tb.Fatalf("%s: HTTP %d", method, resp.StatusCode)
	}
	var r reply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		f.tb.Fatalf("%s: decoding reply: %v", method, err)
	}
	return r
}

// ok calls method in session and fails unless it answers rcSuccess.
func (f *fixture) ok(session, method string, params map[string]any) reply {
	f.tb.Helper()
	r := f.call(session, method, params)
	if r.code() != "rcSuccess" {
		f.tb.Fatalf("%s: %s %q", method, r.code(), r.desc())
	}
	return r
}

// want calls method and fails unless it answers code.
func (f *fixture) want(code, session, method string, params map[string]any) reply {
	f.tb.Helper()
	r := f.call(session, method, params)
	if r.code() != code {
		f.tb.Fatalf("%s: got %s %q, want %s", method, r.code(), r.desc(), code)
	}
	if r.desc() == "" {
		f.tb.Errorf("%s: %s without a Description", method, code)
	}
	return r
}

func (f *fixture) call(session, method string, params map[string]any) reply {
	f.tb.Helper()
	p := map[string]any{}
	for k, v := range params {
		p[k] = v
	}
	if session != "" {
		p["sessionId"] = session
	}
	return f.post(method, p)
}

func (f *fixture) login(name string) string {
	f.tb.Helper()
	r := f.post("LogIn", map[string]any{"userName": name, "passwordHash": crmsync.PasswordMD5(name + "-pw")})
	if r.code() != "rcSuccess" {
		f.tb.Fatalf("LogIn %s: %s %q", name, r.code(), r.desc())
	}
	return r["SessionId"].(string)
}

func (f *fixture) lastChange() int64 {
	f.tb.Helper()
	id, err := f.crm.LastChangeID(crmsync.System(context.Background()))
	must(f.tb, err)
	return id
}

// guids returns the ItemGUIDs of a Data list.
func guids(data []any) []string {
	var out []string
	for _, d := range data {
		out = append(out, d.(map[string]any)["ItemGUID"].(string))
	}
	slices.Sort(out)
	return out
}

func item(t *testing.T, r reply) map[string]any {
	t.Helper()
	d := r.data()
	if len(d) != 1 {
		t.Fatalf("want 1 item, got %d: %v", len(d), d)
	}
	return d[0].(map[string]any)
}

func TestLogIn(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	r := f.post("LogIn", map[string]any{"userName": "alice", "passwordHash": strings.ToUpper(crmsync.PasswordMD5("alice-pw")),
		"appVersion": "test", "clientMachineIdentifier": "x", "isFullSync": true})
	if r.code() != "rcSuccess" || !crmsync.IsGUID(r["SessionId"].(string)) || !crmsync.IsGUID(r["UserItemGuid"].(string)) {
		t.Fatalf("LogIn = %v", r)
	}
	if r["IsAdmin"] != false || r["WcfVersion"] == "" {
		t.Errorf("LogIn = %v", r)
	}
	for _, c := range []map[string]any{
		{"userName": "alice", "passwordHash": crmsync.PasswordMD5("wrong")},
		{"userName": "nobody", "passwordHash": crmsync.PasswordMD5("alice-pw")},
		{"userName": "alice", "passwordHash": "alice-pw"},
	} {
		if r := f.want("rcLoginFailed", "", "LogIn", c); strings.Contains(r.desc(), "alice-pw") {
			t.Errorf("Description echoes the password: %q", r.desc())
		}
	}
}

func TestSessions(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.want("rcBadSession", "", "GetContacts", nil)
	f.want("rcBadSession", "not-a-session", "GetContacts", nil)

	s := f.login("alice")
	// Sliding: 19 minutes between calls keep the session alive.
	for range 3 {
		f.clock.Advance(19 * time.Minute)
		f.ok(s, "GetContacts", nil)
	}
	f.clock.Advance(20 * time.Minute)
	f.want("rcBadSession", s, "GetContacts", nil)

	// At most 24 hours, however busy.
	s = f.login("alice")
	for range 24*6 - 1 {
		f.clock.Advance(10 * time.Minute)
		f.ok(s, "GetLastItemChangeId", nil)
	}
	f.clock.Advance(10 * time.Minute)
	f.want("rcBadSession", s, "GetLastItemChangeId", nil)

	s = f.login("alice")
	f.ok(s, "LogOut", nil)
	f.want("rcBadSession", s, "GetContacts", nil)
}

func TestSessionLimits(t *testing.T) {
	f := newFixture(t, fixtureOptions{api: ewayapi.Options{MaxSessions: 3, MaxSessionsPerUser: 2}})
	a1, a2 := f.login("alice"), f.login("alice")
	f.clock.Advance(time.Second)
	f.ok(a2, "GetContacts", nil) // a1 is now alice's least recently used
	a3 := f.login("alice")
	f.want("rcBadSession", a1, "GetContacts", nil)
	f.ok(a2, "GetContacts", nil)
	f.ok(a3, "GetContacts", nil)
	f.login("bob")
	f.want("rcGeneralError", "", "LogIn", map[string]any{"userName": "bob", "passwordHash": crmsync.PasswordMD5("bob-pw")})
}

// folderCase describes one folder's method names and a minimal item.
type folderCase struct {
	folder           crmsync.Folder
	plural, singular string
	fields           map[string]any // a new item
	searchField      string
}

var folderCases = []folderCase{
	{crmsync.Contacts, "Contacts", "Contact", map[string]any{"FirstName": "Jana", "LastName": "Dvořáková", "Email1Address": "jana@example.com"}, "LastName"},
	{crmsync.Companies, "Companies", "Company", map[string]any{"CompanyName": "Acme s.r.o.", "Phone": "+420 123"}, "CompanyName"},
	{crmsync.Journal, "Journals", "Journal", map[string]any{"FileAs": "Phone call", "Note": "talked", "EventStart": "2026-01-01 10:00:00"}, "FileAs"},
}

func TestItemMethods(t *testing.T) {
	for _, fc := range folderCases {
		t.Run(string(fc.folder), func(t *testing.T) {
			f := newFixture(t, fixtureOptions{})
			s := f.login("alice")
			r := f.ok(s, "Save"+fc.singular, map[string]any{"transmitObject": fc.fields})
			g := r["Guid"].(string)
			if !crmsync.IsGUID(g) || r["ItemVersion"] != 1.0 {
				t.Fatalf("Save%s = %v", fc.singular, r)
			}
			other := f.ok(s, "Save"+fc.singular, map[string]any{"transmitObject": map[string]any{"FileAs": "other"}})["Guid"].(string)

			got := f.ok(s, "Get"+fc.plural, nil)
			if want := sortedOf(g, other); !slices.Equal(guids(got.data()), want) {
				t.Errorf("Get%s = %v, want %v", fc.plural, guids(got.data()), want)
			}
			it := item(t, f.ok(s, "Get"+fc.plural+"ByItemGuids", map[string]any{"itemGuids": []string{strings.ToUpper(g)}}))
			for k, v := range fc.fields {
				if it[k] != v {
					t.Errorf("%s = %v, want %v", k, it[k], v)
				}
			}
			if it["ItemVersion"] != 1.0 || it["IsPrivate"] != false {
				t.Errorf("item = %v", it)
			}
			if d := f.ok(s, "Get"+fc.plural+"ByItemGuids", map[string]any{"itemGuids": []string{}}).data(); len(d) != 0 {
				t.Errorf("empty itemGuids returned %d items", len(d))
			}
			ids := f.ok(s, "Get"+fc.plural+"Identifiers", nil).data()
			if len(ids) != 2 || ids[0].(map[string]any)["ItemVersion"] != 1.0 {
				t.Errorf("Get%sIdentifiers = %v", fc.plural, ids)
			}
			found := f.ok(s, "Search"+fc.plural, map[string]any{"transmitObject": map[string]any{fc.searchField: fc.fields[fc.searchField]}})
			if !slices.Equal(guids(found.data()), []string{g}) {
				t.Errorf("Search%s = %v, want [%s]", fc.plural, guids(found.data()), g)
			}
			foundIDs := f.ok(s, "Search"+fc.plural+"Identifiers", map[string]any{"transmitObject": map[string]any{fc.searchField: fc.fields[fc.searchField]}})
			if len(foundIDs.data()) != 1 {
				t.Errorf("Search%sIdentifiers = %v", fc.plural, foundIDs.data())
			}

			// Batch save: a new one, an update, and a stale one.
			batch := f.ok(s, "Save"+fc.plural, map[string]any{"transmitObjects": []any{
				map[string]any{"FileAs": "batch"},
				map[string]any{"ItemGUID": g, "ItemVersion": 2, "Note": "updated"},
			}})
			if len(batch.data()) != 2 || batch.data()[1].(map[string]any)["ItemVersion"] != 2.0 {
				t.Errorf("Save%s = %v", fc.plural, batch)
			}
			stale := f.call(s, "Save"+fc.plural, map[string]any{"dieOnItemConflict": true, "transmitObjects": []any{
				map[string]any{"ItemGUID": g, "ItemVersion": 2, "Note": "stale"},
				map[string]any{"FileAs": "fresh"},
			}})
			res := stale.data()
			if stale.code() != "rcItemConflict" || len(res) != 2 ||
				res[0].(map[string]any)["ReturnCode"] != "rcItemConflict" || res[1].(map[string]any)["ReturnCode"] != "rcSuccess" {
				t.Errorf("stale batch = %v", stale)
			}

			f.ok(s, "Delete"+fc.singular, map[string]any{"itemGuid": g})
			f.ok(s, "Delete"+fc.plural, map[string]any{"itemGuids": []string{other}})
			left := guids(f.ok(s, "Get"+fc.plural, nil).data())
			if slices.Contains(left, g) || slices.Contains(left, other) || len(left) != 2 {
				t.Errorf("after deletes Get%s = %v", fc.plural, left)
			}
			trash := guids(f.ok(s, "GetDeleted"+fc.plural, nil).data())
			if !slices.Equal(trash, sortedOf(g, other)) {
				t.Errorf("GetDeleted%s = %v", fc.plural, trash)
			}
			f.ok(s, "Restore"+fc.singular, map[string]any{"itemGuid": g})
			if it := item(t, f.ok(s, "Get"+fc.plural+"ByItemGuids", map[string]any{"itemGuids": []string{g}})); it["Note"] != "updated" {
				t.Errorf("restored item = %v", it)
			}
			f.want("rcGeneralError", s, "Restore"+fc.singular, map[string]any{"itemGuid": g})
		})
	}
}

func sortedOf(s ...string) []string { slices.Sort(s); return s }

// TestVersioning follows reference/eway-crm.md §3.7.
func TestVersioning(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	s := f.login("alice")
	g := f.ok(s, "SaveContact", map[string]any{"transmitObject": map[string]any{"FirstName": "Petr", "LastName": "Malý", "Note": "n"}})["Guid"].(string)
	get := func() map[string]any {
		return item(t, f.ok(s, "GetContactsByItemGuids", map[string]any{"itemGuids": []string{g}}))
	}

	r := f.ok(s, "SaveContact", map[string]any{"dieOnItemConflict": true, "transmitObject": map[string]any{"ItemGUID": g, "ItemVersion": 2, "FirstName": "Pavel"}})
	if r["ItemVersion"] != 2.0 || get()["FirstName"] != "Pavel" {
		t.Fatalf("update: %v, %v", r, get())
	}

	before := f.lastChange()
	f.want("rcItemConflict", s, "SaveContact", map[string]any{"dieOnItemConflict": true,
		"transmitObject": map[string]any{"ItemGUID": g, "ItemVersion": 2, "FirstName": "Stale"}})
	if it := get(); it["FirstName"] != "Pavel" || it["ItemVersion"] != 2.0 || f.lastChange() != before {
		t.Errorf("a refused stale save wrote: %v", it)
	}

	// Without dieOnItemConflict the stale save merges: values win, nulls do not erase.
	f.ok(s, "SaveContact", map[string]any{"transmitObject": map[string]any{"ItemGUID": g, "ItemVersion": 2, "FirstName": "Merged", "Note": nil}})
	if it := get(); it["FirstName"] != "Merged" || it["Note"] != "n" || it["ItemVersion"].(float64) <= 2 {
		t.Errorf("merge: %v", it)
	}
	// Without ItemVersion a null erases.
	f.ok(s, "SaveContact", map[string]any{"transmitObject": map[string]any{"ItemGUID": g, "Note": nil}})
	if it := get(); it["Note"] != nil {
		t.Errorf("null without ItemVersion kept Note: %v", it)
	}

	// Creating with a caller-chosen GUID twice.
	mine := "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
	f.ok(s, "SaveContact", map[string]any{"dieOnItemConflict": true, "transmitObject": map[string]any{"ItemGUID": mine, "ItemVersion": 1, "FirstName": "A"}})
	f.want("rcItemAlreadyUploaded", s, "SaveContact", map[string]any{"dieOnItemConflict": true,
		"transmitObject": map[string]any{"ItemGUID": mine, "ItemVersion": 1, "FirstName": "B"}})
}

func TestForeignKeysAndPictures(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	s := f.login("alice")
	company := f.ok(s, "SaveCompany", map[string]any{"transmitObject": map[string]any{"CompanyName": "Acme"}})["Guid"].(string)
	contact := f.ok(s, "SaveContact", map[string]any{"transmitObject": map[string]any{
		"LastName": "Svoboda", "Companies_CompanyGuid": company, "ProfilePicture": "iVBORw0KGgo=",
	}})["Guid"].(string)
	journal := f.ok(s, "SaveJournal", map[string]any{"transmitObject": map[string]any{
		"FileAs": "Meeting", "Contacts_ContactGuid": contact, "Companies_CompanyGuid": company,
	}})["Guid"].(string)

	plain := item(t, f.ok(s, "GetContactsByItemGuids", map[string]any{"itemGuids": []string{contact}}))
	if _, ok := plain["Companies_CompanyGuid"]; ok {
		t.Errorf("foreign key without includeForeignKeys: %v", plain)
	}
	if _, ok := plain["ProfilePicture"]; ok {
		t.Errorf("picture without includeProfilePictures")
	}
	full := item(t, f.ok(s, "GetContactsByItemGuids", map[string]any{"itemGuids": []string{contact},
		"includeForeignKeys": true, "includeProfilePictures": true}))
	if full["Companies_CompanyGuid"] != company || full["ProfilePicture"] != "iVBORw0KGgo=" {
		t.Errorf("with includeForeignKeys and includeProfilePictures: %v", full)
	}
	j := item(t, f.ok(s, "GetJournalsByItemGuids", map[string]any{"itemGuids": []string{journal}, "includeForeignKeys": true}))
	if j["Contacts_ContactGuid"] != contact || j["Companies_CompanyGuid"] != company || j["IsSystem"] != false {
		t.Errorf("journal = %v", j)
	}
}

func TestChangeFeed(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	s := f.login("alice")
	base := int64(f.ok(s, "GetLastItemChangeId", nil)["Datum"].(float64))
	if base != f.lastChange() {
		t.Fatalf("GetLastItemChangeId = %d, store says %d", base, f.lastChange())
	}
	if f.ok(s, "HaveItemsChanged", map[string]any{"baseChangeId": base})["Datum"] != false {
		t.Error("HaveItemsChanged before any change")
	}
	c1 := f.ok(s, "SaveContact", map[string]any{"transmitObject": map[string]any{"LastName": "One"}})["Guid"].(string)
	c2 := f.ok(s, "SaveContact", map[string]any{"transmitObject": map[string]any{"LastName": "Two"}})["Guid"].(string)
	co := f.ok(s, "SaveCompany", map[string]any{"transmitObject": map[string]any{"CompanyName": "Co"}})["Guid"].(string)
	f.ok(s, "DeleteContact", map[string]any{"itemGuid": c2})
	last := int64(f.ok(s, "GetLastItemChangeId", nil)["Datum"].(float64))
	if last <= base {
		t.Fatalf("last change %d not after %d", last, base)
	}

	ch := f.ok(s, "GetItemChangeIdentifiers", map[string]any{"folderName": "Contacts", "baseChangeId": base, "targetChangeId": last}).data()
	state := map[string]bool{}
	for _, c := range ch {
		m := c.(map[string]any)
		if m["FolderName"] != "Contacts" {
			t.Errorf("change in folder %v", m["FolderName"])
		}
		state[m["ItemGUID"].(string)] = m["IsRemoved"].(bool)
	}
	if removed, ok := state[c1]; !ok || removed {
		t.Errorf("c1 in changes: %v", ch)
	}
	if removed, ok := state[c2]; ok && !removed {
		t.Errorf("deleted c2 reported as not removed: %v", ch)
	}

	sets := f.ok(s, "GetChangedItems", map[string]any{"folderNames": []string{"Contacts", "Companies"}, "baseChangeId": base, "targetChangeId": last}).data()
	if len(sets) != 2 {
		t.Fatalf("GetChangedItems = %v", sets)
	}
	for _, set := range sets {
		m := set.(map[string]any)
		changed := guids(m["ChangedItems"].([]any))
		switch m["FolderName"] {
		case "Contacts":
			if !slices.Equal(changed, []string{c1}) {
				t.Errorf("changed contacts = %v, want [%s]", changed, c1)
			}
		case "Companies":
			if !slices.Equal(changed, []string{co}) {
				t.Errorf("changed companies = %v", changed)
			}
		}
	}
	if f.ok(s, "HaveItemsChanged", map[string]any{"baseChangeId": base, "folderNames": []string{"Journal"}})["Datum"] != false {
		t.Error("HaveItemsChanged(Journal) with no journal changes")
	}
	if f.ok(s, "HaveItemsChanged", map[string]any{"baseChangeId": base, "targetChangeId": last})["Datum"] != true {
		t.Error("HaveItemsChanged after changes = false")
	}
	if d := f.ok(s, "GetItemChangeIdentifiers", map[string]any{"folderName": "Contacts", "baseChangeId": last}).data(); len(d) != 0 {
		t.Errorf("changes after the last one: %v", d)
	}
	f.want("rcBaseItemChangeIdNotFound", s, "GetChangedItems", map[string]any{"baseChangeId": last + 100})
	f.want("rcParameterError", s, "GetItemChangeIdentifiers", map[string]any{"folderName": "Contacts", "baseChangeId": last, "targetChangeId": base})

	if f.ok(s, "HaveMyPermissionsChanged", map[string]any{"baseChangeId": last})["Datum"] != false {
		t.Error("HaveMyPermissionsChanged without a change")
	}
	must(t, f.crm.SaveGroup(crmsync.System(context.Background()), "sales", []crmsync.Rights{crmsync.FullRights(crmsync.Contacts)}))
	if f.ok(s, "HaveMyPermissionsChanged", map[string]any{"baseChangeId": last})["Datum"] != true {
		t.Error("HaveMyPermissionsChanged after the group changed = false")
	}
}

// TestNoViewRights: bob, without View rights, sees none of alice's items
// through any method or the change feed, and cannot change them.
func TestNoViewRights(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	alice, bob := f.login("alice"), f.login("bob")
	base := f.lastChange()
	var all []string
	for _, fc := range folderCases {
		g := f.ok(alice, "Save"+fc.singular, map[string]any{"transmitObject": fc.fields})["Guid"].(string)
		all = append(all, g)
		gone := f.ok(alice, "Save"+fc.singular, map[string]any{"transmitObject": map[string]any{"FileAs": "to trash"}})["Guid"].(string)
		f.ok(alice, "Delete"+fc.singular, map[string]any{"itemGuid": gone})

		for _, m := range []struct {
			name   string
			params map[string]any
		}{
			{"Get" + fc.plural, map[string]any{"includeForeignKeys": true}},
			{"Get" + fc.plural + "ByItemGuids", map[string]any{"itemGuids": []string{g, gone}}},
			{"Get" + fc.plural + "Identifiers", nil},
			{"Search" + fc.plural, map[string]any{"transmitObject": map[string]any{fc.searchField: fc.fields[fc.searchField]}}},
			{"Search" + fc.plural, nil},
			{"Search" + fc.plural + "Identifiers", nil},
			{"GetDeleted" + fc.plural, nil},
			{"GetItemChangeIdentifiers", map[string]any{"folderName": string(fc.folder), "baseChangeId": base}},
		} {
			if d := f.ok(bob, m.name, m.params).data(); len(d) != 0 {
				t.Errorf("bob: %s returned %v", m.name, d)
			}
		}
		before := f.lastChange()
		for _, m := range []struct {
			name   string
			params map[string]any
		}{
			{"Save" + fc.singular, map[string]any{"transmitObject": map[string]any{"ItemGUID": g, "FileAs": "bob was here"}}},
			{"Save" + fc.singular, map[string]any{"transmitObject": map[string]any{"FileAs": "bob's own"}}},
			{"Delete" + fc.singular, map[string]any{"itemGuid": g}},
			{"Delete" + fc.plural, map[string]any{"itemGuids": []string{g}}},
			{"Restore" + fc.singular, map[string]any{"itemGuid": gone}},
		} {
			if r := f.call(bob, m.name, m.params); r.code() == "rcSuccess" {
				t.Errorf("bob: %s succeeded", m.name)
			} else if r.code() != "rcAccessDenied" && r.code() != "rcGeneralError" {
				t.Errorf("bob: %s answered %s %q", m.name, r.code(), r.desc())
			}
		}
		if f.lastChange() != before {
			t.Errorf("bob's refused writes appended to the change log")
		}
	}
	sets := f.ok(bob, "GetChangedItems", map[string]any{"baseChangeId": base}).data()
	for _, set := range sets {
		m := set.(map[string]any)
		if len(m["ChangedItems"].([]any)) != 0 {
			t.Errorf("bob: GetChangedItems %v: %v", m["FolderName"], m["ChangedItems"])
		}
		for _, g := range m["RemovedItemGuids"].([]any) {
			if slices.Contains(all, g.(string)) {
				t.Errorf("bob: GetChangedItems leaks GUID %v as removed", g)
			}
		}
	}
	if f.ok(bob, "HaveItemsChanged", map[string]any{"baseChangeId": base})["Datum"] != false {
		t.Error("bob: HaveItemsChanged = true for changes he may not see")
	}
	for _, p := range f.ok(bob, "GetMyModulePermissions", nil).data() {
		m := p.(map[string]any)
		if m["View"] != "None" || m["CanCreate"] != false {
			t.Errorf("bob's permissions: %v", m)
		}
	}
	// Alice still sees everything.
	for i, fc := range folderCases {
		if d := f.ok(alice, "Get"+fc.plural+"ByItemGuids", map[string]any{"itemGuids": []string{all[i]}}).data(); len(d) != 1 {
			t.Errorf("alice lost %s %s", fc.folder, all[i])
		}
	}
}

func TestPrivateItems(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.addUser("carol")
	alice, carol := f.login("alice"), f.login("carol")
	g := f.ok(alice, "SaveContact", map[string]any{"transmitObject": map[string]any{"LastName": "Secret", "IsPrivate": true}})["Guid"].(string)
	if d := f.ok(carol, "GetContactsByItemGuids", map[string]any{"itemGuids": []string{g}}).data(); len(d) != 0 {
		t.Errorf("carol sees alice's private contact: %v", d)
	}
	if d := f.ok(alice, "GetContactsByItemGuids", map[string]any{"itemGuids": []string{g}}).data(); len(d) != 1 {
		t.Errorf("alice does not see her private contact")
	}
}

func TestDuplicateContact(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	must(t, f.crm.SetGlobalSetting(crmsync.System(context.Background()), crmsync.SettingDuplicityCheck, "true"))
	s := f.login("alice")
	f.ok(s, "SaveContact", map[string]any{"transmitObject": map[string]any{"LastName": "A", "Email1Address": "same@example.com"}})
	f.want("rcDuplicateContact", s, "SaveContact", map[string]any{"transmitObject": map[string]any{"LastName": "B", "Email1Address": "same@example.com"}})
	gs := f.ok(s, "GetGlobalSettings", nil).data()
	found := false
	for _, e := range gs {
		m := e.(map[string]any)
		if m["Name"] == crmsync.SettingDuplicityCheck {
			found = m["Value"] == "true"
		}
	}
	if !found {
		t.Errorf("GetGlobalSettings = %v", gs)
	}
}

func TestSettingsAndEnums(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	s := f.login("alice")
	f.ok(s, "SaveUserSetting", map[string]any{"transmitObject": map[string]any{"Path": "Contacts", "Name": "SyncMode", "Value": "Manual"}})
	got := f.ok(s, "GetUserSettings", nil).data()
	found := false
	for _, e := range got {
		m := e.(map[string]any)
		found = found || m["Path"] == "Contacts" && m["Name"] == "SyncMode" && m["Value"] == "Manual"
	}
	if !found {
		t.Errorf("GetUserSettings = %v", got)
	}
	if d := f.ok(f.login("bob"), "GetUserSettings", nil).data(); len(d) != 0 {
		t.Errorf("bob sees settings %v", d)
	}

	prefixes := f.ok(s, "GetEnumValues", map[string]any{"enumTypeName": crmsync.EnumPrefix}).data()
	if len(prefixes) == 0 {
		t.Fatal("no prefix enum values")
	}
	for _, p := range prefixes {
		m := p.(map[string]any)
		if m["EnumTypeName"] != crmsync.EnumPrefix || !crmsync.IsGUID(m["EnumType"].(string)) || !crmsync.IsGUID(m["ItemGUID"].(string)) || m["En"] == "" {
			t.Errorf("enum value %v", m)
		}
	}
	if all := f.ok(s, "GetEnumValues", nil).data(); len(all) <= len(prefixes) {
		t.Errorf("all enum values (%d) not more than prefixes (%d)", len(all), len(prefixes))
	}
	perms := f.ok(s, "GetMyModulePermissions", nil).data()
	if len(perms) != 3 {
		t.Fatalf("GetMyModulePermissions = %v", perms)
	}
	for _, p := range perms {
		m := p.(map[string]any)
		if m["View"] != "All" || m["Edit"] != "All" || m["CanCreate"] != true {
			t.Errorf("alice's permissions: %v", m)
		}
	}
}

// TestBadInput: every bad request gets a non-success code naming the
// problem, writes nothing, and the server keeps serving.
func TestBadInput(t *testing.T) {
	f := newFixture(t, fixtureOptions{api: ewayapi.Options{MaxBodyBytes: 4096}})
	s := f.login("alice")
	before := f.lastChange()
	cases := []struct {
		name, method, body, code, want string
	}{
		{"malformed JSON", "SaveContact", `{"sessionId":"` + s + `","transmitObject":{`, "rcParameterError", "malformed JSON"},
		{"unknown method", "SaveSpaceship", `{"sessionId":"` + s + `"}`, "rcGeneralError", "unknown method"},
		{"wrong type", "SaveContact", `{"sessionId":"` + s + `","transmitObject":{"LastName":42}}`, "rcParameterError", "LastName must be a string"},
		{"missing session", "SaveContact", `{"transmitObject":{"LastName":"x"}}`, "rcBadSession", "sessionId"},
		{"expired-looking session", "SaveContact", `{"sessionId":"0f8fad5b-d9cb-469f-a165-70867728950e","transmitObject":{"LastName":"x"}}`, "rcBadSession", "LogIn"},
		{"oversized body", "SaveContact", `{"sessionId":"` + s + `","transmitObject":{"Note":"` + strings.Repeat("x", 5000) + `"}}`, "rcParameterError", "exceeds the limit of 4096 bytes"},
		{"invalid UTF-8", "SaveContact", "{\"sessionId\":\"" + s + "\",\"transmitObject\":{\"LastName\":\"\xc3\x28\"}}", "rcParameterError", "UTF-8"},
		{"used parameter of wrong type", "SaveContact", `{"sessionId":"` + s + `","transmitObject":{"LastName":"x"},"dieOnItemConflict":"yes"}`, "rcParameterError", `parameter "dieOnItemConflict" must be true or false`},
		{"non-GUID GUID", "SaveContact", `{"sessionId":"` + s + `","transmitObject":{"ItemGUID":"1234"}}`, "rcParameterError", "not a GUID"},
		{"non-GUID FK", "SaveContact", `{"sessionId":"` + s + `","transmitObject":{"Companies_CompanyGuid":"acme"}}`, "rcParameterError", "not a GUID"},
		{"non-GUID itemGuids", "DeleteContacts", `{"sessionId":"` + s + `","itemGuids":["x"]}`, "rcParameterError", "not a GUID"},
		{"array body", "GetContacts", `[]`, "rcParameterError", "JSON object"},
		{"save without object", "SaveContact", `{"sessionId":"` + s + `"}`, "rcParameterError", "transmitObject"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.post(c.method, c.body)
			if r.code() == "rcSuccess" {
				t.Fatalf("answered rcSuccess")
			}
			if c.code != "" && (r.code() != c.code || !strings.Contains(r.desc(), c.want)) {
				t.Errorf("got %s %q, want %s containing %q", r.code(), r.desc(), c.code, c.want)
			}
			if r.desc() == "" {
				t.Error("no Description")
			}
			if f.lastChange() != before {
				t.Errorf("a refused request wrote to the CRM")
			}
			f.ok(s, "GetLastItemChangeId", nil) // still serving
		})
	}

	t.Run("GET", func(t *testing.T) {
		resp, err := http.Get(f.url + "/API.svc/GetContacts")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Errorf("GET: %d Allow=%q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
	t.Run("InsecureAPI path", func(t *testing.T) {
		resp, err := http.Post(f.url+"/InsecureAPI.svc/GetLastItemChangeId", "application/json", strings.NewReader(`{"sessionId":"`+s+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r reply
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.code() != "rcSuccess" {
			t.Errorf("InsecureAPI.svc: %v %v", r, err)
		}
	})
}

// failingCRM makes Items fail the way a broken disk would.
type failingCRM struct{ crmsync.CRM }

func (failingCRM) Items(context.Context, crmsync.Folder, []string) ([]*crmsync.Item, error) {
	return nil, &crmsync.Error{Code: crmsync.EINTERNAL, Err: io.ErrUnexpectedEOF, Op: "reading /var/lib/secret.db"}
}

// EachItem fails as Items does before the first contact, and after the
// first item of any other folder (an answer already on its way).
func (c failingCRM) EachItem(ctx context.Context, folder crmsync.Folder, fn func(*crmsync.Item) error) error {
	if folder != crmsync.Contacts {
		if err := fn(&crmsync.Item{Folder: folder, GUID: "0badc0de-0000-4000-8000-000000000001", Version: 1}); err != nil {
			return err
		}
	}
	_, err := c.Items(ctx, folder, nil)
	return err
}

// Identifiers panics, as a bug would.
func (failingCRM) Identifiers(context.Context, crmsync.Folder) ([]crmsync.Identifier, error) {
	panic("bug: index out of range in /src/secret.go")
}

func TestInternalErrorDoesNotLeak(t *testing.T) {
	var logged bytes.Buffer
	f := newFixture(t, fixtureOptions{
		api:  ewayapi.Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))},
		wrap: func(c crmsync.CRM) crmsync.CRM { return failingCRM{c} },
	})
	s := f.login("alice")
	r := f.want("rcInternalError", s, "GetContacts", nil)
	if r.desc() != "internal error" {
		t.Errorf("Description = %q", r.desc())
	}
	if !strings.Contains(logged.String(), "secret.db") {
		t.Errorf("the cause was not logged: %q", logged.String())
	}
	// A failure once the answer has started cuts it off: the client never
	// gets a short list that claims rcSuccess.
	resp, err := http.Post(f.url+"/API.svc/GetJournals", "application/json", strings.NewReader(`{"sessionId":"`+s+`"}`))
	if err == nil {
		var cut reply
		derr := json.NewDecoder(resp.Body).Decode(&cut)
		resp.Body.Close()
		if derr == nil {
			t.Errorf("GetJournals failing midway answered a whole envelope: %v", cut)
		}
	}
	if r := f.want("rcInternalError", s, "GetContactsIdentifiers", nil); r.desc() != "internal error" {
		t.Errorf("panic: Description = %q", r.desc())
	}
	if !strings.Contains(logged.String(), "secret.go") {
		t.Errorf("the panic was not logged: %q", logged.String())
	}
	if strings.Contains(logged.String(), s) {
		t.Errorf("the session id was logged")
	}
	f.ok(s, "GetLastItemChangeId", nil) // still serving
}

func TestReturnCodeTable(t *testing.T) {
	for code, want := range map[string]string{
		crmsync.ECONFLICT: "rcItemConflict", crmsync.EEXISTS: "rcItemAlreadyUploaded",
		crmsync.EDUPLICATE: "rcDuplicateContact", crmsync.EINVALID: "rcParameterError",
		crmsync.ENOTFOUND: "rcGeneralError", crmsync.EFORBIDDEN: "rcAccessDenied",
		crmsync.EUNAUTHORIZED: "rcBadSession", crmsync.EPRECONDITION: "rcGeneralError",
		crmsync.EINTERNAL: "rcInternalError",
	} {
		if got := ewayapi.ReturnCode(crmsync.Errorf(code, "x")); got != want {
			t.Errorf("ReturnCode(%s) = %s, want %s", code, got, want)
		}
	}
	if got := ewayapi.ReturnCode(io.EOF); got != "rcInternalError" {
		t.Errorf("ReturnCode(plain error) = %s", got)
	}
	if got := ewayapi.ReturnCode(nil); got != "rcSuccess" {
		t.Errorf("ReturnCode(nil) = %s", got)
	}
}

func TestTextRoundTrip(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	s := f.login("alice")
	note := "line 1\n\t\"quoted\" \\ <b>&amp;</b> \u2028 Žluťoučký kůň 😀"
	g := f.ok(s, "SaveContact", map[string]any{"transmitObject": map[string]any{"LastName": "Ünïcode", "Note": note}})["Guid"].(string)
	for _, r := range []reply{f.ok(s, "GetContacts", nil), f.ok(s, "GetContactsByItemGuids", map[string]any{"itemGuids": []string{g}})} {
		it := item(t, r)
		if it["Note"] != note || it["LastName"] != "Ünïcode" {
			t.Errorf("Note = %q, LastName = %q", it["Note"], it["LastName"])
		}
	}
}
