package vcard_test

import (
	"bytes"
	"strings"
	"testing"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/vcard"
)

// cardBookPhoto turns a real card with an inline photo into the vCard 4.0
// Thunderbird's CardBook writes: a data: URI whose ';' and ',' are escaped
// as TEXT ("data:image/JPEG\;base64\,...").
func cardBookPhoto(tb testing.TB, file string) (escaped string, photo []byte) {
	tb.Helper()
	c, err := vcard.Decode(goldenCards(tb)[file])
	if err != nil {
		tb.Fatal(err)
	}
	if c.Photo() == nil {
		tb.Fatalf("%s has no inline photo", file)
	}
	out, err := c.Encode("4.0")
	if err != nil {
		tb.Fatal(err)
	}
	s := string(out)
	if !strings.Contains(s, "data:image/jpeg;base64,") {
		tb.Fatalf("4.0 form of %s has no data URI:\n%.400s", file, s)
	}
	return strings.Replace(s, "data:image/jpeg;base64,", `data:image/JPEG\;base64\,`, 1), c.Photo()
}

// TestEscapedDataURIPhoto reads CardBook's escaped data: URI as the photo
// it is, and writes it as 3.0's ENCODING=b.
func TestEscapedDataURIPhoto(t *testing.T) {
	for _, file := range []string{"ios-3.0-item-ablabel-photo.vcf", "thunderbird-3.0-ext-photo.vcf"} {
		t.Run(file, func(t *testing.T) {
			escaped, photo := cardBookPhoto(t, file)
			c := mustDecode(t, escaped)
			if !bytes.Equal(c.Photo(), photo) {
				t.Fatalf("photo of the escaped data URI: %d bytes, want %d", len(c.Photo()), len(photo))
			}
			if got := c.CRMFields()[crm.FieldPicture]; got != vcard.PhotoHash(photo) {
				t.Errorf("ProfilePicture %q, want the photo's hash", got)
			}
			if u := c.PhotoURI(); u != "" {
				t.Errorf("the data URI is taken for a picture by reference: %.60q", u)
			}
			v3, err := c.Encode("3.0")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(v3), "\r\nPHOTO;ENCODING=b;TYPE=JPEG:") || strings.Contains(string(v3), "data:") {
				t.Errorf("3.0 photo not written as ENCODING=b:\n%.600s", v3)
			}
			if back := mustDecode(t, string(v3)); !bytes.Equal(back.Photo(), photo) {
				t.Error("3.0 photo does not decode to the same bytes")
			}
		})
	}
}

// TestUnmappedNamesKeepTheirCase: a property or parameter name comes back
// spelled as the client wrote it (iOS's item1.X-ABLabel, type=HOME), while
// matching stays case-insensitive.
func TestUnmappedNamesKeepTheirCase(t *testing.T) {
	data := goldenCards(t)["ios-3.0-item-ablabel-photo.vcf"]
	c, err := vcard.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Get("x-ablabel")) == 0 || c.Get("X-ABLABEL")[0].Name != "X-ABLABEL" {
		t.Fatalf("X-ABLabel not found case-insensitively")
	}
	out, err := c.Encode("")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\r\nitem2.X-ABLabel:", "\r\nitem1.EMAIL;type=INTERNET;type=pref:", "\r\nBDAY;value=date:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("%q not written as the client spelled it:\n%s", want, clipPhoto(out))
		}
	}
	if strings.Contains(string(out), "X-ABLABEL") || strings.Contains(string(out), "TYPE=INTERNET") {
		t.Errorf("names upper-cased:\n%s", clipPhoto(out))
	}
	// An edited property keeps its spelling; one the mapping writes anew
	// is upper case.
	f := c.CRMFields()
	f[crm.FieldEmail1] = "new@example.com"
	if f[crm.FieldEmail2] != "" {
		t.Fatalf("the card has a second e-mail: %v", f)
	}
	f[crm.FieldEmail2] = "two@example.com"
	edited := mustEncode(t, f, c.Photo(), "", c, "")
	if !strings.Contains(edited, "\r\nitem1.EMAIL;type=INTERNET;type=pref:new@example.com\r\n") || !strings.Contains(edited, "\r\nEMAIL;TYPE=internet,home:two@example.com\r\n") {
		t.Errorf("edited card:\n%s", clipPhoto([]byte(edited)))
	}
}

func clipPhoto(b []byte) string {
	var out []string
	for _, l := range strings.Split(string(b), "\r\n") {
		if !strings.HasPrefix(l, " ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\r\n")
}
