package crmsync

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
