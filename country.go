package crmsync

import (
	"strings"
	"unicode"
)

// CountryName returns the English name of the built-in country
// (EnumCountry) that name denotes, "" when it denotes none. A country is
// known by its English name, its ISO 3166-1 alpha-2 or alpha-3 code
// written in capitals ("US", "CZE"), its ISO short, official or common name
// and common aliases ("USA", "U.S.A.", "Czechia", "Deutschland"), ignoring
// case, dots and extra spaces. A placeholder ("N/A", "NA", "-", "none",
// "unknown") denotes none, so it never turns into a country (NA is also
// Namibia's code).
func CountryName(name string) string {
	name = strings.TrimSpace(name)
	key := countryKey(name)
	if countryPlaceholders[key] || !strings.ContainsFunc(key, unicode.IsLetter) {
		return ""
	}
	if en, ok := countryCodes[name]; ok {
		return en
	}
	return countryNames[key]
}

// countryKey folds a country name for lookup: lower case, no dots, single
// spaces, no leading "the", "&" as "and", "st" as "saint".
func countryKey(s string) string {
	s = strings.ToLower(strings.ReplaceAll(s, ".", " "))
	s = strings.ReplaceAll(s, "&", " and ")
	f := strings.Fields(s)
	if len(f) > 1 && f[0] == "the" {
		f = f[1:]
	}
	for i, w := range f {
		if w == "st" {
			f[i] = "saint"
		}
	}
	// "U.S.A." and "USA" are the same key.
	if len(f) > 1 {
		short := true
		for _, w := range f {
			short = short && len(w) == 1
		}
		if short {
			return strings.Join(f, "")
		}
	}
	return strings.Join(f, " ")
}

// countryPlaceholders are keys (countryKey) that mean "no country".
var countryPlaceholders = map[string]bool{
	"": true, "na": true, "n/a": true, "n a": true, "n/d": true, "none": true, "no country": true, "nil": true,
	"null": true, "unknown": true, "not known": true, "not applicable": true, "not specified": true,
	"unspecified": true, "tbd": true, "tba": true, "x": true, "xx": true, "xxx": true, "zz": true,
	"other": true, "others": true, "country": true, "country/region": true, "select": true,
	"select country": true, "choose country": true, "please select": true, "neznámá": true, "neuvedeno": true,
}

// countryCodes maps the ISO codes, in capitals, and countryNames the
// folded names and aliases, to the English name of the built-in country.
var countryCodes, countryNames = func() (map[string]string, map[string]string) {
	codes, names := map[string]string{}, map[string]string{}
	for _, c := range countryAliases {
		names[countryKey(c.en)] = c.en
		for _, code := range c.codes {
			codes[code] = c.en
		}
		for _, a := range c.aliases {
			names[countryKey(a)] = c.en
		}
	}
	return codes, names
}()
