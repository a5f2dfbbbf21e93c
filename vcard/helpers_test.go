package vcard_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/vcard"
)

// vcardsDir returns the shared vCard samples (../shared/testdata/vcards).
func vcardsDir(tb testing.TB) string {
	tb.Helper()
	return testenv.Shared(tb, "testdata", "vcards")
}

func goldenCards(tb testing.TB) map[string][]byte {
	tb.Helper()
	dir := vcardsDir(tb)
	files, err := filepath.Glob(filepath.Join(dir, "*.vcf"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no cards in %s: %v", dir, err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

func mustDecode(tb testing.TB, s string) *vcard.Card {
	tb.Helper()
	c, err := vcard.Decode([]byte(s))
	if err != nil {
		tb.Fatalf("Decode: %v\n%s", err, s)
	}
	return c
}

func mustEncode(tb testing.TB, fields map[string]string, photo []byte, uid string, base *vcard.Card, version string) string {
	tb.Helper()
	b, err := vcard.Encode(fields, photo, uid, base, version)
	if err != nil {
		tb.Fatalf("Encode: %v", err)
	}
	return string(b)
}

// mappedNames are the properties the CRM mapping reads or writes.
var mappedNames = map[string]bool{
	"VERSION": true, "N": true, "FN": true, "ORG": true, "TITLE": true, "URL": true, "EMAIL": true,
	"TEL": true, "ADR": true, "NOTE": true, "PHOTO": true, "UID": true, "X-ABLABEL": true,
}

// unmapped renders every property the mapping never touches, one line
// each, sorted, for comparison.
func unmapped(c *vcard.Card) []string {
	var out []string
	for _, p := range c.Props {
		if mappedNames[p.Name] {
			continue
		}
		var sb strings.Builder
		sb.WriteString(strings.ToLower(p.Group) + "." + p.Name)
		for _, pa := range p.Params {
			sb.WriteString(";" + pa.Name + "=" + strings.Join(pa.Values, ","))
		}
		sb.WriteString(":" + p.Value)
		out = append(out, sb.String())
	}
	sort.Strings(out)
	return out
}
