package carddav_test

import (
	"net/http"
	"testing"
)

// FuzzPut sends arbitrary bodies as cards: the server answers a client
// error or stores the card, never fails internally, and what it stored
// reads back.
func FuzzPut(f *testing.F) {
	f.Add([]byte(iosCard))
	f.Add([]byte("BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=windows-1250;ENCODING=QUOTED-PRINTABLE:=8Aediv=E1;;;;\r\nEND:VCARD\r\n"))
	f.Add([]byte("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:X\r\nPHOTO:data:image/png;base64,iVBORw0KGgo=\r\nADR;TYPE=work:;;a\\;b;c;;;Czech Republic\r\nEND:VCARD\r\n"))
	f.Add([]byte("not a card"))
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		fx := *fx
		fx.tb = t
		r := fx.do("PUT", "/dav/addressbooks/alice/contacts/fuzz.vcf", "alice", string(body), "Content-Type", "text/vcard")
		switch r.code {
		case http.StatusCreated, http.StatusNoContent:
			if g := fx.do("GET", "/dav/addressbooks/alice/contacts/fuzz.vcf", "alice", ""); g.code != http.StatusOK {
				t.Fatalf("stored card does not read back: %d %s", g.code, g.body)
			}
		case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("PUT %q: %d %s", body, r.code, r.body)
		}
	})
}
