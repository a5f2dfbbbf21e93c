package crmsync

import "testing"

// FindEnumValue is how the service, before it adds a value, and CardDAV,
// when it compares a card with an item, tell which value a name denotes.
func TestFindEnumValue(t *testing.T) {
	values := []EnumValue{
		{GUID: "us-user", EnumType: EnumCountry, En: "USA"}, // typed by a user before aliases were known
		{GUID: "us", EnumType: EnumCountry, En: "United States", IsSystem: true},
		{GUID: "cz", EnumType: EnumCountry, En: "Czech Republic", Cs: "Česká republika", IsSystem: true},
		{GUID: "mr", EnumType: EnumPrefix, En: " Mr. "},
		{GUID: "dr", EnumType: EnumPrefix, En: "Dr.", Cs: "MUDr."},
		{GUID: "other-mr", EnumType: EnumSuffix, En: "Mr."},
	}
	for _, c := range []struct{ enumType, name, want string }{
		{EnumCountry, "USA", "us"}, // the built-in country wins over a same-named value
		{EnumCountry, "u.s.a.", "us"},
		{EnumCountry, "česká republika", "cz"},
		{EnumCountry, " CZ ", "cz"},
		{EnumPrefix, "mr.", "mr"}, // trimmed on both sides, case ignored
		{EnumPrefix, "mudr.", "dr"},
		{EnumSuffix, "MR.", "other-mr"}, // only values of the asked type
		{EnumPrefix, "Prof.", ""},
		{EnumPrefix, "", ""}, // an empty Cs names nothing
		{EnumCountry, "Atlantis", ""},
	} {
		v, ok := FindEnumValue(values, c.enumType, c.name)
		if ok != (c.want != "") || v.GUID != c.want {
			t.Errorf("FindEnumValue(%s, %q) = %q, %v; want %q", c.enumType, c.name, v.GUID, ok, c.want)
		}
	}
}
