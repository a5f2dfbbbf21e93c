package outlook

import (
	"strings"

	crm "github.com/crmsync/crmsync"
)

// MaxTextLen is the longest text, in characters, the sync writes to Outlook
// in any field but the note (SPEC S3).
const MaxTextLen = 256

// Normalize returns the value Outlook keeps for a CRM field: every text
// field other than the note is cut to MaxTextLen characters on a rune
// boundary (SPEC S3). It is idempotent.
func Normalize(field, value string) string {
	if field == crm.FieldNote || field == crm.FieldPicture {
		return value
	}
	if len(value) <= MaxTextLen { // bytes ≥ runes: short enough either way
		return value
	}
	n := 0
	for i := range value {
		if n == MaxTextLen {
			return value[:i]
		}
		n++
	}
	return value
}

// scalar maps a CRM field to the Contact string it lives in.
var scalars = []struct {
	field string
	get   func(c *Contact) *string
}{
	{crm.FieldPrefix, func(c *Contact) *string { return &c.Title }},
	{crm.FieldFirstName, func(c *Contact) *string { return &c.GivenName }},
	{crm.FieldMiddleName, func(c *Contact) *string { return &c.MiddleName }},
	{crm.FieldLastName, func(c *Contact) *string { return &c.Surname }},
	{crm.FieldSuffix, func(c *Contact) *string { return &c.Generation }},
	{crm.FieldCompany, func(c *Contact) *string { return &c.CompanyName }},
	{crm.FieldJobTitle, func(c *Contact) *string { return &c.JobTitle }},
	{crm.FieldDepartment, func(c *Contact) *string { return &c.Department }},
	{crm.FieldWebPage, func(c *Contact) *string { return &c.BusinessHomePage }},
	{crm.FieldPhoneMobile, func(c *Contact) *string { return &c.MobilePhone }},
	{crm.FieldNote, func(c *Contact) *string { return &c.PersonalNotes }},
}

var emailFields = []string{crm.FieldEmail1, crm.FieldEmail2, crm.FieldEmail3}

var addresses = []struct {
	prefix string
	get    func(c *Contact) **PhysicalAddress
}{
	{crm.AddressBusiness, func(c *Contact) **PhysicalAddress { return &c.BusinessAddress }},
	{crm.AddressHome, func(c *Contact) **PhysicalAddress { return &c.HomeAddress }},
	{crm.AddressOther, func(c *Contact) **PhysicalAddress { return &c.OtherAddress }},
}

// addressParts maps the CRM address parts to physicalAddress members.
var addressParts = []struct {
	part string
	get  func(a *PhysicalAddress) *string
}{
	{"Street", func(a *PhysicalAddress) *string { return &a.Street }},
	{"City", func(a *PhysicalAddress) *string { return &a.City }},
	{"State", func(a *PhysicalAddress) *string { return &a.State }},
	{"PostalCode", func(a *PhysicalAddress) *string { return &a.PostalCode }},
	{"CountryEn", func(a *PhysicalAddress) *string { return &a.CountryOrRegion }},
}

// addressKeys[i][j] is the CRM field of address i, part j, built once:
// the mapping runs for every contact of every listing.
var addressKeys = func() [][]string {
	keys := make([][]string, len(addresses))
	for i, a := range addresses {
		for _, p := range addressParts {
			keys[i] = append(keys[i], a.prefix+p.part)
		}
	}
	return keys
}()

// extended maps CRM phone fields kept in extended properties.
var extended = []struct{ field, prop string }{
	{crm.FieldPhoneFax, PropBusinessFax},
	{crm.FieldPhoneOther, PropOtherPhone},
}

// ToRecordFields returns the M9 fields of c (SPEC §2) by CRM field name.
// Empty values are left out. ProfilePicture is not set here: the photo is
// not part of the contact resource (the replica adds its hash).
func ToRecordFields(c *Contact) map[string]string {
	f := make(map[string]string, 16)
	set := func(k, v string) {
		if v != "" {
			f[k] = v
		}
	}
	for _, s := range scalars {
		set(s.field, *s.get(c))
	}
	for i, k := range emailFields {
		if i < len(c.EmailAddresses) {
			set(k, c.EmailAddresses[i].Address)
		}
	}
	for i, a := range addresses {
		addr := *a.get(c)
		if addr == nil {
			continue
		}
		for j, p := range addressParts {
			set(addressKeys[i][j], *p.get(addr))
		}
	}
	if len(c.BusinessPhones) > 0 {
		set(crm.FieldPhoneBusiness, c.BusinessPhones[0])
	}
	if len(c.BusinessPhones) > 1 {
		set(crm.FieldPhoneBusiness2, c.BusinessPhones[1])
	}
	if len(c.HomePhones) > 0 {
		set(crm.FieldPhoneHome, c.HomePhones[0])
	}
	for _, e := range extended {
		set(e.field, c.Extended(e.prop))
	}
	return f
}

// ApplyFields writes the M9 fields present in fields into c; "" clears a
// field, a key that is absent leaves it alone. Everything Outlook holds
// beyond the mapping (homePhones[1], e-mail display names, nickName, ...)
// survives. Slots keep their position: Email2 set with Email1 empty leaves
// an empty first entry, as Outlook's fixed Email/Email 2/Email 3 slots do.
// Keys that are not M9 fields (ProfilePicture included) are ignored.
func ApplyFields(c *Contact, fields map[string]string) {
	for _, s := range scalars {
		if v, ok := fields[s.field]; ok {
			*s.get(c) = v
		}
	}
	for i, k := range emailFields {
		v, ok := fields[k]
		if !ok {
			continue
		}
		for len(c.EmailAddresses) <= i {
			c.EmailAddresses = append(c.EmailAddresses, EmailAddress{})
		}
		e := &c.EmailAddresses[i]
		if strings.EqualFold(e.Address, v) && v != "" {
			e.Address = v
			continue
		}
		// The display name belongs to the old address unless it is a
		// person's name; an address used as its own name follows it.
		if e.Name == "" || strings.EqualFold(e.Name, e.Address) || v == "" {
			e.Name = v
		}
		e.Address = v
	}
	c.EmailAddresses = trimEmails(c.EmailAddresses)

	for i, a := range addresses {
		p := a.get(c)
		touched := false
		for _, k := range addressKeys[i] {
			if _, ok := fields[k]; ok {
				touched = true
			}
		}
		if !touched {
			continue
		}
		addr := PhysicalAddress{}
		if *p != nil {
			addr = **p
		}
		for j, part := range addressParts {
			if v, ok := fields[addressKeys[i][j]]; ok {
				*part.get(&addr) = v
			}
		}
		if addr.IsZero() {
			*p = nil
		} else {
			*p = &addr
		}
	}

	c.BusinessPhones = setSlot(c.BusinessPhones, 0, fields, crm.FieldPhoneBusiness)
	c.BusinessPhones = setSlot(c.BusinessPhones, 1, fields, crm.FieldPhoneBusiness2)
	c.HomePhones = setSlot(c.HomePhones, 0, fields, crm.FieldPhoneHome)

	for _, e := range extended {
		if v, ok := fields[e.field]; ok {
			if v == "" && c.Extended(e.prop) == "" {
				continue // nothing to clear; do not add an empty property
			}
			c.SetExtended(e.prop, v)
		}
	}
}

// setSlot sets list[i] from fields[key] when present, padding with empty
// entries and dropping trailing empty ones.
func setSlot(list []string, i int, fields map[string]string, key string) []string {
	v, ok := fields[key]
	if !ok {
		return list
	}
	for len(list) <= i {
		list = append(list, "")
	}
	list[i] = v
	for len(list) > 0 && list[len(list)-1] == "" {
		list = list[:len(list)-1]
	}
	if len(list) == 0 {
		return nil
	}
	return list
}

func trimEmails(list []EmailAddress) []EmailAddress {
	for len(list) > 0 && list[len(list)-1].Address == "" && list[len(list)-1].Name == "" {
		list = list[:len(list)-1]
	}
	if len(list) == 0 {
		return nil
	}
	return list
}

// CRMGUID returns the CRM ItemGUID tag c carries (SPEC S6), "" for none.
func CRMGUID(c *Contact) string { return c.Extended(PropCRMGUID) }
