package vcard_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/vcard"
	"github.com/google/go-cmp/cmp"
)

// TestGoldenRoundTrip decodes every real-world card, writes its fields
// back onto it in 3.0 and 4.0 and decodes again: same fields, and every
// property the mapping does not own survives.
func TestGoldenRoundTrip(t *testing.T) {
	for name, data := range goldenCards(t) {
		t.Run(name, func(t *testing.T) {
			c, err := vcard.Decode(data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			fields := c.Fields()
			if fields[crm.FieldFirstName] == "" && fields[crm.FieldLastName] == "" {
				t.Errorf("no name decoded: %v", fields)
			}
			// Unchanged fields rewrite nothing.
			same := mustEncode(t, c.CRMFields(), c.Photo(), "", c, "")
			plain, err := c.Encode("")
			if err != nil {
				t.Fatal(err)
			}
			if same != string(plain) {
				t.Errorf("writing unchanged fields changed the card:\n%s", cmp.Diff(string(plain), same))
			}
			for _, v := range []string{"3.0", "4.0"} {
				out := mustEncode(t, fields, c.Photo(), "", c, v)
				c2 := mustDecode(t, out)
				if c2.Version() != v {
					t.Errorf("version %q, want %q", c2.Version(), v)
				}
				if diff := cmp.Diff(fields, c2.Fields()); diff != "" {
					t.Errorf("%s: fields changed (-before +after):\n%s", v, diff)
				}
				if !bytes.Equal(c.Photo(), c2.Photo()) {
					t.Errorf("%s: photo changed", v)
				}
				if c.PhotoURI() != c2.PhotoURI() {
					t.Errorf("%s: photo URI %q, want %q", v, c2.PhotoURI(), c.PhotoURI())
				}
				if c.UID() != c2.UID() {
					t.Errorf("%s: UID %q, want %q", v, c2.UID(), c.UID())
				}
				if v == c.Version() {
					if diff := cmp.Diff(unmapped(c), unmapped(c2)); diff != "" {
						t.Errorf("%s: unmapped properties changed:\n%s", v, diff)
					}
				} else if len(unmapped(c)) != len(unmapped(c2)) {
					t.Errorf("%s: %d unmapped properties, want %d", v, len(unmapped(c2)), len(unmapped(c)))
				}
			}
		})
	}
}

// TestGoldenEdit changes every synced field of every real card: the new
// values come back, nothing unmapped is lost.
func TestGoldenEdit(t *testing.T) {
	photo := []byte("\x89PNG\r\n\x1a\nnot really a png")
	for name, data := range goldenCards(t) {
		t.Run(name, func(t *testing.T) {
			c, err := vcard.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			for i, f := range engine.SyncFields {
				want[f] = "new " + f + " ; , \\ ž " + string(rune('a'+i%26))
			}
			want[crm.FieldNote] = "line 1\nline 2; with, punctuation"
			want[crm.FieldWebPage] = "https://example.com/a,b;c"
			want[crm.FieldPicture] = vcard.PhotoHash(photo)
			out := mustEncode(t, want, photo, "uid-1", c, "")
			c2 := mustDecode(t, out)
			got := c2.Fields()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("fields (-want +got):\n%s\n%s", diff, out)
			}
			if !bytes.Equal(c2.Photo(), photo) {
				t.Error("photo not written")
			}
			if c2.UID() != "uid-1" {
				t.Errorf("UID %q", c2.UID())
			}
			if diff := cmp.Diff(unmapped(c), unmapped(c2)); diff != "" {
				t.Errorf("unmapped properties changed:\n%s", diff)
			}
			// Clearing everything removes the mapped properties but keeps
			// the rest (a value beyond the CRM's slots, such as a fourth
			// e-mail, moves up into a freed slot), and still yields a valid
			// card.
			out = mustEncode(t, map[string]string{}, nil, "", c2, "")
			c3 := mustDecode(t, out)
			for k, v := range c3.Fields() {
				if strings.HasPrefix(v, "new ") || v == want[k] {
					t.Errorf("%s = %q left after clearing", k, v)
				}
			}
			if c3.Photo() != nil {
				t.Error("photo left after clearing")
			}
			withoutABADR := func(ps []string) []string {
				var out []string
				for _, p := range ps {
					if !strings.Contains(p, ".X-ABADR:") {
						out = append(out, p)
					}
				}
				return out
			}
			if diff := cmp.Diff(withoutABADR(unmapped(c)), withoutABADR(unmapped(c3))); diff != "" {
				t.Errorf("unmapped properties changed by clearing:\n%s", diff)
			}
			if !regexp.MustCompile(`\r\nFN[;:]`).MatchString(out) || !regexp.MustCompile(`\r\nN[;:]`).MatchString(out) {
				t.Errorf("cleared card lacks N or FN:\n%s", out)
			}
		})
	}
}

// TestGoldenExpected pins what a few real cards mean, field by field.
func TestGoldenExpected(t *testing.T) {
	cards := goldenCards(t)
	for _, tc := range []struct {
		file string
		want map[string]string
	}{
		{"outlook-2.1-cp1250-polish.vcf", map[string]string{
			crm.FieldPrefix: "Herr", crm.FieldFirstName: "Antoni", crm.FieldMiddleName: "Jozef", crm.FieldLastName: "Mylka",
			crm.FieldSuffix: "jun.", crm.FieldCompany: "DFKI", crm.FieldDepartment: "Knowledge-Management",
			crm.FieldJobTitle: "Intern", crm.FieldNote: "These are some notes about antoni.",
			crm.FieldPhoneBusiness: "49 631 234 341", crm.FieldPhoneHome: "48 691 342 341", crm.FieldPhoneMobile: "48 91 3 175 234",
			"BusinessAddressStreet": "3.10\nTrippstadter Str. 122", "BusinessAddressCity": "Kaiserslautern",
			"BusinessAddressState": "Rheinland-Pfalz", "BusinessAddressPostalCode": "67663", "BusinessAddressCountryEn": "Deutschland",
			"HomeAddressStreet": "Budryka 2/1110", "HomeAddressCity": "Krakow", "HomeAddressState": "malopolskie",
			"HomeAddressPostalCode": "30-072", "HomeAddressCountryEn": "Polen",
			crm.FieldWebPage: "http://antoni.mylka.com", crm.FieldEmail1: "antoni_mylka@somedomain.com",
		}},
		{"cznic-2.1-czech-diacritics.vcf", map[string]string{
			crm.FieldLastName: "podpora CZ.NIC, z. s. p. o.", crm.FieldCompany: "CZ.NIC, z. s. p. o.",
			crm.FieldJobTitle: "zákaznická podpora", crm.FieldPhoneBusiness: "+420 222 745 111",
			"BusinessAddressStreet": "Milešovská 1136/5", "BusinessAddressCity": "Praha 3",
			"BusinessAddressPostalCode": "130 00", "BusinessAddressCountryEn": "Česká republika",
			crm.FieldWebPage: "http://www.nic.cz", crm.FieldEmail1: "podpora@nic.cz",
		}},
		{"android-2.1-qp-utf8-photo.vcf", map[string]string{
			crm.FieldLastName: "Ñ Ñ", crm.FieldFirstName: "Ñ Ñ Ñ", crm.FieldCompany: "ÑÑÑÑÑÑÑÑÑÑÑÑ",
			crm.FieldEmail1: "bob@company.com", crm.FieldEmail2: "ÑÑÑÑÑÑÑÑÑÑÑÑÑÑ",
			crm.FieldPhoneMobile: "123456", crm.FieldPhoneBusiness: "123456", crm.FieldPhoneFax: "123456",
			crm.FieldWebPage: "www.company.com",
		}},
		{"macos-3.0-utf16be.vcf", map[string]string{
			crm.FieldFirstName: "The only first name", crm.FieldCompany: "Company", "BusinessAddressStreet": "ノキア",
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c, err := vcard.Decode(cards[tc.file])
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, c.Fields()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	c, err := vcard.Decode(cards["outlook-2.1-cp1250-polish.vcf"])
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Get("LABEL")[1].Value; got != `Budryka 2/1110\nKraków, małopolskie 30-072\nPolen` {
		t.Errorf("Windows-1250 LABEL decoded as %q", got)
	}
}
