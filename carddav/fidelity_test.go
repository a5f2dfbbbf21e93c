package carddav_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/vcard"
)

const aliceBook = "/dav/addressbooks/alice/contacts/"

// realCards returns the shared test data's cards written by real clients.
func realCards(tb testing.TB) map[string][]byte {
	tb.Helper()
	dir := testenv.Shared(tb, "testdata", "vcards")
	files, err := filepath.Glob(filepath.Join(dir, "*.vcf"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no cards in %s: %v", dir, err)
	}
	out := map[string][]byte{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		must(tb, err)
		out[filepath.Base(file)] = b
	}
	return out
}

// TestPutCardBookPhoto: Thunderbird's CardBook writes a 4.0 photo as a data
// URI with ';' and ',' escaped. The CRM gets the picture, and a 3.0 GET
// serves it as ENCODING=b.
func TestPutCardBookPhoto(t *testing.T) {
	f := newFixture(t)
	c, err := vcard.Decode(realCards(t)["ios-3.0-item-ablabel-photo.vcf"])
	must(t, err)
	v4, err := c.Encode("4.0")
	must(t, err)
	escaped := strings.Replace(string(v4), "data:image/jpeg;base64,", `data:image/JPEG\;base64\,`, 1)
	if escaped == string(v4) {
		t.Fatal("the card's 4.0 form has no data URI to escape")
	}
	href := aliceBook + "cardbook-photo.vcf"
	if r := f.do("PUT", href, "alice", escaped, "Content-Type", "text/vcard"); r.code != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.code, r.body)
	}
	g := f.do("GET", href, "alice", "")
	if g.code != http.StatusOK {
		t.Fatalf("GET: %d %s", g.code, g.body)
	}
	back := mustCard(t, g.body)
	if !bytes.Equal(back.Photo(), c.Photo()) {
		t.Errorf("3.0 GET photo: %d bytes, want %d", len(back.Photo()), len(c.Photo()))
	}
	if !strings.Contains(g.body, "\r\nPHOTO;ENCODING=b;TYPE=JPEG:") || strings.Contains(g.body, "data:") {
		t.Errorf("3.0 GET does not serve the photo as ENCODING=b:\n%.300s", g.body[strings.Index(g.body, "PHOTO"):])
	}
	var guid string
	for g := range f.visible("alice") {
		guid = g
	}
	pic, err := base64.StdEncoding.DecodeString(f.item(guid).Get(crm.FieldPicture))
	if err != nil || !bytes.Equal(pic, c.Photo()) {
		t.Errorf("CRM picture: %d bytes (%v), want the card's %d", len(pic), err, len(c.Photo()))
	}
}

func mustCard(tb testing.TB, s string) *vcard.Card {
	tb.Helper()
	c, err := vcard.Decode([]byte(s))
	must(tb, err)
	return c
}

// bookState is everything a PUT could change that other clients see.
type bookState struct {
	version          int
	etag, ctag, sync string
	feed             int64
}

func (f *fixture) state(user, href, guid string) bookState {
	f.tb.Helper()
	var s bookState
	if it := f.item(guid); it != nil {
		s.version = it.Version
	}
	s.etag = f.do("GET", href, user, "").header.Get("ETag")
	book := "/dav/addressbooks/" + user + "/contacts/"
	m := parseMS(f.tb, f.do("PROPFIND", book, user, `<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:getctag/><d:sync-token/></d:prop></d:propfind>`, "Depth", "0"))
	s.ctag, _ = m.Responses[0].prop("getctag")
	s.sync, _ = m.Responses[0].prop("sync-token")
	var err error
	s.feed, err = f.crm.LastChangeID(f.ctx)
	must(f.tb, err)
	return s
}

// TestNoOpPutWritesNothing PUTs every real card twice, and again as the
// server serves it: the repeats change no ItemVersion, ETag, ctag, sync
// token or change feed. A change to an unmapped property alone is a change.
func TestNoOpPutWritesNothing(t *testing.T) {
	f := newFixture(t)
	i := 0
	for name, data := range realCards(t) {
		i++
		guid := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		href := aliceBook + guid + ".vcf"
		if r := f.do("PUT", href, "alice", string(data), "Content-Type", "text/vcard"); r.code != http.StatusCreated {
			t.Errorf("%s: PUT: %d %s", name, r.code, r.body)
			continue
		}
		before := f.state("alice", href, guid)
		if r := f.do("PUT", href, "alice", string(data), "If-Match", before.etag); r.code != http.StatusNoContent {
			t.Errorf("%s: repeated PUT: %d %s", name, r.code, r.body)
		}
		if after := f.state("alice", href, guid); after != before {
			t.Errorf("%s: repeated PUT changed %+v to %+v", name, before, after)
		}
		served := f.do("GET", href, "alice", "").body
		if r := f.do("PUT", href, "alice", served); r.code != http.StatusNoContent || r.header.Get("ETag") != before.etag {
			t.Errorf("%s: PUT of the served card: %d ETag %q, want 204 %q", name, r.code, r.header.Get("ETag"), before.etag)
		}
		if after := f.state("alice", href, guid); after != before {
			t.Errorf("%s: PUT of the served card changed %+v to %+v", name, before, after)
		}
		// vera may read but not write: even an identical PUT is refused.
		if r := f.do("PUT", "/dav/addressbooks/vera/contacts/"+guid+".vcf", "vera", served); r.code != http.StatusForbidden {
			t.Errorf("%s: vera's identical PUT: %d", name, r.code)
		}
		unmapped := strings.Replace(served, "\r\nEND:VCARD", "\r\nX-CRMSYNC-TEST:changed\r\nEND:VCARD", 1)
		if r := f.do("PUT", href, "alice", unmapped); r.code != http.StatusNoContent {
			t.Errorf("%s: unmapped edit: %d %s", name, r.code, r.body)
		}
		after := f.state("alice", href, guid)
		if after.version != before.version+1 || after.etag == before.etag || after.ctag == before.ctag || after.sync == before.sync || after.feed <= before.feed {
			t.Errorf("%s: an unmapped edit must be seen by other clients: %+v → %+v", name, before, after)
		}
	}
	// A contact made in the CRM has no stored card: PUT back as served,
	// it still changes nothing.
	guid := f.create("alice", map[string]string{crm.FieldLastName: "Made in the CRM", crm.FieldEmail1: "crm@example.com", "BusinessAddressCity": "Brno"})
	href := aliceBook + guid + ".vcf"
	before := f.state("alice", href, guid)
	if r := f.do("PUT", href, "alice", f.do("GET", href, "alice", "").body); r.code != http.StatusNoContent {
		t.Errorf("PUT of a CRM contact's card: %d %s", r.code, r.body)
	}
	if after := f.state("alice", href, guid); after != before {
		t.Errorf("PUT of a CRM contact's card changed %+v to %+v", before, after)
	}
}

// TestNoOpPutHonoursRelatedEdit: a PUT that changes nothing writes
// nothing, but is still refused where an edit would be. rita may edit only
// contacts related to her (linked to her company): the unchanged card of
// such a contact is accepted, that of an unrelated one refused.
func TestNoOpPutHonoursRelatedEdit(t *testing.T) {
	f := newFixture(t)
	rights := []crm.Rights{{Folder: crm.Contacts, View: crm.LevelAll, Edit: crm.LevelRelated, CanCreate: true, CanExport: true}}
	for _, folder := range []crm.Folder{crm.Companies, crm.Journal} {
		rights = append(rights, crm.FullRights(folder))
	}
	must(t, f.crm.SaveGroup(f.ctx, "related", rights))
	rita, err := f.crm.AddUser(f.ctx, "rita", "rita-pw", false)
	must(t, err)
	must(t, f.crm.AddToGroup(f.ctx, "rita", "related"))
	res, err := f.crm.Save(crm.WithUser(context.Background(), rita), crm.Companies, []crm.Patch{{Set: map[string]string{crm.FieldFileAs: "Rita's firm"}}}, crm.SaveOptions{})
	must(t, err)
	must(t, res[0].Err)
	related := f.create("alice", map[string]string{crm.FieldLastName: "Related", crm.FieldCompanyGUID: res[0].GUID})
	unrelated := f.create("alice", map[string]string{crm.FieldLastName: "Unrelated"})
	for guid, want := range map[string]int{related: http.StatusNoContent, unrelated: http.StatusForbidden} {
		href := "/dav/addressbooks/rita/contacts/" + guid + ".vcf"
		served := f.do("GET", href, "rita", "")
		if served.code != http.StatusOK {
			t.Fatalf("GET %s: %d", href, served.code)
		}
		version := f.item(guid).Version
		if r := f.do("PUT", href, "rita", served.body); r.code != want {
			t.Errorf("rita's unchanged PUT of %s: %d %s, want %d", f.item(guid).Get(crm.FieldLastName), r.code, r.body, want)
		}
		if got := f.item(guid).Version; got != version {
			t.Errorf("the unchanged PUT wrote: version %d → %d", version, got)
		}
	}
}

// answer is what a client learns from a PUT.
type answer struct {
	code     int
	etag     bool
	location string
	body     string
}

func (f *fixture) put(user, href, card string, header ...string) answer {
	f.tb.Helper()
	r := f.do("PUT", href, user, card, header...)
	loc := r.header.Get("Location")
	if loc == href {
		loc = "the href"
	}
	return answer{code: r.code, etag: r.header.Get("ETag") != "", location: loc, body: r.body}
}

// TestPutNoExistenceOracle: a PUT naming a contact bob may not see (by
// href or by UID, in use or in the trash) answers exactly like one naming
// a GUID nobody uses, and leaves the other contact alone.
func TestPutNoExistenceOracle(t *testing.T) {
	f := newFixture(t)
	aliceCtx := crm.WithUser(context.Background(), mustUser(f, "alice"))
	book := "/dav/addressbooks/bob/contacts/"
	card := func(uid string) string {
		return "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:" + uid + "\r\nN:Probe;;;;\r\nFN:Probe\r\nEND:VCARD\r\n"
	}
	for i, probe := range []struct {
		name string
		put  func(guid string) answer
	}{
		{"href", func(guid string) answer { return f.put("bob", book+guid+".vcf", card(guid)) }},
		{"href If-None-Match", func(guid string) answer {
			return f.put("bob", book+guid+".vcf", card(guid), "If-None-Match", "*")
		}},
		{"UID", func(guid string) answer { return f.put("bob", book+"probe-"+guid+".vcf", card(guid)) }},
		{"If-Match", func(guid string) answer {
			return f.put("bob", book+guid+".vcf", card(guid), "If-Match", `"x"`)
		}},
	} {
		hidden := f.create("alice", map[string]string{crm.FieldLastName: "Hidden"})
		trashed := f.create("alice", map[string]string{crm.FieldLastName: "Trashed"})
		must(t, f.crm.Delete(aliceCtx, crm.Contacts, []string{trashed}))
		version := f.item(hidden).Version
		unknown := probe.put(fmt.Sprintf("11111111-2222-4333-8444-%012d", i))
		for _, g := range []string{hidden, trashed} {
			if got := probe.put(g); got != unknown {
				t.Errorf("%s: PUT naming an invisible contact answers %+v, an unknown GUID %+v", probe.name, got, unknown)
			}
		}
		if it := f.item(hidden); it.Version != version || it.Get(crm.FieldLastName) != "Hidden" {
			t.Errorf("%s: alice's contact changed: version %d, %q", probe.name, it.Version, it.Get(crm.FieldLastName))
		}
		trash, err := f.crm.Trash(aliceCtx, crm.Contacts)
		must(t, err)
		if !slices.ContainsFunc(trash, func(it *crm.Item) bool { return it.GUID == trashed && it.Get(crm.FieldLastName) == "Trashed" }) {
			t.Errorf("%s: alice's trashed contact left the trash or changed", probe.name)
		}
	}
}

func mustUser(f *fixture, name string) *crm.User {
	f.tb.Helper()
	u, err := f.crm.UserByName(f.ctx, name)
	must(f.tb, err)
	return u
}

// TestRefusedPutLeavesNoName: a create the CRM refuses (no right, or a
// duplicate e-mail) records no resource name.
func TestRefusedPutLeavesNoName(t *testing.T) {
	f := newFixture(t)
	must(t, f.crm.SetGlobalSetting(f.ctx, crm.SettingDuplicityCheck, "true"))
	f.create("alice", map[string]string{crm.FieldLastName: "First", crm.FieldEmail1: "dup@example.com"})
	dup := "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Second;;;;\r\nFN:Second\r\nEMAIL:dup@example.com\r\nEND:VCARD\r\n"
	if r := f.do("PUT", aliceBook+"dup.vcf", "alice", dup); r.code != http.StatusConflict {
		t.Errorf("duplicate: %d %s", r.code, r.body)
	}
	if r := f.do("PUT", "/dav/addressbooks/vera/contacts/new.vcf", "vera", dup); r.code != http.StatusForbidden {
		t.Errorf("vera's create: %d %s", r.code, r.body)
	}
	for _, user := range []string{"alice", "vera"} {
		names, err := f.store.Names(f.ctx, mustUser(f, user).GUID)
		must(t, err)
		if len(names) != 0 {
			t.Errorf("%s: refused PUTs left names %v", user, names)
		}
	}
	// An accepted create under a client name does record it.
	ok := strings.Replace(dup, "dup@example.com", "other@example.com", 1)
	if r := f.do("PUT", aliceBook+"ok.vcf", "alice", ok); r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	if names, _ := f.store.Names(f.ctx, mustUser(f, "alice").GUID); len(names) != 1 {
		t.Errorf("names after a create: %v", names)
	}
}

// TestCountryAliases: a card's "USA" or "Czechia" is the CRM's built-in
// country, not a new value beside it; the card keeps the client's word,
// and a placeholder never becomes a country.
func TestCountryAliases(t *testing.T) {
	f := newFixture(t)
	countries := func() []crm.EnumValue {
		vs, err := f.crm.EnumValues(f.ctx, crm.EnumCountry)
		must(t, err)
		return vs
	}
	seeded := len(countries())
	for i, tc := range []struct{ written, want string }{
		{"USA", "United States"}, {"U.S.A.", "United States"}, {"US", "United States"},
		{"Czechia", "Czech Republic"}, {"CZ", "Czech Republic"}, {"Česká republika", "Czech Republic"},
	} {
		href := fmt.Sprintf("%scountry-%d.vcf", aliceBook, i)
		card := "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Country" + fmt.Sprint(i) + ";;;;\r\nFN:C\r\nADR;TYPE=work:;;Main St 1;Town;;12345;" + tc.written + "\r\nEND:VCARD\r\n"
		if r := f.do("PUT", href, "alice", card); r.code != http.StatusCreated {
			t.Fatalf("%s: PUT %d %s", tc.written, r.code, r.body)
		}
		var guid string
		for g, last := range f.visible("alice") {
			if last == "Country"+fmt.Sprint(i) {
				guid = g
			}
		}
		if got := f.enumName(f.item(guid).Get("BusinessAddressCountryEn")); got != tc.want {
			t.Errorf("%s: CRM country %q, want %q", tc.written, got, tc.want)
		}
		if g := f.do("GET", href, "alice", ""); !strings.Contains(g.body, ";12345;"+tc.written+"\r\n") {
			t.Errorf("%s: GET does not keep the client's country:\n%s", tc.written, g.body)
		}
		before := f.state("alice", href, guid)
		if r := f.do("PUT", href, "alice", card); r.code != http.StatusNoContent {
			t.Errorf("%s: repeated PUT %d", tc.written, r.code)
		}
		if after := f.state("alice", href, guid); after != before {
			t.Errorf("%s: repeated PUT changed %+v to %+v", tc.written, before, after)
		}
	}
	if n := len(countries()); n != seeded {
		t.Errorf("%d country values after the PUTs, %d seeded: an alias made a new one", n, seeded)
	}
	card := "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Placeholder;;;;\r\nFN:P\r\nADR;TYPE=work:;;Main St 1;Town;;12345;NA\r\nEND:VCARD\r\n"
	if r := f.do("PUT", aliceBook+"placeholder.vcf", "alice", card); r.code != http.StatusCreated {
		t.Fatalf("placeholder PUT %d %s", r.code, r.body)
	}
	for g, last := range f.visible("alice") {
		if last == "Placeholder" {
			if got := f.enumName(f.item(g).Get("BusinessAddressCountryEn")); got != "NA" {
				t.Errorf("country NA became %q", got)
			}
		}
	}
}
