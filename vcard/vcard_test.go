package vcard_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/vcard"
	"github.com/google/go-cmp/cmp"
)

func card(lines ...string) string {
	return "BEGIN:VCARD\r\nVERSION:3.0\r\n" + strings.Join(lines, "\r\n") + "\r\nEND:VCARD\r\n"
}

// go-vcard bug: "N:Doe\;Jr;..." decodes the family name as `Doe\` and
// re-encodes it as `Doe\\;Jr`.
func TestEscapedSemicolonInN(t *testing.T) {
	c := mustDecode(t, card(`N:Doe\;Jr;John;A,B;;`, "FN:John Doe"))
	want := map[string]string{crm.FieldLastName: "Doe;Jr", crm.FieldFirstName: "John", crm.FieldMiddleName: "A,B"}
	if diff := cmp.Diff(want, c.Fields()); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	f := c.Fields()
	f[crm.FieldFirstName] = "Jane"
	out := mustEncode(t, f, nil, "", c, "")
	if !strings.Contains(out, "\r\nN:Doe\\;Jr;Jane;A\\,B;;\r\n") {
		t.Errorf("N written wrongly:\n%s", out)
	}
	if diff := cmp.Diff(f, mustDecode(t, out).Fields()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// Same bug in ADR: a street with "\;" must stay one component.
func TestEscapedSemicolonInADR(t *testing.T) {
	c := mustDecode(t, card("N:X;;;;", "FN:X", `ADR;TYPE=work:;;Main St\; Suite 2;Town;;123;CZ`))
	f := c.Fields()
	want := map[string]string{crm.FieldLastName: "X", "BusinessAddressStreet": "Main St; Suite 2",
		"BusinessAddressCity": "Town", "BusinessAddressPostalCode": "123", "BusinessAddressCountryEn": "CZ"}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	f["BusinessAddressCity"] = "City; Two"
	out := mustEncode(t, f, nil, "", c, "")
	if !strings.Contains(out, `ADR;TYPE=work:;;Main St\; Suite 2;City\; Two;;123;CZ`) {
		t.Errorf("ADR written wrongly:\n%s", out)
	}
}

// go-vcard keeps `\;` in NOTE and writes it back as `\\;`.
func TestNoteEscapes(t *testing.T) {
	c := mustDecode(t, card("N:X;;;;", "FN:X", `NOTE:semi\;colon\, comma\\ back\nline\Nnext`))
	if got, want := c.Fields()[crm.FieldNote], "semi;colon, comma\\ back\nline\nnext"; got != want {
		t.Fatalf("Note = %q, want %q", got, want)
	}
	f := map[string]string{crm.FieldLastName: "X", crm.FieldNote: "a;b,c\\d\ne"}
	out := mustEncode(t, f, nil, "", c, "")
	if !strings.Contains(out, "\r\nNOTE:a\\;b\\,c\\\\d\\ne\r\n") {
		t.Errorf("NOTE written wrongly:\n%s", out)
	}
}

// go-vcard re-encodes CATEGORIES:a,b as one category "a\,b".
func TestCategoriesKeepTheirCommas(t *testing.T) {
	c := mustDecode(t, card("N:X;;;;", "FN:X", "CATEGORIES:friends,work"))
	f := c.Fields()
	f[crm.FieldJobTitle] = "Boss"
	for _, v := range []string{"3.0", "4.0"} {
		out := mustEncode(t, f, nil, "", c, v)
		if !strings.Contains(out, "\r\nCATEGORIES:friends,work\r\n") {
			t.Errorf("%s: CATEGORIES changed:\n%s", v, out)
		}
	}
}

// go-vcard writes LABEL="1 Main St:Suite 2;x" unquoted, breaking the line.
func TestParameterQuoting(t *testing.T) {
	c := mustDecode(t, card("N:X;;;;", "FN:X", `ADR;LABEL="1 Main St:Suite 2;x";TYPE=home:;;1 Main St;;;;`,
		`X-TEST;P="say ^'hi^'^nbye";Q=plain:v`))
	f := c.Fields()
	f["HomeAddressCity"] = "Brno"
	out := mustEncode(t, f, nil, "", c, "")
	if !strings.Contains(out, `ADR;LABEL="1 Main St:Suite 2;x";TYPE=home:;;1 Main St;Brno;;;`) {
		t.Errorf("LABEL not quoted:\n%s", out)
	}
	if !strings.Contains(out, `X-TEST;P=say ^'hi^'^nbye;Q=plain:v`) {
		t.Errorf("RFC 6868 escapes not written:\n%s", out)
	}
	c2 := mustDecode(t, out)
	if got := c2.Get("ADR")[0].ParamValues("LABEL"); !cmp.Equal(got, []string{"1 Main St:Suite 2;x"}) {
		t.Errorf("LABEL read back as %q", got)
	}
	if got := c2.Get("X-TEST")[0].Params[0].Values; !cmp.Equal(got, []string{"say \"hi\"\nbye"}) {
		t.Errorf("P read back as %q", got)
	}
}

// go-vcard never folds; RFC 6350 says lines SHOULD be at most 75 octets.
func TestFoldingAt75Octets(t *testing.T) {
	note := strings.Repeat("Příliš žluťoučký kůň úpěl ďábelské ódy. ", 20)
	photo := bytes.Repeat([]byte{0xFF, 0xD8, 0x00, 0x42}, 500)
	f := map[string]string{crm.FieldLastName: "Kůň", crm.FieldNote: note, crm.FieldPicture: vcard.PhotoHash(photo)}
	for _, v := range []string{"3.0", "4.0"} {
		out := mustEncode(t, f, photo, "", nil, v)
		lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
		for i, l := range lines {
			if len(l) > 75 {
				t.Errorf("%s: line %d has %d octets", v, i+1, len(l))
			}
			if !utf8.ValidString(l) {
				t.Errorf("%s: line %d splits a UTF-8 sequence: %q", v, i+1, l)
			}
		}
		c := mustDecode(t, out)
		if got := c.Fields()[crm.FieldNote]; got != strings.TrimSpace(note) {
			t.Errorf("%s: note read back as %q", v, got)
		}
		if !bytes.Equal(c.Photo(), photo) {
			t.Errorf("%s: photo not read back", v)
		}
	}
}

// go-vcard has no QUOTED-PRINTABLE or CHARSET support (vCard 2.1).
func TestQuotedPrintableUTF8(t *testing.T) {
	c := mustDecode(t, "BEGIN:VCARD\r\nVERSION:2.1\r\n"+
		"N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Nov=C3=A1k;Jan;;;\r\n"+
		"NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:first=0D=0Asecond =C5=99=\r\n"+
		"=C3=A1dek\r\n"+
		"END:VCARD\r\n")
	want := map[string]string{crm.FieldLastName: "Novák", crm.FieldFirstName: "Jan", crm.FieldNote: "first\nsecond řádek"}
	if diff := cmp.Diff(want, c.Fields()); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	out := mustEncode(t, c.Fields(), nil, "", c, "")
	if strings.Contains(out, "QUOTED-PRINTABLE") || strings.Contains(out, "CHARSET") || !strings.Contains(out, "VERSION:3.0") {
		t.Errorf("2.1 encodings kept in the 3.0 output:\n%s", out)
	}
}

func TestCharsetWindows1250(t *testing.T) {
	for name, data := range map[string]string{
		"declared QP": "BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=WINDOWS-1250;ENCODING=QUOTED-PRINTABLE:=8Aediv=E1;=8Aimon;;;\r\n" +
			"ADR;WORK;CHARSET=windows-1250;ENCODING=QUOTED-PRINTABLE:;;Mile=9Aovsk=E1 5;=A3=F3d=9F;;;Polska\r\nEND:VCARD\r\n",
		"raw, undeclared": "BEGIN:VCARD\r\nVERSION:2.1\r\nN:\x8aediv\xe1;\x8aimon;;;\r\n" +
			"ADR;WORK:;;Mile\x9aovsk\xe1 5;\xa3\xf3d\x9f;;;Polska\r\nEND:VCARD\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			c := mustDecode(t, data)
			want := map[string]string{crm.FieldLastName: "Šedivá", crm.FieldFirstName: "Šimon",
				"BusinessAddressStreet": "Milešovská 5", "BusinessAddressCity": "Łódź", "BusinessAddressCountryEn": "Polska"}
			if diff := cmp.Diff(want, c.Fields()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	_, err := vcard.Decode([]byte("BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=KOI8-R:\xf0\xd2;;;;\r\nEND:VCARD\r\n"))
	if err == nil || !strings.Contains(err.Error(), "KOI8-R") {
		t.Errorf("unknown charset: err = %v, want one naming KOI8-R", err)
	}
}

// go-vcard silently skips a malformed line; we report it with its number.
func TestMalformedInputIsReported(t *testing.T) {
	for name, tc := range map[string]struct {
		in, want string
	}{
		"no colon":        {card("N:X;;;;", "this line has no colon", "FN:X"), "line 4"},
		"bad name":        {card("N:X;;;;", "FN X:Y"), "line 4"},
		"unterminated":    {card(`ADR;LABEL="open:;;;;;;`), "unterminated"},
		"no end":          {"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:X\r\n", "missing END:VCARD"},
		"two cards":       {card("FN:A") + card("FN:B"), "2 cards"},
		"empty":           {"", "no BEGIN:VCARD"},
		"outside":         {"FN:X\r\n" + card("FN:A"), "outside"},
		"stray fold":      {" folded\r\n" + card("FN:A"), "continuation"},
		"nested":          {card("BEGIN:VCARD", "FN:A"), "nested"},
		"empty parameter": {card("N;=x:X;;;;"), "empty parameter name"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := vcard.Decode([]byte(tc.in))
			var de *vcard.DecodeError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a DecodeError containing %q", err, tc.want)
			}
		})
	}
}

func TestTelephoneTypes(t *testing.T) {
	c := mustDecode(t, "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:X\r\n"+
		"TEL;TYPE=\"work,voice\";PREF=2:+420 1\r\n"+
		"TEL;TYPE=work,voice;PREF=1:+420 0\r\n"+
		"TEL;VALUE=uri;TYPE=cell:tel:+420-2\r\n"+
		"TEL;TYPE=home:3\r\n"+
		"TEL;TYPE=\"fax,work\":4\r\n"+
		"TEL;TYPE=\"home,fax\":5\r\n"+
		"TEL;TYPE=pager:6\r\n"+
		"TEL:7\r\n"+
		"END:VCARD\r\n")
	want := map[string]string{crm.FieldLastName: "X",
		crm.FieldPhoneBusiness: "+420 0", crm.FieldPhoneBusiness2: "+420 1", crm.FieldPhoneMobile: "+420-2",
		crm.FieldPhoneHome: "3", crm.FieldPhoneFax: "4", crm.FieldPhoneOther: "7"}
	if diff := cmp.Diff(want, c.Fields()); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	f := c.Fields()
	f[crm.FieldPhoneMobile] = "+420-9"
	out := mustEncode(t, f, nil, "", c, "")
	if !strings.Contains(out, "TEL;VALUE=uri;TYPE=cell:tel:+420-9\r\n") {
		t.Errorf("tel: URI form not kept:\n%s", out)
	}
	for _, keep := range []string{"TEL;TYPE=pager:6", `TEL;TYPE="home,fax":5`} {
		if !strings.Contains(out, keep) {
			t.Errorf("%s lost:\n%s", keep, out)
		}
	}
}

func TestNewCardTypes(t *testing.T) {
	f := map[string]string{crm.FieldFirstName: "Jan", crm.FieldLastName: "Novák", crm.FieldPrefix: "Ing.",
		crm.FieldEmail1: "a@x.cz", crm.FieldEmail2: "b@x.cz", crm.FieldEmail3: "c@x.cz",
		crm.FieldPhoneBusiness: "1", crm.FieldPhoneBusiness2: "2", crm.FieldPhoneHome: "3", crm.FieldPhoneMobile: "4",
		crm.FieldPhoneFax: "5", crm.FieldPhoneOther: "6",
		"HomeAddressCity": "Brno", "OtherAddressCountryEn": "Czech Republic", "BusinessAddressStreet": "Na Příkopě 1\n2. patro"}
	out3 := mustEncode(t, f, nil, "guid-1", nil, "3.0")
	for _, l := range []string{"UID:guid-1", "FN:Ing. Jan Novák", "N:Novák;Jan;;Ing.;", "EMAIL;TYPE=internet,work,pref:a@x.cz",
		"EMAIL;TYPE=internet,home:b@x.cz", "TEL;TYPE=work,voice:1", "TEL;TYPE=cell,voice:4", "TEL;TYPE=work,fax:5",
		"TEL;TYPE=other,voice:6", "ADR;TYPE=home:;;;Brno;;;", `ADR;TYPE=work:;;Na Příkopě 1\n2. patro;;;;`} {
		if !strings.Contains(out3, "\r\n"+l+"\r\n") {
			t.Errorf("3.0 lacks %q:\n%s", l, out3)
		}
	}
	out4 := mustEncode(t, f, nil, "guid-1", nil, "4.0")
	for _, l := range []string{"VERSION:4.0", "EMAIL;TYPE=work;PREF=1:a@x.cz", "EMAIL;TYPE=home:b@x.cz", "EMAIL:c@x.cz"} {
		if !strings.Contains(out4, "\r\n"+l+"\r\n") {
			t.Errorf("4.0 lacks %q:\n%s", l, out4)
		}
	}
	for _, out := range []string{out3, out4} {
		if diff := cmp.Diff(f, mustDecode(t, out).Fields()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
}

func TestPhoto(t *testing.T) {
	jpeg := []byte{0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3}
	png := []byte("\x89PNG\r\n\x1a\n123")
	f := map[string]string{crm.FieldLastName: "X", crm.FieldPicture: vcard.PhotoHash(jpeg)}
	out3 := mustEncode(t, f, jpeg, "", nil, "3.0")
	if !strings.Contains(out3, "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AECAw==") {
		t.Errorf("3.0 photo:\n%s", out3)
	}
	out4 := mustEncode(t, f, jpeg, "", nil, "4.0")
	if !strings.Contains(out4, "PHOTO:data:image/jpeg;base64,/9j/4AECAw==") {
		t.Errorf("4.0 photo:\n%s", out4)
	}
	for _, out := range []string{out3, out4} {
		c := mustDecode(t, out)
		if !bytes.Equal(c.Photo(), jpeg) || c.Fields()[crm.FieldPicture] != vcard.PhotoHash(jpeg) {
			t.Errorf("photo not read back from\n%s", out)
		}
	}
	// A picture by URI is kept and never fetched; it has no hash.
	c := mustDecode(t, card("N:X;;;;", "FN:X", "PHOTO;VALUE=uri:https://example.com/p.jpg"))
	if c.PhotoURI() != "https://example.com/p.jpg" || c.Fields()[crm.FieldPicture] != "" {
		t.Errorf("URI photo: uri %q fields %v", c.PhotoURI(), c.Fields())
	}
	out := mustEncode(t, c.Fields(), nil, "", c, "4.0")
	if !strings.Contains(out, "\r\nPHOTO:https://example.com/p.jpg\r\n") {
		t.Errorf("URI photo not kept in 4.0:\n%s", out)
	}
	// Setting a picture replaces the URI.
	f = c.Fields()
	f[crm.FieldPicture] = vcard.PhotoHash(png)
	out = mustEncode(t, f, png, "", c, "")
	if strings.Contains(out, "example.com") || !strings.Contains(out, "TYPE=PNG") {
		t.Errorf("URI not replaced:\n%s", out)
	}
	// A hash without its bytes is refused, with nothing written.
	_, err := vcard.Encode(map[string]string{crm.FieldPicture: vcard.PhotoHash(png)}, nil, "", nil, "")
	if crm.ErrorCode(err) != crm.EINVALID {
		t.Errorf("hash without bytes: err = %v, want EINVALID", err)
	}
}

// Removing a property that lives in an item group removes its X-ABLabel.
func TestRemovingGroupedPropertyDropsItsLabel(t *testing.T) {
	c := mustDecode(t, card("N:X;;;;", "FN:X", "item1.TEL:555", "item1.X-ABLabel:GRAND_CENTRAL",
		"item2.X-ABRELATEDNAMES:Bob", "item2.X-ABLabel:_$!<Spouse>!$_"))
	if c.Fields()[crm.FieldPhoneOther] != "555" {
		t.Fatalf("grouped TEL not read: %v", c.Fields())
	}
	out := mustEncode(t, map[string]string{crm.FieldLastName: "X"}, nil, "", c, "")
	if strings.Contains(out, "555") || strings.Contains(out, "GRAND_CENTRAL") {
		t.Errorf("TEL or its label left:\n%s", out)
	}
	if !strings.Contains(out, "item2.X-ABLabel:_$!<Spouse>!$_") {
		t.Errorf("unrelated group lost:\n%s", out)
	}
}

func TestLineEndingsAndUTF16(t *testing.T) {
	base := "BEGIN:VCARD\nVERSION:3.0\nN:Nov\u00e1k;Jan;;;\nFN:Jan Nov\u00e1k\nNOTE:a long\n  folded note\nEND:VCARD\n"
	want := map[string]string{crm.FieldLastName: "Novák", crm.FieldFirstName: "Jan", crm.FieldNote: "a long folded note"}
	utf16be := func(s string, bom bool) []byte {
		var b []byte
		if bom {
			b = append(b, 0xFE, 0xFF)
		}
		for _, r := range s {
			b = append(b, byte(r>>8), byte(r))
		}
		return b
	}
	for name, data := range map[string][]byte{
		"LF":           []byte(base),
		"CRLF":         []byte(strings.ReplaceAll(base, "\n", "\r\n")),
		"CR CR LF":     []byte(strings.ReplaceAll(base, "\n", "\r\r\n")),
		"CR":           []byte(strings.ReplaceAll(base, "\n", "\r")),
		"UTF-8 BOM":    append([]byte("\xEF\xBB\xBF"), base...),
		"UTF-16BE":     utf16be(base, false),
		"UTF-16BE BOM": utf16be(base, true),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := vcard.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, c.Fields()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestGoVCardConversion(t *testing.T) {
	c := mustDecode(t, card("N:Doe;John;;;", "FN:John Doe", "EMAIL:j@x.cz", "X-CUSTOM:1"))
	gc, err := c.ToGoVCard()
	if err != nil {
		t.Fatal(err)
	}
	if gc.PreferredValue("FN") != "John Doe" || gc.Value("X-CUSTOM") != "1" || gc.Value("EMAIL") != "j@x.cz" {
		t.Errorf("go-vcard card: %v", gc)
	}
	back, err := vcard.FromGoVCard(gc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c.Fields(), back.Fields()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestValueHelpers(t *testing.T) {
	c := mustDecode(t, card("N:X;;;;", "FN:X", `X-CRMSYNC-GUID:a\,b`))
	if got := c.Value("x-crmsync-guid"); got != "a,b" {
		t.Errorf("Value = %q", got)
	}
	c.SetValue("X-CRMSYNC-GUID", "c;d")
	c.SetValue("REV", "2026-01-01T00:00:00Z")
	out, err := c.Encode("")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `X-CRMSYNC-GUID:c\;d`) || !strings.Contains(string(out), "REV:2026") {
		t.Errorf("SetValue:\n%s", out)
	}
	c.SetValue("REV", "")
	if c.Value("REV") != "" {
		t.Error("SetValue empty did not remove")
	}
	if _, err := c.Encode("2.1"); err == nil {
		t.Error("Encode 2.1 accepted")
	}
}

func TestNormalizeIsIdempotent(t *testing.T) {
	for _, v := range []string{" a\r\nb ", "x\x00y\x1f", "note\n\n", "\tz"} {
		for _, f := range []string{crm.FieldNote, crm.FieldFirstName} {
			n := vcard.Normalize(f, v)
			if vcard.Normalize(f, n) != n {
				t.Errorf("Normalize(%q, %q) not idempotent: %q", f, v, n)
			}
			if strings.ContainsAny(n, "\r\x00\x1f") {
				t.Errorf("Normalize(%q, %q) = %q keeps control characters", f, v, n)
			}
		}
	}
}

// Bytes that are not UTF-8 never hang the folding or reach the output.
func TestInvalidUTF8Fields(t *testing.T) {
	f := map[string]string{crm.FieldLastName: strings.Repeat("\x80", 300), crm.FieldNote: "a\xffb"}
	out := mustEncode(t, f, nil, "", nil, "3.0")
	if !utf8.ValidString(out) {
		t.Errorf("output is not UTF-8")
	}
	if got := mustDecode(t, out).Fields()[crm.FieldNote]; got != "a\uFFFDb" {
		t.Errorf("note = %q", got)
	}
}
