package crmsync

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestCountryName(t *testing.T) {
	for in, want := range map[string]string{
		"USA": "United States", "usa": "United States", "US": "United States", "U.S.A.": "United States",
		"u.s.": "United States", "United States of America": "United States", " united  states ": "United States",
		"Czechia": "Czech Republic", "czech republic": "Czech Republic", "CZ": "Czech Republic", "CZE": "Czech Republic",
		"Česko": "Czech Republic", "UK": "United Kingdom", "Great Britain": "United Kingdom", "GB": "United Kingdom",
		"Deutschland": "Germany", "DE": "Germany", "Viet Nam": "Vietnam", "Korea, Republic of": "South Korea",
		"Russia": "Russian Federation", "St. Lucia": "Saint Lucia", "Bosnia & Herzegovina": "Bosnia and Herzegovina",
		"The Netherlands": "Netherlands", "Côte d'Ivoire": CountryName("Ivory Coast"),
		// Placeholders and unknown text denote no country.
		"NA": "", "N/A": "", "n.a.": "", "na": "", "-": "", "--": "", "?": "", "none": "", "Unknown": "", "XX": "",
		"": "", "Country": "", "Atlantis": "",
		// Codes count only in capitals: "de" or "and" in a country field is
		// not a code.
		"de": "", "and": "", "can": "",
	} {
		if got := CountryName(in); got != want {
			t.Errorf("CountryName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCountryAliasesMatchTheSeed: every entry names a seeded country, each
// seeded country has its entry, and no name or code stands for two.
func TestCountryAliasesMatchTheSeed(t *testing.T) {
	sql, err := os.ReadFile("internal/schema/enum_values.sql")
	if err != nil {
		t.Fatal(err)
	}
	seeded := map[string]bool{}
	for _, m := range regexp.MustCompile(`'CountryCode', '((?:[^']|'')*)'`).FindAllStringSubmatch(string(sql), -1) {
		seeded[strings.ReplaceAll(m[1], "''", "'")] = true
	}
	if len(seeded) != len(countryAliases) {
		t.Errorf("%d seeded countries, %d alias entries", len(seeded), len(countryAliases))
	}
	codes, names := map[string]string{}, map[string]string{}
	for _, c := range countryAliases {
		if !seeded[c.en] {
			t.Errorf("%q is not a seeded country", c.en)
		}
		if CountryName(c.en) != c.en {
			t.Errorf("CountryName(%q) = %q", c.en, CountryName(c.en))
		}
		for _, code := range c.codes {
			if other, ok := codes[code]; ok {
				t.Errorf("code %s stands for %s and %s", code, other, c.en)
			}
			codes[code] = c.en
		}
		for _, a := range append([]string{c.en}, c.aliases...) {
			k := countryKey(a)
			if other, ok := names[k]; ok && other != c.en {
				t.Errorf("%q stands for %s and %s", a, other, c.en)
			}
			names[k] = c.en
			if countryPlaceholders[k] {
				t.Errorf("%q of %s is a placeholder", a, c.en)
			}
		}
	}
}
