package vcard_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/crmsync/crmsync/vcard"
	"github.com/google/go-cmp/cmp"
)

// FuzzDecode: Decode never panics, and whatever it accepts can be written
// back (onto itself and as a new card, in 3.0 and 4.0) and read again with
// the same fields.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(card(`N:Doe\;Jr;John;A,B;;`, "FN:John", `ADR;LABEL="a:b;c";TYPE=home:;;x\;y;;;;`)))
	f.Add([]byte("BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=C3=91;=\r\n=C3=91;;;\r\nEND:VCARD\r\n"))
	f.Add([]byte("BEGIN:VCARD\nVERSION:4.0\nFN:X\nPHOTO:data:image/png;base64,iVBORw0K\nTEL;TYPE=\"work,voice\":1\nEND:VCARD\n"))
	f.Add([]byte(card("N:X;;;;", "NOTE:a\\nb\\,c", "EMAIL;PREF=1:a@b", "EMAIL;TYPE=pref:c@d", "TEL;VALUE=uri:tel:+1")))
	// The real-world cards, when the shared test data is there.
	if files, _ := filepath.Glob(filepath.Join("..", "..", "shared", "testdata", "vcards", "*.vcf")); len(files) > 0 {
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := vcard.Decode(data)
		if err != nil {
			return
		}
		fields := c.CRMFields()
		for _, v := range []string{"3.0", "4.0"} {
			for _, base := range []*vcard.Card{c, nil} {
				out, err := vcard.Encode(fields, c.Photo(), c.UID(), base, v)
				if err != nil {
					t.Fatalf("Encode(%s, base %v): %v", v, base != nil, err)
				}
				c2, err := vcard.Decode(out)
				if err != nil {
					t.Fatalf("Decode of our own output: %v\n%s", err, out)
				}
				if diff := cmp.Diff(fields, c2.CRMFields()); diff != "" {
					t.Fatalf("%s base=%v: fields changed (-before +after):\n%s\n%s", v, base != nil, diff, out)
				}
			}
		}
	})
}
