package remote

import (
	"strings"
	"testing"
)

// FuzzParseMultistatus feeds arbitrary server answers to the streaming
// multistatus parser: it must return an error or responses, never panic.
func FuzzParseMultistatus(f *testing.F) {
	for _, s := range []string{
		`<?xml version='1.0' encoding='utf-8'?>
<multistatus xmlns="DAV:"><sync-token>http://radicale.org/ns/sync/65</sync-token><response><href>/alice/contacts/a.vcf</href><propstat><prop><getetag>"bb"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response><response><href>/alice/contacts/gone.vcf</href><status>HTTP/1.1 404 Not Found</status></response></multistatus>`,
		`<ns0:multistatus xmlns:ns0="DAV:" xmlns:ns1="urn:ietf:params:xml:ns:carddav"><ns0:response><ns0:href>/user/contacts/addressbook/a.vcf</ns0:href><ns0:propstat><ns0:status>HTTP/1.1 200 OK</ns0:status><ns0:prop><ns0:getetag>"69"</ns0:getetag><ns1:address-data>BEGIN:VCARD
VERSION:3.0
UID:a
FN:A
END:VCARD
</ns1:address-data></ns0:prop></ns0:propstat></ns0:response><ns0:sync-token>adc2</ns0:sync-token></ns0:multistatus>`,
		`<multistatus xmlns="DAV:"><response><href>http%3A//127.0.0.1%3A1/x/</href><status>HTTP/1.1 404 Not Found</status></response></multistatus>`,
		`<multistatus xmlns="DAV:"><response>`,
		`<other/>`,
		``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := 0
		_, err := parseMultistatus(strings.NewReader(s), func(r *response) error {
			n++
			p, _ := r.ok()
			_ = p.isAddressBook()
			_ = p.isCollection()
			_ = p.modified()
			for _, h := range r.Hrefs {
				hrefPath(h)
			}
			return nil
		})
		if err != nil && n > 0 && !strings.Contains(s, "response") {
			t.Fatalf("responses without a response element: %d", n)
		}
	})
}

// FuzzDecodeETagCursor checks that a corrupt stored cursor is an error,
// never a panic or a huge allocation, and that cursors round-trip.
func FuzzDecodeETagCursor(f *testing.F) {
	f.Add(etagCursor([]member{{path: "/a/b/c.vcf", etag: `"1"`}, {path: "/a/b/d.vcf", etag: `"2"`}}))
	f.Add(etagCursor(nil))
	f.Add("e:!!!")
	f.Add("e:AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := decodeETagCursor(s)
		if err != nil {
			return
		}
		var members []member
		for p := range m {
			members = append(members, member{path: p})
		}
		if _, err := decodeETagCursor(etagCursor(members)); err != nil {
			t.Fatalf("re-encoded cursor does not decode: %v", err)
		}
	})
}

func TestETagCursorRoundTrip(t *testing.T) {
	members := []member{{path: "/a/b/c.vcf", etag: `"1"`}, {path: "/a/b/ü d.vcf", etag: `W/"2"`}}
	m, err := decodeETagCursor(etagCursor(members))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["/a/b/c.vcf"] != etagHash(`"1"`) || m["/a/b/ü d.vcf"] != etagHash(`W/"2"`) {
		t.Fatalf("decoded %v", m)
	}
}
