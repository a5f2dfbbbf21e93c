package sandbox

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/crmsync/crmsync/outlook"
)

var timeNow = time.Now

// emptyValue is how Graph renders an unset property: [] for collections,
// {} for structured addresses, null for the rest.
func emptyValue(name string) any {
	switch name {
	case "categories", "children", "emailAddresses", "imAddresses", "businessPhones", "homePhones":
		return []any{}
	case "businessAddress", "homeAddress", "otherAddress":
		return map[string]any{}
	}
	return nil
}

// render turns a contact into its Graph JSON: every property (unset ones
// as Graph shows them) or only the $select-ed ones plus id and
// @odata.etag, and the expanded extended properties that exist.
func (s *Server) render(req *request, e outlook.Entry, sel map[string]bool, ext []string, entity bool) map[string]any {
	b, _ := json.Marshal(e.Contact)
	var props map[string]json.RawMessage
	_ = json.Unmarshal(b, &props)
	out := make(map[string]any, len(outlook.Properties)+2)
	for _, name := range outlook.Properties {
		if name == "singleValueExtendedProperties" {
			continue
		}
		if sel != nil && !sel[name] && name != "id" && name != "@odata.etag" {
			continue
		}
		if v, ok := props[name]; ok {
			out[name] = v
		} else {
			out[name] = emptyValue(name)
		}
	}
	if entity {
		out["@odata.context"] = req.base + "/$metadata#users('me')/contacts/$entity"
	}
	if ext != nil {
		list := []outlook.ExtendedProperty{}
		for _, id := range ext {
			for _, p := range e.Contact.SingleValueExtendedProperties {
				if p.ID == id {
					list = append(list, p)
				}
			}
		}
		out["singleValueExtendedProperties@odata.context"] = req.base + "/$metadata#users('me')/contacts('" + url.PathEscape(e.Contact.ID) + "')/singleValueExtendedProperties"
		out["singleValueExtendedProperties"] = list
	}
	return out
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
