package web

import "testing"

// A form's item version is up to nine plain digits: no sign, no space,
// nothing else.
func TestParseVersion(t *testing.T) {
	for s, want := range map[string]int{"0": 0, "7": 7, "0012": 12, "999999999": 999999999} {
		if n, err := parseVersion(s); err != nil || n != want {
			t.Errorf("parseVersion(%q) = %d, %v; want %d", s, n, err, want)
		}
	}
	for _, s := range []string{"", "+1", "-1", " 1", "1 ", "1_000", "0x1f", "1e3", "x1", "1234567890", "٣"} {
		if n, err := parseVersion(s); err == nil {
			t.Errorf("parseVersion(%q) = %d, want an error", s, n)
		}
	}
}
