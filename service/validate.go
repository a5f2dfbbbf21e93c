package service

import (
	"encoding/base64"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/crmsync/crmsync"
)

// Limits on field values, so that a client cannot store unbounded data.
const (
	maxTextLen   = 1 << 20 // 1 MiB of text per field
	maxBinaryLen = 8 << 20 // 8 MiB of base64 per picture
)

// normalize checks value against the field's kind and returns the form that
// is stored: GUIDs in lower case, booleans as "true"/"false", times in
// crmsync.TimeFormat UTC. "" is always valid (it erases).
func (ss *session) normalize(folder crmsync.Folder, def crmsync.FieldDef, value string) (string, error) {
	if value == "" {
		return "", nil
	}
	if !utf8.ValidString(value) {
		return "", crmsync.Errorf(crmsync.EINVALID, "field %s is not valid UTF-8", def.Name)
	}
	switch def.Kind {
	case crmsync.GUID:
		if !crmsync.IsGUID(value) {
			return "", crmsync.Errorf(crmsync.EINVALID, "field %s: %q is not a GUID", def.Name, value)
		}
		return crmsync.NormalizeGUID(value), nil
	case crmsync.Enum:
		if !crmsync.IsGUID(value) {
			return "", crmsync.Errorf(crmsync.EINVALID, "field %s: %q is not a GUID of a %s value", def.Name, value, def.EnumType)
		}
		g := crmsync.NormalizeGUID(value)
		v, err := ss.enum(g)
		if err != nil {
			return "", err
		}
		if v == nil || v.EnumType != def.EnumType {
			return "", crmsync.Errorf(crmsync.EINVALID, "field %s: %s is not a value of enum %s", def.Name, g, def.EnumType)
		}
		return g, nil
	case crmsync.Bool:
		switch strings.ToLower(strings.TrimSpace(value)) {
		case "true", "1":
			return "true", nil
		case "false", "0":
			return "false", nil
		}
		return "", crmsync.Errorf(crmsync.EINVALID, "field %s: %q is not a boolean", def.Name, value)
	case crmsync.Number:
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return "", crmsync.Errorf(crmsync.EINVALID, "field %s: %q is not a whole number", def.Name, value)
		}
		return strconv.FormatInt(n, 10), nil
	case crmsync.DateTime:
		t, err := crmsync.ParseTime(strings.TrimSpace(value))
		if err != nil {
			return "", crmsync.Errorf(crmsync.EINVALID, "field %s: %q is not a date and time (%s)", def.Name, value, crmsync.TimeFormat)
		}
		return crmsync.FormatTime(t), nil
	case crmsync.Binary:
		if len(value) > maxBinaryLen {
			return "", crmsync.Errorf(crmsync.EINVALID, "field %s is larger than %d bytes", def.Name, maxBinaryLen)
		}
		if _, err := base64.StdEncoding.DecodeString(value); err != nil {
			return "", crmsync.Errorf(crmsync.EINVALID, "field %s is not valid base64", def.Name)
		}
		return value, nil
	}
	if len(value) > maxTextLen {
		return "", crmsync.Errorf(crmsync.EINVALID, "field %s is longer than %d bytes", def.Name, maxTextLen)
	}
	return value, nil
}

// enum returns an enum value by GUID, cached per call.
func (ss *session) enum(guid string) (*crmsync.EnumValue, error) {
	if v, ok := ss.enums[guid]; ok {
		return v, nil
	}
	v, err := ss.tx.EnumValue(guid)
	if err != nil {
		return nil, err
	}
	ss.enums[guid] = v
	return v, nil
}

// patchFields validates a patch and returns the writable fields it sets and
// nulls. Unknown fields are ignored, as eWay-CRM does, and so are read-only
// ones, which only the server sets.
func (ss *session) patchFields(folder crmsync.Folder, p crmsync.Patch) (set map[string]string, nulls []string, err error) {
	set = make(map[string]string, len(p.Set))
	for name, v := range p.Set {
		def, ok := crmsync.LookupField(folder, name)
		if !ok || def.ReadOnly {
			continue
		}
		nv, err := ss.normalize(folder, def, v)
		if err != nil {
			return nil, nil, err
		}
		set[name] = nv
	}
	for _, name := range p.Null {
		def, ok := crmsync.LookupField(folder, name)
		if !ok || def.ReadOnly {
			continue
		}
		if _, both := set[name]; both {
			continue
		}
		nulls = append(nulls, name)
	}
	return set, nulls, nil
}

// defaultFileAs is the FileAs an item gets when none is given: for contacts
// "LastName FirstName MiddleName" (the Czech order eWay-CRM lists people in),
// falling back to the company and then the e-mail; for companies the
// company name. A journal's FileAs is its subject and has no default.
func defaultFileAs(it *crmsync.Item) string {
	switch it.Folder {
	case crmsync.Contacts:
		var parts []string
		for _, f := range []string{crmsync.FieldLastName, crmsync.FieldFirstName, crmsync.FieldMiddleName} {
			if v := strings.TrimSpace(it.Get(f)); v != "" {
				parts = append(parts, v)
			}
		}
		if len(parts) > 0 {
			return strings.Join(parts, " ")
		}
		if v := strings.TrimSpace(it.Get(crmsync.FieldCompany)); v != "" {
			return v
		}
		return strings.TrimSpace(it.Get(crmsync.FieldEmail1))
	case crmsync.Companies:
		return strings.TrimSpace(it.Get(crmsync.FieldCompanyName))
	}
	return ""
}
