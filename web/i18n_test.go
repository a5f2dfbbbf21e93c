package web

import (
	"io/fs"
	"net/http/httptest"
	"regexp"
	"testing"
)

// Both catalogues hold the same keys, and every key the templates and the
// code use is in them (dynamic keys are built from these prefixes).
func TestCataloguesComplete(t *testing.T) {
	for k := range en {
		if cs[k] == "" {
			t.Errorf("Czech catalogue lacks %q", k)
		}
	}
	for k := range cs {
		if en[k] == "" {
			t.Errorf("English catalogue lacks %q", k)
		}
	}
	used := regexp.MustCompile(`(?:\bt|tf|tr\((?:rq\.)?lang,) "([a-z0-9]+\.[A-Za-z0-9_.]+|[a-z]+)"`)
	check := func(name string, b []byte) {
		for _, m := range used.FindAllSubmatch(b, -1) {
			if k := string(m[1]); en[k] == "" && k[len(k)-1] != '.' {
				t.Errorf("%s uses %q, which no catalogue holds", name, k)
			}
		}
	}
	fs.WalkDir(templateFS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := templateFS.ReadFile(p)
			check(p, b)
		}
		return nil
	})
	for _, f := range folderPages {
		for _, k := range []string{"nav." + f.Slug, "new." + f.Slug} {
			if en[k] == "" {
				t.Errorf("no text for %q", k)
			}
		}
		for _, fld := range append(f.Columns, fieldNames(f)...) {
			if en["field."+fld] == "" {
				t.Errorf("no label for field %q", fld)
			}
		}
	}
	for _, state := range []string{"declined", "expired", "cancelled", "failed"} {
		if en["m365.state."+state] == "" {
			t.Errorf("no message for a Microsoft 365 sign-in that ended %s", state)
		}
	}
	for _, code := range []string{"conflict", "exists", "duplicate", "invalid", "not_found", "forbidden", "unauthorized", "precondition", "internal"} {
		if en["err."+code] == "" {
			t.Errorf("no message for error %q", code)
		}
	}
}

func fieldNames(f *folderPage) []string {
	var out []string
	for _, fld := range f.Fields {
		out = append(out, fld.Name)
	}
	return out
}

func TestLanguage(t *testing.T) {
	for header, want := range map[string]string{
		"":                        "en",
		"cs":                      "cs",
		"cs-CZ,cs;q=0.9,en;q=0.8": "cs",
		"en-US,en;q=0.9,cs;q=0.8": "en",
		"de-DE,de;q=0.9,cs;q=0.5": "cs",
		"fr":                      "en",
		"en;q=0.2, cs;q=0.7":      "cs",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Language", header)
		if got := language(r); got != want {
			t.Errorf("Accept-Language %q: %s, want %s", header, got, want)
		}
	}
}
