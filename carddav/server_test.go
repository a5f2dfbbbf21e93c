package carddav_test

import (
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
	"time"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/vcard"
	"github.com/google/go-cmp/cmp"
)

type anyEl struct {
	XMLName xml.Name
	Inner   string `xml:",innerxml"`
	Text    string `xml:",chardata"`
}

type msResponse struct {
	Href     string `xml:"DAV: href"`
	Status   string `xml:"DAV: status"`
	Propstat []struct {
		Status string `xml:"DAV: status"`
		Prop   struct {
			Any []anyEl `xml:",any"`
		} `xml:"DAV: prop"`
	} `xml:"DAV: propstat"`
}

type msBody struct {
	Responses []msResponse `xml:"DAV: response"`
	SyncToken string       `xml:"DAV: sync-token"`
}

func parseMS(tb testing.TB, r reply) msBody {
	tb.Helper()
	if r.code != http.StatusMultiStatus {
		tb.Fatalf("status %d, want 207: %s", r.code, r.body)
	}
	var m msBody
	if err := xml.Unmarshal([]byte(r.body), &m); err != nil {
		tb.Fatalf("bad multistatus: %v\n%s", err, r.body)
	}
	return m
}

// prop returns the text (or inner XML) of a 200 property of a response.
func (r msResponse) prop(local string) (string, bool) {
	for _, ps := range r.Propstat {
		if !strings.Contains(ps.Status, "200") {
			continue
		}
		for _, a := range ps.Prop.Any {
			if a.XMLName.Local == local {
				if strings.TrimSpace(a.Text) != "" {
					return a.Text, true
				}
				return a.Inner, true
			}
		}
	}
	return "", false
}

func (m msBody) byHref() map[string]msResponse {
	out := map[string]msResponse{}
	for _, r := range m.Responses {
		out[r.Href] = r
	}
	return out
}

func TestDiscovery(t *testing.T) {
	f := newFixture(t)
	r := f.do("PROPFIND", "/.well-known/carddav", "", "")
	if r.code != http.StatusMovedPermanently || r.header.Get("Location") != "/dav/" {
		t.Fatalf("well-known: %d %q", r.code, r.header.Get("Location"))
	}
	if r := f.do("PROPFIND", "/dav/", "", ""); r.code != http.StatusUnauthorized || !strings.Contains(r.header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("anonymous: %d %v", r.code, r.header)
	}
	req := f.do("PROPFIND", "/dav/", "alice", "", "Authorization", "Basic YWxpY2U6d3Jvbmc=") // alice:wrong
	if req.code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", req.code)
	}
	m := parseMS(t, f.do("PROPFIND", "/dav/", "alice",
		`<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>`, "Depth", "0"))
	if p, _ := m.Responses[0].prop("current-user-principal"); !strings.Contains(p, "/dav/principals/alice/") {
		t.Errorf("current-user-principal = %q", p)
	}
	m = parseMS(t, f.do("PROPFIND", "/dav/principals/alice/", "alice",
		`<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><c:addressbook-home-set/><d:displayname/><d:x-unknown/></d:prop></d:propfind>`, "Depth", "0"))
	if p, _ := m.Responses[0].prop("addressbook-home-set"); !strings.Contains(p, "/dav/addressbooks/alice/") {
		t.Errorf("addressbook-home-set = %q", p)
	}
	if !strings.Contains(f.do("PROPFIND", "/dav/principals/alice/", "alice",
		`<d:propfind xmlns:d="DAV:"><d:prop><d:x-unknown/></d:prop></d:propfind>`).body, "404 Not Found") {
		t.Error("unknown property not reported as 404")
	}
	m = parseMS(t, f.do("PROPFIND", "/dav/addressbooks/alice/", "alice",
		`<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><d:resourcetype/><cs:getctag/><d:sync-token/><d:current-user-privilege-set/><d:supported-report-set/></d:prop></d:propfind>`, "Depth", "1"))
	book, ok := m.byHref()["/dav/addressbooks/alice/contacts/"]
	if !ok {
		t.Fatalf("no address book in home listing: %+v", m)
	}
	if rt, _ := book.prop("resourcetype"); !strings.Contains(rt, "addressbook") {
		t.Errorf("resourcetype = %q", rt)
	}
	for _, p := range []string{"getctag", "sync-token"} {
		if v, ok := book.prop(p); !ok || v == "" {
			t.Errorf("%s missing", p)
		}
	}
	if v, _ := book.prop("supported-report-set"); !strings.Contains(v, "sync-collection") {
		t.Errorf("supported-report-set = %q", v)
	}
	if v, _ := book.prop("current-user-privilege-set"); !strings.Contains(v, "write-content") || !strings.Contains(v, "bind") {
		t.Errorf("alice's privileges = %q", v)
	}
	// vera may not write: the book says so.
	m = parseMS(t, f.do("PROPFIND", "/dav/addressbooks/vera/contacts/", "vera",
		`<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-privilege-set/></d:prop></d:propfind>`, "Depth", "0"))
	if v, _ := m.Responses[0].prop("current-user-privilege-set"); strings.Contains(v, "write") || strings.Contains(v, "bind") {
		t.Errorf("vera's privileges = %q", v)
	}
	// Nobody reads another user's tree.
	for _, p := range []string{"/dav/addressbooks/bob/contacts/", "/dav/principals/bob/"} {
		if r := f.do("PROPFIND", p, "alice", ""); r.code != http.StatusForbidden {
			t.Errorf("alice on %s: %d", p, r.code)
		}
	}
	if r := f.do("OPTIONS", "/dav/addressbooks/alice/contacts/", "alice", ""); !strings.Contains(r.header.Get("DAV"), "addressbook") {
		t.Errorf("OPTIONS DAV header %q", r.header.Get("DAV"))
	}
}

const iosCard = "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iOS 17.0//EN\r\n" +
	"UID:6F4C2C9A-0B1E-4D9A-9E0F-1234567890AB\r\n" +
	"N:Nov\u00e1k;Jan;;Ing.;\r\nFN:Ing. Jan Nov\u00e1k\r\nORG:ACME s.r.o.;Sales\r\n" +
	"item1.EMAIL;type=INTERNET;type=pref:jan@acme.cz\r\nitem1.X-ABLabel:_$!<Work>!$_\r\n" +
	"TEL;type=CELL;type=VOICE;type=pref:+420 777 000 111\r\n" +
	"item2.ADR;type=WORK:;;Na P\u0159\u00edkop\u011b 1;Praha;;110 00;Czech Republic\r\n" +
	"BDAY:1980-01-02\r\nCATEGORIES:friends,work\r\nIMPP;X-SERVICE-TYPE=Skype:skype:jan.novak\r\n" +
	"END:VCARD\r\n"

func TestPutGetDelete(t *testing.T) {
	f := newFixture(t)
	const href = "/dav/addressbooks/alice/contacts/6F4C2C9A-0B1E-4D9A-9E0F-1234567890AB.vcf"
	r := f.do("PUT", href, "alice", iosCard, "Content-Type", "text/vcard; charset=utf-8", "If-None-Match", "*")
	if r.code != http.StatusCreated {
		t.Fatalf("PUT new: %d %s", r.code, r.body)
	}
	guid := "6f4c2c9a-0b1e-4d9a-9e0f-1234567890ab"
	it := f.item(guid)
	if it == nil {
		t.Fatal("contact not created in the CRM under the client's GUID")
	}
	for k, want := range map[string]string{crm.FieldFirstName: "Jan", crm.FieldLastName: "Novák", crm.FieldCompany: "ACME s.r.o.",
		crm.FieldDepartment: "Sales", crm.FieldEmail1: "jan@acme.cz", crm.FieldPhoneMobile: "+420 777 000 111",
		"BusinessAddressStreet": "Na Příkopě 1", "BusinessAddressCity": "Praha"} {
		if got := it.Get(k); got != want {
			t.Errorf("CRM %s = %q, want %q", k, got, want)
		}
	}
	if n := f.enumName(it.Get(crm.FieldPrefix)); n != "Ing." {
		t.Errorf("PrefixEn enum %q names %q, want Ing.", it.Get(crm.FieldPrefix), n)
	}
	if n := f.enumName(it.Get("BusinessAddressCountryEn")); !strings.EqualFold(n, "Czech Republic") {
		t.Errorf("country enum names %q", n)
	}
	// The listing keeps the client's href, in its case.
	m := parseMS(t, f.do("PROPFIND", "/dav/addressbooks/alice/contacts/", "alice", propfindEtags, "Depth", "1"))
	obj, ok := m.byHref()[href]
	if !ok {
		t.Fatalf("href %s not listed: %s", href, f.do("PROPFIND", "/dav/addressbooks/alice/contacts/", "alice", propfindEtags, "Depth", "1").body)
	}
	if len(m.Responses) != 2 {
		t.Errorf("%d responses, want book + 1 contact", len(m.Responses))
	}
	listed, _ := obj.prop("getetag")
	// GET: the CRM's fields on the client's card; unmapped properties kept.
	g := f.do("GET", href, "alice", "")
	if g.code != http.StatusOK || g.header.Get("ETag") != listed {
		t.Fatalf("GET: %d etag %q listed %q", g.code, g.header.Get("ETag"), listed)
	}
	for _, want := range []string{"BDAY:1980-01-02", "CATEGORIES:friends,work", "IMPP;X-SERVICE-TYPE=Skype:skype:jan.novak",
		"UID:6F4C2C9A-0B1E-4D9A-9E0F-1234567890AB", "item1.X-ABLabel:_$!<Work>!$_", "N:Novák;Jan;;Ing.;"} {
		if !strings.Contains(g.body, want) {
			t.Errorf("GET lacks %q:\n%s", want, g.body)
		}
	}
	if r := f.do("GET", href, "alice", "", "If-None-Match", listed); r.code != http.StatusNotModified {
		t.Errorf("conditional GET: %d", r.code)
	}
	// Conditional writes.
	edited := strings.Replace(iosCard, "N:Novák;Jan;;Ing.;", "N:Novák;Jana;;Ing.;", 1)
	if r := f.do("PUT", href, "alice", edited, "If-Match", `"stale"`); r.code != http.StatusPreconditionFailed {
		t.Errorf("PUT with stale If-Match: %d", r.code)
	}
	if r := f.do("PUT", href, "alice", edited, "If-None-Match", "*"); r.code != http.StatusPreconditionFailed {
		t.Errorf("PUT If-None-Match * on existing: %d", r.code)
	}
	if r := f.do("PUT", href, "alice", edited, "If-Match", listed); r.code != http.StatusNoContent {
		t.Fatalf("PUT with current If-Match: %d %s", r.code, r.body)
	}
	if got := f.item(guid).Get(crm.FieldFirstName); got != "Jana" {
		t.Errorf("FirstName after PUT = %q", got)
	}
	if f.item(guid).Version != it.Version+1 {
		t.Errorf("version %d after one edit of %d", f.item(guid).Version, it.Version)
	}
	// An edit in the CRM shows on the next GET, with a new ETag.
	res, err := f.crm.Save(f.ctx, crm.Contacts, []crm.Patch{{GUID: guid, Set: map[string]string{crm.FieldJobTitle: "CEO"}}}, crm.SaveOptions{})
	must(t, err)
	must(t, res[0].Err)
	g2 := f.do("GET", href, "alice", "")
	if !strings.Contains(g2.body, "TITLE:CEO") || !strings.Contains(g2.body, "CATEGORIES:friends,work") || g2.header.Get("ETag") == listed {
		t.Errorf("GET after CRM edit (etag %q):\n%s", g2.header.Get("ETag"), g2.body)
	}
	// DELETE: conditional, to the trash.
	if r := f.do("DELETE", href, "alice", "", "If-Match", listed); r.code != http.StatusPreconditionFailed {
		t.Errorf("DELETE with stale If-Match: %d", r.code)
	}
	if r := f.do("DELETE", href, "alice", "", "If-Match", g2.header.Get("ETag")); r.code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", r.code, r.body)
	}
	if f.item(guid) != nil {
		t.Error("contact still visible after DELETE")
	}
	trash, err := f.crm.Trash(f.ctx, crm.Contacts)
	must(t, err)
	if len(trash) != 1 || trash[0].GUID != guid {
		t.Errorf("trash = %v", trash)
	}
	if r := f.do("GET", href, "alice", ""); r.code != http.StatusNotFound {
		t.Errorf("GET deleted: %d", r.code)
	}
	// Writing it again brings it back from the trash.
	if r := f.do("PUT", href, "alice", iosCard); r.code != http.StatusCreated {
		t.Errorf("PUT after delete: %d %s", r.code, r.body)
	}
	if it := f.item(guid); it == nil || it.Get(crm.FieldFirstName) != "Jan" {
		t.Errorf("not restored: %+v", it)
	}
}

func TestClientChosenHref(t *testing.T) {
	f := newFixture(t)
	card := "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:not-a-guid@example\r\nFN:Eva Dvořák\r\nN:Dvořák;Eva;;;\r\nEND:VCARD\r\n"
	const href = "/dav/addressbooks/alice/contacts/some%20name.vcf"
	if r := f.do("PUT", href, "alice", card); r.code != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.code, r.body)
	}
	// A repeated create (lost response) finds the same contact.
	if r := f.do("PUT", href, "alice", card); r.code != http.StatusNoContent {
		t.Fatalf("PUT again: %d %s", r.code, r.body)
	}
	ids, err := f.crm.Identifiers(f.ctx, crm.Contacts)
	must(t, err)
	if len(ids) != 1 {
		t.Fatalf("%d contacts after two PUTs of one href", len(ids))
	}
	m := parseMS(t, f.do("PROPFIND", "/dav/addressbooks/alice/contacts/", "alice", propfindEtags, "Depth", "1"))
	if _, ok := m.byHref()[href]; !ok {
		t.Errorf("client href not listed: %+v", m.Responses)
	}
	g := f.do("GET", href, "alice", "")
	if !strings.Contains(g.body, "UID:not-a-guid@example") {
		t.Errorf("client UID lost:\n%s", g.body)
	}
	// The contact is not also served under its GUID name.
	if r := f.do("GET", "/dav/addressbooks/alice/contacts/"+ids[0].GUID+".vcf", "alice", ""); r.code != http.StatusNotFound {
		t.Errorf("GUID alias served: %d", r.code)
	}
}

func TestCRMContactAsCard(t *testing.T) {
	f := newFixture(t)
	country, err := f.crm.EnsureEnumValue(f.ctx, crm.EnumCountry, "Czech Republic")
	must(t, err)
	photo := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 1, 2, 3}
	guid := f.create("alice", map[string]string{crm.FieldFirstName: "Petr", crm.FieldLastName: "Malý",
		"HomeAddressCity": "Brno", "HomeAddressCountryEn": country.GUID, crm.FieldNote: "line 1\nline 2",
		crm.FieldPicture: "/9j/4AABAgM="})
	r := f.do("GET", "/dav/addressbooks/alice/contacts/"+guid+".vcf", "alice", "")
	if r.code != http.StatusOK || r.header.Get("Content-Type") != "text/vcard; charset=utf-8" {
		t.Fatalf("GET: %d %v", r.code, r.header)
	}
	c, err := vcard.Decode([]byte(r.body))
	must(t, err)
	want := map[string]string{crm.FieldFirstName: "Petr", crm.FieldLastName: "Malý", "HomeAddressCity": "Brno",
		"HomeAddressCountryEn": "Czech Republic", crm.FieldNote: "line 1\nline 2", crm.FieldPicture: vcard.PhotoHash(photo)}
	if diff := cmp.Diff(want, c.Fields()); diff != "" {
		t.Errorf("(-want +got):\n%s\n%s", diff, r.body)
	}
	if c.UID() != guid {
		t.Errorf("UID %q, want %q", c.UID(), guid)
	}
	r4 := f.do("GET", "/dav/addressbooks/alice/contacts/"+guid+".vcf", "alice", "", "Accept", "text/vcard; version=4.0")
	if !strings.Contains(r4.body, "VERSION:4.0") || !strings.Contains(r4.body, "PHOTO:data:image/jpeg;base64,") {
		t.Errorf("4.0 GET:\n%s", r4.body)
	}
}

func TestReports(t *testing.T) {
	f := newFixture(t)
	a := f.create("alice", map[string]string{crm.FieldLastName: "A"})
	b := f.create("alice", map[string]string{crm.FieldLastName: "B"})
	book := "/dav/addressbooks/alice/contacts/"
	multiget := `<c:addressbook-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><c:address-data/></d:prop>` +
		`<d:href>` + book + a + `.vcf</d:href><d:href>` + book + `missing.vcf</d:href></c:addressbook-multiget>`
	m := parseMS(t, f.do("REPORT", book, "alice", multiget, "Depth", "1"))
	byHref := m.byHref()
	if data, _ := byHref[book+a+".vcf"].prop("address-data"); !strings.Contains(data, "N:A;;;;") {
		t.Errorf("multiget address-data = %q", data)
	}
	if !strings.Contains(byHref[book+"missing.vcf"].Status, "404") {
		t.Errorf("missing href: %+v", byHref[book+"missing.vcf"])
	}
	query := `<c:addressbook-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/></d:prop><c:filter/></c:addressbook-query>`
	if m := parseMS(t, f.do("REPORT", book, "alice", query, "Depth", "1")); len(m.Responses) != 2 {
		t.Errorf("addressbook-query: %d responses, want 2", len(m.Responses))
	}
	if r := f.do("REPORT", book, "alice", `<d:expand-property xmlns:d="DAV:"/>`); r.code != http.StatusForbidden || !strings.Contains(r.body, "supported-report") {
		t.Errorf("unknown report: %d %s", r.code, r.body)
	}

	// sync-collection: initial, then changes and a delete since the token.
	syncReq := func(token string) string {
		return `<d:sync-collection xmlns:d="DAV:"><d:sync-token>` + token + `</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`
	}
	first := parseMS(t, f.do("REPORT", book, "alice", syncReq("")))
	if len(first.Responses) != 2 || first.SyncToken == "" {
		t.Fatalf("initial sync: %d responses, token %q", len(first.Responses), first.SyncToken)
	}
	ctag := func() string {
		m := parseMS(t, f.do("PROPFIND", book, "alice", `<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:getctag/></d:prop></d:propfind>`, "Depth", "0"))
		v, _ := m.Responses[0].prop("getctag")
		return v
	}
	ctag1 := ctag()
	again := parseMS(t, f.do("REPORT", book, "alice", syncReq(first.SyncToken)))
	if len(again.Responses) != 0 || again.SyncToken != first.SyncToken {
		t.Errorf("no-change sync: %d responses, token %q", len(again.Responses), again.SyncToken)
	}
	res, err := f.crm.Save(f.ctx, crm.Contacts, []crm.Patch{{GUID: a, Set: map[string]string{crm.FieldFirstName: "Anna"}}}, crm.SaveOptions{})
	must(t, err)
	must(t, res[0].Err)
	must(t, f.crm.Delete(f.ctx, crm.Contacts, []string{b}))
	c := f.create("alice", map[string]string{crm.FieldLastName: "C"})
	next := parseMS(t, f.do("REPORT", book, "alice", syncReq(first.SyncToken)))
	got := next.byHref()
	if len(got) != 3 {
		t.Errorf("delta: %d responses, want 3: %s", len(got), f.do("REPORT", book, "alice", syncReq(first.SyncToken)).body)
	}
	if e, ok := got[book+a+".vcf"].prop("getetag"); !ok || e == "" {
		t.Errorf("changed contact without etag: %+v", got[book+a+".vcf"])
	}
	if _, ok := got[book+c+".vcf"].prop("getetag"); !ok {
		t.Errorf("new contact missing: %+v", got)
	}
	if !strings.Contains(got[book+b+".vcf"].Status, "404") {
		t.Errorf("deleted contact not 404: %+v", got[book+b+".vcf"])
	}
	if next.SyncToken == first.SyncToken || ctag() == ctag1 {
		t.Errorf("token or ctag did not move")
	}
	for _, bad := range []string{"urn:crmsync:sync:999999", "http://example.com/other", "urn:crmsync:sync:x"} {
		if r := f.do("REPORT", book, "alice", syncReq(bad)); r.code != http.StatusForbidden || !strings.Contains(r.body, "valid-sync-token") {
			t.Errorf("token %q: %d %s", bad, r.code, r.body)
		}
	}
}

func TestRights(t *testing.T) {
	f := newFixture(t)
	alices := f.create("alice", map[string]string{crm.FieldLastName: "Alice's"})
	bobs := f.create("bob", map[string]string{crm.FieldLastName: "Bob's"})
	m := parseMS(t, f.do("PROPFIND", "/dav/addressbooks/bob/contacts/", "bob", propfindEtags, "Depth", "1"))
	hrefs := m.byHref()
	if _, ok := hrefs["/dav/addressbooks/bob/contacts/"+bobs+".vcf"]; !ok || len(hrefs) != 2 {
		t.Errorf("bob's book: %v", hrefs)
	}
	alicesHref := "/dav/addressbooks/bob/contacts/" + alices + ".vcf"
	if r := f.do("GET", alicesHref, "bob", ""); r.code != http.StatusNotFound {
		t.Errorf("bob GET alice's: %d", r.code)
	}
	card := "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Hacked;;;;\r\nFN:Hacked\r\nEND:VCARD\r\n"
	if r := f.do("DELETE", alicesHref, "bob", ""); r.code != http.StatusNotFound {
		t.Errorf("bob DELETE alice's: %d", r.code)
	}
	// A PUT there creates a contact of bob's, as under an unknown GUID
	// (TestPutNoExistenceOracle), and never touches alice's.
	if r := f.do("PUT", alicesHref, "bob", card); r.code != http.StatusCreated {
		t.Errorf("bob PUT over alice's: %d %s", r.code, r.body)
	}
	if r := f.do("DELETE", alicesHref, "bob", ""); r.code != http.StatusNoContent {
		t.Errorf("bob DELETE of his own new contact: %d", r.code)
	}
	if got := f.item(alices).Get(crm.FieldLastName); got != "Alice's" {
		t.Errorf("alice's contact changed to %q", got)
	}
	// vera sees everything but may change nothing.
	m = parseMS(t, f.do("PROPFIND", "/dav/addressbooks/vera/contacts/", "vera", propfindEtags, "Depth", "1"))
	if len(m.Responses) != 3 {
		t.Errorf("vera sees %d resources, want book + 2", len(m.Responses))
	}
	veraHref := "/dav/addressbooks/vera/contacts/" + alices + ".vcf"
	if r := f.do("PUT", veraHref, "vera", card); r.code != http.StatusForbidden {
		t.Errorf("vera PUT: %d %s", r.code, r.body)
	}
	if r := f.do("PUT", "/dav/addressbooks/vera/contacts/new.vcf", "vera", card); r.code != http.StatusForbidden {
		t.Errorf("vera create: %d %s", r.code, r.body)
	}
	if r := f.do("DELETE", veraHref, "vera", ""); r.code != http.StatusForbidden {
		t.Errorf("vera DELETE: %d", r.code)
	}
	if f.item(alices) == nil {
		t.Error("alice's contact deleted")
	}
}

func TestBadInput(t *testing.T) {
	f := newFixture(t)
	book := "/dav/addressbooks/alice/contacts/"
	for name, tc := range map[string]struct {
		method, path, body string
		header             []string
		code               int
		contains           string
	}{
		"not a vcard":     {"PUT", book + "x.vcf", "hello", nil, 400, "valid-address-data"},
		"malformed line":  {"PUT", book + "x.vcf", "BEGIN:VCARD\r\nVERSION:3.0\r\nno colon here\r\nEND:VCARD\r\n", nil, 400, "line 3"},
		"too large":       {"PUT", book + "x.vcf", "BEGIN:VCARD\r\nNOTE:" + strings.Repeat("x", 2<<20) + "\r\nEND:VCARD\r\n", nil, 413, "max-resource-size"},
		"wrong type":      {"PUT", book + "x.vcf", "{}", []string{"Content-Type", "application/json"}, 415, "supported-address-data"},
		"bad xml":         {"PROPFIND", book, "<d:propfind", nil, 400, "XML"},
		"put on book":     {"PUT", book, "x", nil, 405, ""},
		"delete book":     {"DELETE", book, "", nil, 403, ""},
		"unknown path":    {"GET", "/dav/elsewhere/", "", nil, 404, ""},
		"report on home":  {"REPORT", "/dav/addressbooks/alice/", `<d:sync-collection xmlns:d="DAV:"/>`, nil, 403, ""},
		"proppatch":       {"PROPPATCH", book, "<x/>", nil, 403, ""},
		"empty report":    {"REPORT", book, "", nil, 400, ""},
		"get missing":     {"GET", book + "nope.vcf", "", nil, 404, ""},
		"if-match absent": {"PUT", book + "fresh.vcf", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:X\r\nEND:VCARD\r\n", []string{"If-Match", `"x"`}, 412, ""},
	} {
		t.Run(name, func(t *testing.T) {
			r := f.do(tc.method, tc.path, "alice", tc.body, tc.header...)
			if r.code != tc.code || !strings.Contains(r.body, tc.contains) {
				t.Errorf("%d %q, want %d containing %q", r.code, r.body, tc.code, tc.contains)
			}
		})
	}
	ids, err := f.crm.Identifiers(f.ctx, crm.Contacts)
	must(t, err)
	if len(ids) != 0 {
		t.Errorf("bad input wrote %d contacts", len(ids))
	}
}

// A note carrying crmsync's journal block (copied from an Outlook-synced
// card) keeps only the user's note in the CRM.
func TestPutStripsJournalBlock(t *testing.T) {
	f := newFixture(t)
	block := engine.RenderJournals([]engine.JournalEntry{{When: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Type: "Call", Subject: "Hello"}})
	note := vcard.Normalize(crm.FieldNote, engine.JoinNote("my note", block))
	card, err := vcard.Encode(map[string]string{crm.FieldLastName: "X", crm.FieldNote: note}, nil, "", nil, "3.0")
	must(t, err)
	if r := f.do("PUT", "/dav/addressbooks/alice/contacts/j.vcf", "alice", string(card)); r.code != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.code, r.body)
	}
	ids, err := f.crm.Identifiers(f.ctx, crm.Contacts)
	must(t, err)
	if got := f.item(ids[0].GUID).Get(crm.FieldNote); got != "my note" {
		t.Errorf("CRM note = %q", got)
	}
}
