package crmsync

import "strings"

// Global settings (SPEC M5).
const (
	SettingCreateCompany  = "CreateCompanyWhileImportingContactFromOutlook"
	SettingDuplicityCheck = "ContactDuplicityCheckEnabled"
)

// DefaultGlobalSettings are the values of global settings never set.
var DefaultGlobalSettings = map[string]string{
	SettingCreateCompany:  "false",
	SettingDuplicityCheck: "false",
}

// Setting is one user setting; Path groups them like eWay's settings tree
// (e.g. "Contacts" for the Contacts tab of the sync settings).
type Setting struct {
	Path  string
	Name  string
	Value string
}

// EnumValue is one value of an enum type (prefix, suffix, country...).
type EnumValue struct {
	GUID     string
	EnumType string
	En       string
	Cs       string
	IsSystem bool
	Rank     int
}

// FindEnumValue returns the value of enumType among values that name
// denotes, the one EnsureEnumValue finds before it would add one: for
// EnumCountry the built-in country of any of its names (CountryName), else
// the first value whose English or Czech name is name, trimmed and
// ignoring case.
func FindEnumValue(values []EnumValue, enumType, name string) (EnumValue, bool) {
	name = strings.TrimSpace(name)
	if en := CountryName(name); en != "" && enumType == EnumCountry {
		for _, v := range values {
			if v.EnumType == enumType && v.IsSystem && v.En == en {
				return v, true
			}
		}
	}
	for _, v := range values {
		if v.EnumType == enumType && (strings.EqualFold(strings.TrimSpace(v.En), name) || v.Cs != "" && strings.EqualFold(strings.TrimSpace(v.Cs), name)) {
			return v, true
		}
	}
	return EnumValue{}, false
}
