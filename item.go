package crmsync

import (
	"regexp"
	"slices"
	"strings"
	"time"
)

// Folder names a module, spelled as eWay-CRM spells it (Journal is singular).
type Folder string

const (
	Contacts  Folder = "Contacts"
	Companies Folder = "Companies"
	Journal   Folder = "Journal"
)

// Folders lists every folder that holds items.
var Folders = []Folder{Contacts, Companies, Journal}

// Valid reports whether f is a known folder.
func (f Folder) Valid() bool { return f == Contacts || f == Companies || f == Journal }

// Kind is the type of a field's value. Every value travels as a string; the
// kind says which strings are valid and how the API renders them in JSON.
type Kind int

const (
	Text     Kind = iota
	GUID          // a reference to another item (foreign key) or a user
	Enum          // a GUID of an EnumValue of the field's EnumType
	Bool          // "true" or "false"
	DateTime      // "2006-01-02 15:04:05", UTC
	Binary        // base64 (standard encoding), e.g. a profile picture
	Number        // a whole number in decimal, rendered by the API as a JSON number
)

// FieldDef describes one field of a folder.
type FieldDef struct {
	Name     string
	Kind     Kind
	EnumType string // for Kind Enum: the enum type its values belong to
	ReadOnly bool   // set by the server only
}

// Common item fields, present in every folder.
const (
	FieldItemGUID       = "ItemGUID"
	FieldItemVersion    = "ItemVersion"
	FieldFileAs         = "FileAs"
	FieldOwnerGUID      = "OwnerGUID"
	FieldIsPrivate      = "IsPrivate"
	FieldCreatedByGUID  = "CreatedByGUID"
	FieldModifiedByGUID = "ModifiedByGUID"
	FieldItemCreated    = "ItemCreated"
	FieldItemChanged    = "ItemChanged"
)

// Contact fields (SPEC M1; names exactly as eWay-CRM's API spells them).
const (
	FieldPrefix         = "PrefixEn"
	FieldFirstName      = "FirstName"
	FieldMiddleName     = "MiddleName"
	FieldLastName       = "LastName"
	FieldSuffix         = "SuffixEn"
	FieldCompany        = "Company"
	FieldCompanyGUID    = "Companies_CompanyGuid"
	FieldJobTitle       = "Title" // eWay's Title is the job title, not the honorific
	FieldDepartment     = "Department"
	FieldWebPage        = "WebPage"
	FieldEmail1         = "Email1Address"
	FieldEmail2         = "Email2Address"
	FieldEmail3         = "Email3Address"
	FieldPhoneBusiness  = "TelephoneNumber1"
	FieldPhoneHome      = "TelephoneNumber2"
	FieldPhoneMobile    = "TelephoneNumber3"
	FieldPhoneOther     = "TelephoneNumber4"
	FieldPhoneBusiness2 = "TelephoneNumber5"
	FieldPhoneFax       = "TelephoneNumber6"
	FieldNote           = "Note"
	FieldPicture        = "ProfilePicture"
)

// Address fields: prefix + part, e.g. "BusinessAddress" + "Street".
const (
	AddressBusiness = "BusinessAddress"
	AddressHome     = "HomeAddress"
	AddressOther    = "OtherAddress"
)

// AddressParts are the parts of an address, in order. CountryEn is an enum.
var AddressParts = []string{"Street", "City", "State", "PostalCode", "CountryEn", "POBox"}

// Journal fields.
const (
	FieldJournalType = "TypeEn"
	FieldEventStart  = "EventStart"
	FieldEventEnd    = "EventEnd"
	FieldIsSystem    = "IsSystem"
	FieldContactGUID = "Contacts_ContactGuid"
	FieldCompanyName = "CompanyName"
)

// Enum types.
const (
	EnumPrefix      = "PrefixType"
	EnumSuffix      = "SuffixType"
	EnumCountry     = "CountryCode"
	EnumJournalType = "JournalType"
)

// EnumTypes lists every enum type, the ones fields refer to.
var EnumTypes = []string{EnumPrefix, EnumSuffix, EnumCountry, EnumJournalType}

var commonFields = []FieldDef{
	{Name: FieldFileAs},
	{Name: FieldOwnerGUID, Kind: GUID},
	{Name: FieldIsPrivate, Kind: Bool},
	{Name: FieldCreatedByGUID, Kind: GUID, ReadOnly: true},
	{Name: FieldModifiedByGUID, Kind: GUID, ReadOnly: true},
	{Name: FieldItemCreated, Kind: DateTime, ReadOnly: true},
	{Name: FieldItemChanged, Kind: DateTime, ReadOnly: true},
}

func addressFields(prefix string) []FieldDef {
	var defs []FieldDef
	for _, p := range AddressParts {
		d := FieldDef{Name: prefix + p}
		if p == "CountryEn" {
			d.Kind, d.EnumType = Enum, EnumCountry
		}
		defs = append(defs, d)
	}
	return defs
}

func concat(lists ...[]FieldDef) []FieldDef {
	var all []FieldDef
	for _, l := range lists {
		all = append(all, l...)
	}
	return all
}

var schemas = map[Folder][]FieldDef{
	Contacts: concat(commonFields, []FieldDef{
		{Name: FieldPrefix, Kind: Enum, EnumType: EnumPrefix},
		{Name: FieldFirstName},
		{Name: FieldMiddleName},
		{Name: FieldLastName},
		{Name: FieldSuffix, Kind: Enum, EnumType: EnumSuffix},
		{Name: FieldCompany},
		{Name: FieldCompanyGUID, Kind: GUID},
		{Name: FieldJobTitle},
		{Name: FieldDepartment},
		{Name: FieldWebPage},
		{Name: FieldEmail1},
		{Name: FieldEmail2},
		{Name: FieldEmail3},
	}, addressFields(AddressBusiness), addressFields(AddressHome), addressFields(AddressOther), []FieldDef{
		{Name: FieldPhoneBusiness},
		{Name: FieldPhoneHome},
		{Name: FieldPhoneMobile},
		{Name: FieldPhoneOther},
		{Name: FieldPhoneBusiness2},
		{Name: FieldPhoneFax},
		{Name: FieldNote},
		{Name: FieldPicture, Kind: Binary},
	}),
	// Companies keep the fields eWay's clients and examples send and read
	// back (eWay's IApiCompany): Address1 is the billing address, Address2
	// the postal one, Address3 another.
	Companies: concat(commonFields, []FieldDef{
		{Name: FieldCompanyName},
		{Name: "Email"},
		{Name: "Phone"},
		{Name: "Mobile"},
		{Name: "Fax"},
		{Name: "WebPage"},
	}, addressFields("Address1"), []FieldDef{
		{Name: FieldNote},
		{Name: "Department"},
		{Name: "IdentificationNumber"},
		{Name: "VATNumber"},
		{Name: "AccountNumber"},
		{Name: "LineOfBusiness"},
		{Name: "EmployeesCount", Kind: Number},
		{Name: "Purchaser", Kind: Bool},
		{Name: "Suppliers", Kind: Bool},
		{Name: "Competitor", Kind: Bool},
	}, addressFields("Address2"), addressFields("Address3")),
	Journal: concat(commonFields, []FieldDef{
		{Name: FieldNote},
		{Name: FieldJournalType, Kind: Enum, EnumType: EnumJournalType},
		{Name: FieldEventStart, Kind: DateTime},
		{Name: FieldEventEnd, Kind: DateTime},
		{Name: FieldIsSystem, Kind: Bool, ReadOnly: true},
		{Name: FieldContactGUID, Kind: GUID},
		{Name: FieldCompanyGUID, Kind: GUID},
	}),
}

var fieldIndex = func() map[Folder]map[string]FieldDef {
	idx := map[Folder]map[string]FieldDef{}
	for f, defs := range schemas {
		idx[f] = map[string]FieldDef{}
		for _, d := range defs {
			idx[f][d.Name] = d
		}
	}
	return idx
}()

// Schema returns the fields of folder f in a stable order. ItemGUID and
// ItemVersion are not listed: they are Item's own fields.
func Schema(f Folder) []FieldDef { return schemas[f] }

// LookupField returns the definition of field name in folder f. Besides
// the schema's fields, every folder keeps eWay's additional fields af_N
// (N from 1 to 999999) as text; a multi-select one is kept as a JSON array
// of strings.
func LookupField(f Folder, name string) (FieldDef, bool) {
	d, ok := fieldIndex[f][name]
	if !ok && f.Valid() && IsAdditionalField(name) {
		return FieldDef{Name: name}, true
	}
	return d, ok
}

var additionalField = regexp.MustCompile(`^af_[1-9][0-9]{0,5}$`)

// IsAdditionalField reports whether name is an additional field's name, af_N.
func IsAdditionalField(name string) bool { return additionalField.MatchString(name) }

// AdditionalFieldNames lists the additional fields it has a value of, by
// field number.
func AdditionalFieldNames(it *Item) []string {
	var names []string
	for k := range it.Fields {
		if strings.HasPrefix(k, "af_") && IsAdditionalField(k) {
			names = append(names, k)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	})
	return names
}

// Item is one record of a folder: a contact, a company or a journal.
// Every field other than the GUID and the version is a string in Fields,
// keyed by its eWay name; a missing key and "" both mean empty.
type Item struct {
	Folder  Folder
	GUID    string
	Version int
	Fields  map[string]string
	Trashed bool // in the trash (deleted, restorable)
}

// Get returns the value of field name.
func (it *Item) Get(name string) string { return it.Fields[name] }

// Set sets field name to v; "" removes it.
func (it *Item) Set(name, v string) {
	if it.Fields == nil {
		it.Fields = map[string]string{}
	}
	if v == "" {
		delete(it.Fields, name)
		return
	}
	it.Fields[name] = v
}

// Owner is the GUID of the user who owns the item.
func (it *Item) Owner() string { return it.Fields[FieldOwnerGUID] }

// Private reports whether only the owner may see the item.
func (it *Item) Private() bool { return it.Fields[FieldIsPrivate] == "true" }

// Clone returns a deep copy of it.
func (it *Item) Clone() *Item {
	c := *it
	c.Fields = make(map[string]string, len(it.Fields))
	for k, v := range it.Fields {
		c.Fields[k] = v
	}
	return &c
}

// TimeFormat is how DateTime fields are written, as eWay-CRM's API does.
const TimeFormat = "2006-01-02 15:04:05"

// FormatTime renders t as a DateTime field value (UTC).
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// ParseTime parses a DateTime field value; it also accepts RFC 3339.
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(TimeFormat, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsGUID reports whether s is a GUID in the 8-4-4-4-12 hex form.
func IsGUID(s string) bool { return guidPattern.MatchString(s) }

// NormalizeGUID returns s in lower case, the form crmsync stores.
func NormalizeGUID(s string) string { return strings.ToLower(s) }

// Patch is a change to one item as a client sends it (eWay's transmit
// object): only the fields present are touched.
type Patch struct {
	GUID    string            // "" creates an item with a new GUID
	Version int               // 0 = not sent: no conflict check, nulls erase
	Set     map[string]string // fields sent with a value ("" erases)
	Null    []string          // fields sent as JSON null
}

// SaveOptions are the flags of a Save call.
type SaveOptions struct {
	// DieOnItemConflict returns ECONFLICT / EEXISTS instead of merging when
	// the sent Version is not current+1.
	DieOnItemConflict bool
}

// SaveResult is the outcome of one Patch in a Save call.
type SaveResult struct {
	GUID    string
	Version int
	Err     error // nil on success; an *Error otherwise
}

// Identifier is the cheap listing of an item (GetXIdentifiers).
type Identifier struct {
	GUID    string
	Version int
}

// ListQuery asks for one page of a folder's items.
type ListQuery struct {
	Search  string // case-insensitive substring of name, e-mails, company or phones ("" = all)
	After   string // the Next of the previous page ("" = the first page)
	Limit   int    // items per page; 1..500, 50 when 0
	Trashed bool   // list the trash instead
}

// ItemPage is one page of a listing; Next is "" on the last page.
type ItemPage struct {
	Items []*Item
	Next  string
}

// Access is what the caller may do with one item.
type Access struct {
	Edit   bool
	Delete bool
}

// SearchText is what a listing's search matches for an item: its names,
// e-mails, company and phones (also as bare digits, so that "777123"
// finds "+420 777 123 456"), lower case, one per line.
func SearchText(it *Item) string {
	var b strings.Builder
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			b.WriteString(strings.ToLower(s))
			b.WriteByte('\n')
		}
	}
	for _, f := range []string{FieldFileAs, FieldFirstName, FieldMiddleName, FieldLastName, FieldCompany, FieldCompanyName,
		FieldEmail1, FieldEmail2, FieldEmail3, "Email"} {
		add(it.Get(f))
	}
	for _, f := range []string{FieldPhoneBusiness, FieldPhoneHome, FieldPhoneMobile, FieldPhoneOther, FieldPhoneBusiness2, FieldPhoneFax, "Phone", "Mobile"} {
		v := it.Get(f)
		add(v)
		add(strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, v))
	}
	return b.String()
}

// SortKey orders a listing: the item's display name, lower case.
func SortKey(it *Item) string {
	name := it.Get(FieldFileAs)
	if name == "" {
		name = strings.TrimSpace(it.Get(FieldFirstName) + " " + it.Get(FieldLastName))
	}
	if name == "" {
		name = it.Get(FieldCompanyName)
	}
	return strings.ToLower(strings.TrimSpace(name))
}
