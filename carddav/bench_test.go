package carddav_test

import (
	"fmt"
	"strings"
	"testing"

	crm "github.com/crmsync/crmsync"
)

// benchBook fills alice's book with n contacts in one Save.
func benchBook(b *testing.B, n int) (*fixture, []string) {
	b.Helper()
	f := newFixture(b)
	patches := make([]crm.Patch, n)
	for i := range patches {
		patches[i] = crm.Patch{Set: map[string]string{crm.FieldFirstName: "First", crm.FieldLastName: fmt.Sprintf("Last%d", i),
			crm.FieldEmail1: fmt.Sprintf("c%d@example.com", i), crm.FieldPhoneMobile: "+420 777 000 111", "BusinessAddressCity": "Praha"}}
	}
	res, err := f.crm.Save(f.ctx, crm.Contacts, patches, crm.SaveOptions{})
	must(b, err)
	guids := make([]string, n)
	for i, r := range res {
		must(b, r.Err)
		guids[i] = r.GUID
	}
	return f, guids
}

// BenchmarkPropfindEtags3000 is a phone's poll without sync-collection:
// Depth 1 listing of every href and ETag.
func BenchmarkPropfindEtags3000(b *testing.B) {
	f, _ := benchBook(b, 3000)
	b.ResetTimer()
	for b.Loop() {
		if r := f.do("PROPFIND", "/dav/addressbooks/alice/contacts/", "alice", propfindEtags, "Depth", "1"); r.code != 207 {
			b.Fatal(r.code)
		}
	}
}

// BenchmarkSyncCollectionNoChange3000 is the same poll with a sync token.
func BenchmarkSyncCollectionNoChange3000(b *testing.B) {
	f, _ := benchBook(b, 3000)
	first := f.do("REPORT", "/dav/addressbooks/alice/contacts/", "alice", `<d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:prop><d:getetag/></d:prop></d:sync-collection>`)
	i := strings.Index(first.body, "urn:crmsync:sync:")
	token := first.body[i : i+strings.Index(first.body[i:], "<")]
	req := `<d:sync-collection xmlns:d="DAV:"><d:sync-token>` + token + `</d:sync-token><d:prop><d:getetag/></d:prop></d:sync-collection>`
	b.ResetTimer()
	for b.Loop() {
		if r := f.do("REPORT", "/dav/addressbooks/alice/contacts/", "alice", req); r.code != 207 {
			b.Fatal(r.code)
		}
	}
}

// BenchmarkMultiget100 fetches 100 cards, as clients batch them.
func BenchmarkMultiget100(b *testing.B) {
	f, guids := benchBook(b, 3000)
	var sb strings.Builder
	sb.WriteString(`<c:addressbook-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><c:address-data/></d:prop>`)
	for _, g := range guids[:100] {
		sb.WriteString("<d:href>/dav/addressbooks/alice/contacts/" + g + ".vcf</d:href>")
	}
	sb.WriteString("</c:addressbook-multiget>")
	b.ResetTimer()
	for b.Loop() {
		if r := f.do("REPORT", "/dav/addressbooks/alice/contacts/", "alice", sb.String()); r.code != 207 {
			b.Fatal(r.code)
		}
	}
}

// BenchmarkPut is one client edit: decode, merge, CRM save, card store.
func BenchmarkPut(b *testing.B) {
	f, guids := benchBook(b, 100)
	href := "/dav/addressbooks/alice/contacts/" + guids[0] + ".vcf"
	i := 0
	for b.Loop() {
		i++
		card := fmt.Sprintf("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:%s\r\nN:Last;First%d;;;\r\nFN:First Last\r\nBDAY:1990-01-01\r\nEND:VCARD\r\n", guids[0], i)
		if r := f.do("PUT", href, "alice", card); r.code != 204 {
			b.Fatal(r.code, r.body)
		}
	}
}
