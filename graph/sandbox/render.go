package sandbox

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crmsync/crmsync/outlook"
)

var timeNow = time.Now

// emptyValue is how Graph renders an unset property: [] for collections,
// {} for structured addresses, "" for fileAs and personalNotes, null for
// the rest (testdata/graph/contact-get.response.json).
func emptyValue(name string) []byte {
	switch name {
	case "categories", "children", "emailAddresses", "imAddresses", "businessPhones", "homePhones":
		return []byte("[]")
	case "businessAddress", "homeAddress", "otherAddress":
		return []byte("{}")
	case "fileAs", "personalNotes": // as in Graph's GET example
		return []byte(`""`)
	}
	return []byte("null")
}

// render turns a contact into its Graph JSON: every property (unset ones
// as Graph shows them) or only the $select-ed ones plus id and
// @odata.etag, and the expanded extended properties that exist. The
// object is written directly, property by property, because the sandbox
// renders every contact it serves and a generic map round trip costs
// several times more. context, when set, is the @odata.context to
// include; typed adds the "@odata.type" annotation delta entries carry.
func (s *Server) render(req *request, e outlook.Entry, sel map[string]bool, ext []string, context string, typed bool) json.RawMessage {
	b := make([]byte, 0, 1024)
	b = append(b, '{')
	add := func(name string, value []byte) {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendString(b, name)
		b = append(b, ':')
		b = append(b, value...)
	}
	if context != "" {
		add("@odata.context", appendString(nil, context))
	}
	if typed {
		add("@odata.type", []byte(`"#microsoft.graph.contact"`))
	}
	v := reflect.ValueOf(e.Contact).Elem()
	for i, name := range outlook.Properties {
		if name == "singleValueExtendedProperties" {
			continue
		}
		if sel != nil && !sel[name] && name != "id" && name != "@odata.etag" {
			continue
		}
		f := v.Field(i)
		switch {
		case f.IsZero():
			add(name, emptyValue(name))
		case f.Kind() == reflect.String:
			add(name, appendString(nil, f.String()))
		default:
			j, err := json.Marshal(f.Interface())
			if err != nil {
				j = emptyValue(name)
			}
			add(name, j)
		}
	}
	if ext != nil {
		list := []outlook.ExtendedProperty{}
		for _, id := range ext {
			if id == PropHasPicture {
				// Exchange keeps PidLidHasPicture in step with the photo.
				list = append(list, outlook.ExtendedProperty{ID: id, Value: fmt.Sprint(e.PhotoHash != "")})
				continue
			}
			for _, p := range e.Contact.SingleValueExtendedProperties {
				if p.ID == id {
					list = append(list, p)
				}
			}
		}
		add("singleValueExtendedProperties@odata.context", appendString(nil,
			req.base+"/$metadata#users('me')/contacts('"+url.PathEscape(e.Contact.ID)+"')/singleValueExtendedProperties"))
		j, _ := json.Marshal(list)
		add("singleValueExtendedProperties", j)
	}
	return append(b, '}')
}

// PropHasPicture is PidLidHasPicture (PSETID_Address, LID 0x8015): Outlook
// sets it when a contact has a photo; the sandbox derives it.
const PropHasPicture = "Boolean {00062004-0000-0000-C000-000000000046} Id 0x8015"

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// parseSelect validates a $select list against the contact's properties.
func parseSelect(v string) (map[string]bool, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	sel := map[string]bool{}
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !outlook.IsProperty(p) || p == "singleValueExtendedProperties" || strings.HasPrefix(p, "@") {
			return nil, fmt.Errorf("Could not find a property named '%s' on type 'microsoft.graph.contact'.", p)
		}
		sel[p] = true
	}
	return sel, nil
}

var (
	expandExt = regexp.MustCompile(`^singleValueExtendedProperties\(\$filter=(.*)\)$`)
	filterID  = regexp.MustCompile(`^id eq '((?:[^']|'')*)'$`)
)

// parseExpand accepts the one $expand the sandbox supports:
// singleValueExtendedProperties($filter=id eq '…' or id eq '…'). Graph
// cannot list every extended property of an item, so the filter is
// required.
func parseExpand(v string) ([]string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	m := expandExt.FindStringSubmatch(v)
	if m == nil {
		return nil, fmt.Errorf("Parsing OData Select and Expand failed: only singleValueExtendedProperties($filter=id eq '...') can be expanded, got '%s'.", v)
	}
	ids := []string{}
	for _, term := range strings.Split(m[1], " or ") {
		t := filterID.FindStringSubmatch(strings.TrimSpace(term))
		if t == nil {
			return nil, fmt.Errorf("Invalid filter clause in $expand: '%s'.", term)
		}
		ids = append(ids, strings.ReplaceAll(t[1], "''", "'"))
	}
	return ids, nil
}
