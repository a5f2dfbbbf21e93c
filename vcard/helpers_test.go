package vcard_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/vcard"
)

// vcardsDir returns ../shared/testdata/vcards relative to the repository
// root; it skips (fails with CI=true) when the folder is absent.
func vcardsDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
	d := filepath.Join(dir, "..", "shared", "testdata", "vcards")
	if _, err := os.Stat(d); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("test data %s missing: %v", d, err)
		}
		tb.Skipf("test data %s missing (checked out without ../shared?): %v", d, err)
	}
	return d
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
