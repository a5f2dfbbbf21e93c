package outlook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// Extended property ids (graph-and-peers.md §1.3). The short proptag form is
// used everywhere, because Graph matches ids as strings and only the form an
// item was written with finds it again.
const (
	// PropBusinessFax is PidTagBusinessFaxNumber, mapped to TelephoneNumber6.
	PropBusinessFax = "String 0x3A24"
	// PropOtherPhone is PidTagOtherTelephoneNumber, mapped to TelephoneNumber4.
	PropOtherPhone = "String 0x3A1F"
	// PropCRMGUID is our named property carrying the CRM ItemGUID of the
	// contact the sync created (SPEC S6), so a lost create can be found
	// again. The GUID is fixed forever: a new one would orphan every tag.
	PropCRMGUID = "String {6E0A5B1C-3F7D-4C2A-9B8E-2D4F1A7C9E35} Name CrmItemGuid"
)

// ExtendedProperties lists the extended properties the sync reads, in the
// order a $expand filter names them.
var ExtendedProperties = []string{PropBusinessFax, PropOtherPhone, PropCRMGUID}

// EmailAddress is Graph's emailAddress complex type.
type EmailAddress struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address,omitempty"`
}

// PhysicalAddress is Graph's physicalAddress complex type. Graph replaces a
// structured property whole on PATCH, so it is always sent complete.
type PhysicalAddress struct {
	Street          string `json:"street,omitempty"`
	City            string `json:"city,omitempty"`
	State           string `json:"state,omitempty"`
	PostalCode      string `json:"postalCode,omitempty"`
	CountryOrRegion string `json:"countryOrRegion,omitempty"`
}

// IsZero reports whether every part of a is empty.
func (a *PhysicalAddress) IsZero() bool { return a == nil || *a == PhysicalAddress{} }

// ExtendedProperty is Graph's singleValueLegacyExtendedProperty.
type ExtendedProperty struct {
	ID    string `json:"id"`
	Value string `json:"value"`
}

// Contact is Graph v1.0's contact resource with the JSON names Graph uses,
// so the sandbox, the Graph client and the in-memory model share one shape.
// Every documented property is present, mapped or not, so values the sync
// does not map survive a read-modify-write. Empty values are omitted when
// marshalled; the sandbox renders them as Graph does (null, [], {}).
type Contact struct {
	ODataEtag            string   `json:"@odata.etag,omitempty"`
	ID                   string   `json:"id,omitempty"`
	ChangeKey            string   `json:"changeKey,omitempty"`
	ParentFolderID       string   `json:"parentFolderId,omitempty"`
	CreatedDateTime      string   `json:"createdDateTime,omitempty"`
	LastModifiedDateTime string   `json:"lastModifiedDateTime,omitempty"`
	Categories           []string `json:"categories,omitempty"`

	DisplayName      string           `json:"displayName,omitempty"`
	FileAs           string           `json:"fileAs,omitempty"`
	Title            string           `json:"title,omitempty"`
	GivenName        string           `json:"givenName,omitempty"`
	MiddleName       string           `json:"middleName,omitempty"`
	Surname          string           `json:"surname,omitempty"`
	Generation       string           `json:"generation,omitempty"`
	Initials         string           `json:"initials,omitempty"`
	NickName         string           `json:"nickName,omitempty"`
	YomiGivenName    string           `json:"yomiGivenName,omitempty"`
	YomiSurname      string           `json:"yomiSurname,omitempty"`
	YomiCompanyName  string           `json:"yomiCompanyName,omitempty"`
	CompanyName      string           `json:"companyName,omitempty"`
	JobTitle         string           `json:"jobTitle,omitempty"`
	Department       string           `json:"department,omitempty"`
	OfficeLocation   string           `json:"officeLocation,omitempty"`
	Profession       string           `json:"profession,omitempty"`
	Manager          string           `json:"manager,omitempty"`
	AssistantName    string           `json:"assistantName,omitempty"`
	SpouseName       string           `json:"spouseName,omitempty"`
	Children         []string         `json:"children,omitempty"`
	Birthday         string           `json:"birthday,omitempty"`
	BusinessHomePage string           `json:"businessHomePage,omitempty"`
	EmailAddresses   []EmailAddress   `json:"emailAddresses,omitempty"`
	IMAddresses      []string         `json:"imAddresses,omitempty"`
	BusinessAddress  *PhysicalAddress `json:"businessAddress,omitempty"`
	HomeAddress      *PhysicalAddress `json:"homeAddress,omitempty"`
	OtherAddress     *PhysicalAddress `json:"otherAddress,omitempty"`
	BusinessPhones   []string         `json:"businessPhones,omitempty"`
	HomePhones       []string         `json:"homePhones,omitempty"`
	MobilePhone      string           `json:"mobilePhone,omitempty"`
	PersonalNotes    string           `json:"personalNotes,omitempty"`

	SingleValueExtendedProperties []ExtendedProperty `json:"singleValueExtendedProperties,omitempty"`
}

// Clone returns a deep copy of c, so a caller can change it without
// touching the mailbox's copy.
func (c *Contact) Clone() *Contact {
	if c == nil {
		return nil
	}
	d := *c
	d.Categories = cloneStrings(c.Categories)
	d.Children = cloneStrings(c.Children)
	d.IMAddresses = cloneStrings(c.IMAddresses)
	d.BusinessPhones = cloneStrings(c.BusinessPhones)
	d.HomePhones = cloneStrings(c.HomePhones)
	if c.EmailAddresses != nil {
		d.EmailAddresses = append([]EmailAddress(nil), c.EmailAddresses...)
	}
	if c.SingleValueExtendedProperties != nil {
		d.SingleValueExtendedProperties = append([]ExtendedProperty(nil), c.SingleValueExtendedProperties...)
	}
	for _, p := range []**PhysicalAddress{&d.BusinessAddress, &d.HomeAddress, &d.OtherAddress} {
		if *p != nil {
			a := **p
			*p = &a
		}
	}
	return &d
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

// Extended returns the value of the extended property id, "" when absent.
func (c *Contact) Extended(id string) string {
	for _, p := range c.SingleValueExtendedProperties {
		if p.ID == id {
			return p.Value
		}
	}
	return ""
}

// SetExtended sets the extended property id, as a PATCH naming it does.
func (c *Contact) SetExtended(id, value string) {
	for i, p := range c.SingleValueExtendedProperties {
		if p.ID == id {
			c.SingleValueExtendedProperties[i].Value = value
			return
		}
	}
	c.SingleValueExtendedProperties = append(c.SingleValueExtendedProperties, ExtendedProperty{ID: id, Value: value})
}

// ReadOnlyProperties are set by the mailbox only; a PATCH naming them is
// ignored for them.
var ReadOnlyProperties = map[string]bool{
	"id": true, "changeKey": true, "parentFolderId": true, "createdDateTime": true,
	"lastModifiedDateTime": true, "@odata.etag": true,
}

// propField maps each JSON property name of Contact to its struct field.
var propField = func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeOf(Contact{})
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		m[name] = i
	}
	return m
}()

// Properties lists every JSON property name of Contact, in struct order.
var Properties = func() []string {
	var names []string
	t := reflect.TypeOf(Contact{})
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}()

// IsProperty reports whether name is a property of the contact resource.
func IsProperty(name string) bool { _, ok := propField[name]; return ok }

// PatchError is a PATCH or POST body Graph would refuse.
type PatchError struct{ Message string }

func (e *PatchError) Error() string { return e.Message }

// Patch applies a Graph PATCH body to c the way Graph does: properties left
// out keep their value, null clears one, a structured address is replaced
// whole, singleValueExtendedProperties are merged by id. Read-only
// properties are ignored. An unknown property or a value of the wrong type
// is a *PatchError and leaves c unchanged.
func Patch(c *Contact, body []byte) error {
	var props map[string]json.RawMessage
	if err := json.Unmarshal(body, &props); err != nil {
		return &PatchError{Message: "Invalid JSON in request body: " + err.Error()}
	}
	if props == nil {
		return &PatchError{Message: "Request body must be a JSON object."}
	}
	next := c.Clone()
	for name, raw := range props {
		if strings.HasPrefix(name, "@odata.") && name != "@odata.etag" {
			continue // annotations such as @odata.type
		}
		i, ok := propField[name]
		if !ok {
			return &PatchError{Message: fmt.Sprintf("Could not find a property named '%s' on type 'Microsoft.OutlookServices.Contact'.", name)}
		}
		if ReadOnlyProperties[name] {
			continue
		}
		if name == "singleValueExtendedProperties" {
			var eps []ExtendedProperty
			if err := json.Unmarshal(raw, &eps); err != nil {
				return &PatchError{Message: "Invalid value for property 'singleValueExtendedProperties': " + err.Error()}
			}
			for _, p := range eps {
				if p.ID == "" {
					return &PatchError{Message: "An extended property must have an id."}
				}
				next.SetExtended(p.ID, p.Value)
			}
			continue
		}
		f := reflect.ValueOf(next).Elem().Field(i)
		f.Set(reflect.Zero(f.Type()))
		if string(raw) == "null" {
			continue
		}
		if err := json.Unmarshal(raw, f.Addr().Interface()); err != nil {
			return &PatchError{Message: fmt.Sprintf("Invalid value for property '%s': %v", name, err)}
		}
	}
	*c = *next
	return nil
}

// DecodeNew decodes a POST body into a new contact with the rules of
// Patch (unknown properties refused, read-only ones ignored, extended
// properties merged by id). It decodes the body once when it is plain, as
// nearly every create is, and falls back to Patch otherwise. Unlike Patch,
// the one-pass decoder matches property names case-insensitively.
func DecodeNew(body []byte) (*Contact, error) {
	c := &Contact{}
	in := struct {
		*Contact
		ODataType string `json:"@odata.type"`
	}{Contact: c}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, &PatchError{Message: "Request body must be a JSON object."}
	}
	if err := dec.Decode(&in); err == nil && len(bytes.TrimSpace(body[dec.InputOffset():])) == 0 && plainExtended(c.SingleValueExtendedProperties) {
		c.ODataEtag, c.ID, c.ChangeKey, c.ParentFolderID, c.CreatedDateTime, c.LastModifiedDateTime = "", "", "", "", "", ""
		return c, nil
	}
	c = &Contact{}
	if err := Patch(c, body); err != nil {
		return nil, err
	}
	return c, nil
}

// plainExtended reports whether eps has distinct, non-empty ids.
func plainExtended(eps []ExtendedProperty) bool {
	for i, p := range eps {
		if p.ID == "" {
			return false
		}
		for _, q := range eps[:i] {
			if q.ID == p.ID {
				return false
			}
		}
	}
	return true
}
