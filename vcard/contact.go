package vcard

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"

	crm "github.com/crmsync/crmsync"
)

// Telephone kinds, as the CRM's six phone slots see a TEL's TYPE set.
const (
	telWork  = "work"
	telHome  = "home"
	telCell  = "cell"
	telFax   = "fax"
	telOther = "other"
)

// telFields maps each CRM phone field to its kind and index within it.
var telFields = []struct {
	field string
	kind  string
	index int
	types []string // TYPE of a new property
}{
	{crm.FieldPhoneBusiness, telWork, 0, []string{"work", "voice"}},
	{crm.FieldPhoneBusiness2, telWork, 1, []string{"work", "voice"}},
	{crm.FieldPhoneHome, telHome, 0, []string{"home", "voice"}},
	{crm.FieldPhoneMobile, telCell, 0, []string{"cell", "voice"}},
	{crm.FieldPhoneFax, telFax, 0, []string{"work", "fax"}},
	{crm.FieldPhoneOther, telOther, 0, []string{"other", "voice"}},
}

var addrKinds = []struct {
	prefix string
	typ    string
}{
	{crm.AddressBusiness, "work"},
	{crm.AddressHome, "home"},
	{crm.AddressOther, "other"},
}

var emailFields = []string{crm.FieldEmail1, crm.FieldEmail2, crm.FieldEmail3}

// slots says which property of a card holds each mapped CRM field. It is
// computed the same way when reading (Fields) and when rewriting (Update),
// so that an edit lands on the property it was read from.
type slots struct {
	n, fn, org, title, url, note, photo, uid *Property
	email                                    [3]*Property
	adr                                      map[string]*Property // by address prefix
	tel                                      map[string]*Property // by CRM phone field
	photoData                                []byte
}

// prefRank orders properties by preference: PREF=n (4.0), TYPE=pref (3.0)
// = 1, none last.
func prefRank(p *Property) int {
	if v := p.param("PREF"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return n
		}
	}
	if p.HasType("pref") {
		return 1
	}
	return 1000
}

func ranked(ps []*Property) []*Property {
	out := append([]*Property(nil), ps...)
	sort.SliceStable(out, func(i, j int) bool { return prefRank(out[i]) < prefRank(out[j]) })
	return out
}

func telKind(p *Property) string {
	has := p.HasType
	switch {
	case has("pager") || has("textphone") || has("video") || has("car") || has("isdn") || has("bbs") || has("modem"):
		return ""
	case has("fax"):
		if has("home") {
			return "" // the CRM has a business fax only
		}
		return telFax
	case has("cell") || has("mobile") || has("iphone"):
		return telCell
	case has("work"):
		return telWork
	case has("home"):
		return telHome
	}
	return telOther
}

// filled returns the properties named name that hold a value: an empty
// EMAIL or an ADR of bare semicolons takes no CRM slot (else a later value
// would read back in a different slot than it was written to).
func (c *Card) filled(name string) []*Property {
	var out []*Property
	for _, p := range c.Props {
		if p.Name == name && hasText(p.Value) {
			out = append(out, p)
		}
	}
	return out
}

// hasText reports whether an escaped value holds more than separators,
// white space and control characters.
func hasText(v string) bool {
	for _, r := range unescapeText(v) {
		if r > ' ' && r != ';' {
			return true
		}
	}
	return false
}

func (c *Card) firstFilled(name string) *Property {
	if ps := c.filled(name); len(ps) > 0 {
		return ps[0]
	}
	return nil
}

func (c *Card) slots() *slots {
	s := &slots{adr: map[string]*Property{}, tel: map[string]*Property{}}
	s.n, s.fn, s.uid = c.first("N"), c.first("FN"), c.first("UID")
	s.org, s.title, s.note = c.firstFilled("ORG"), c.firstFilled("TITLE"), c.firstFilled("NOTE")
	urls := ranked(c.filled("URL"))
	for _, u := range urls {
		if u.HasType("work") {
			s.url = u
			break
		}
	}
	if s.url == nil && len(urls) > 0 {
		s.url = urls[0]
	}
	for i, e := range ranked(c.filled("EMAIL")) {
		if i < 3 {
			s.email[i] = e
		}
	}
	byKind := map[string][]*Property{}
	for _, t := range ranked(c.filled("TEL")) {
		k := telKind(t)
		byKind[k] = append(byKind[k], t)
	}
	for _, tf := range telFields {
		if ps := byKind[tf.kind]; tf.index < len(ps) {
			s.tel[tf.field] = ps[tf.index]
		}
	}
	for _, a := range ranked(c.filled("ADR")) {
		k := crm.AddressOther
		switch {
		case a.HasType("work"):
			k = crm.AddressBusiness
		case a.HasType("home"):
			k = crm.AddressHome
		}
		if s.adr[k] == nil {
			s.adr[k] = a
		}
	}
	for _, p := range ranked(c.Get("PHOTO")) {
		if data, ok := inlinePhoto(p); ok {
			s.photo, s.photoData = p, data
			break
		}
		if _, ok := photoURI(p); ok {
			s.photo = p
			break
		}
	}
	return s
}

// inlinePhoto decodes an embedded picture: ENCODING=b (3.0, and 2.1's
// BASE64 after Decode) or a data: URI (4.0).
func inlinePhoto(p *Property) ([]byte, bool) {
	if strings.EqualFold(p.param("ENCODING"), "b") {
		b, err := decodeBase64(p.Value)
		return b, err == nil && len(b) > 0
	}
	if _, b, ok := parseDataURI(p.Value); ok && len(b) > 0 {
		return b, true
	}
	return nil, false
}

// photoURI returns the URI of a picture given by reference; it is kept,
// never fetched.
func photoURI(p *Property) (string, bool) {
	if strings.EqualFold(p.param("ENCODING"), "b") || strings.HasPrefix(strings.ToLower(p.Value), "data:") {
		return "", false
	}
	v := strings.TrimSpace(unescapeText(p.Value))
	return v, looksLikeURI(v)
}

func (s *slots) names() [5]string {
	var n [5]string
	if s.n != nil {
		raw := splitUnescaped(s.n.Value, ';')
		for i := 0; i < 5 && i < len(raw); i++ {
			n[i] = nameComponent(raw[i])
		}
	}
	if s.n == nil && s.fn != nil {
		// No structured name (allowed in 4.0): read FN, unless it is the
		// company name of an organisation card or the e-mail address.
		// An N that is present but empty means "no name" (Apple writes
		// that for companies).
		fn := Normalize(crm.FieldLastName, unescapeText(s.fn.Value))
		company, email := "", ""
		if s.org != nil {
			company = Normalize(crm.FieldCompany, components(s.org.Value, 1)[0])
		}
		if s.email[0] != nil {
			email = Normalize(crm.FieldEmail1, emailText(s.email[0]))
		}
		if fn != "" && !strings.EqualFold(fn, company) && !strings.EqualFold(fn, email) {
			if i := strings.LastIndexByte(fn, ' '); i > 0 {
				n[1], n[0] = strings.TrimSpace(fn[:i]), fn[i+1:]
			} else {
				n[0] = fn
			}
		}
	}
	return n
}

// nameFields are the CRM fields of N's components, in N's order.
var nameFields = [5]string{crm.FieldLastName, crm.FieldFirstName, crm.FieldMiddleName, crm.FieldPrefix, crm.FieldSuffix}

func textOf(p *Property) string {
	if p == nil {
		return ""
	}
	return unescapeText(p.Value)
}

func telText(p *Property) string {
	if p == nil {
		return ""
	}
	v := unescapeText(p.Value)
	if len(v) > 4 && strings.EqualFold(v[:4], "tel:") {
		v = v[4:]
	}
	return v
}

func emailText(p *Property) string {
	v := textOf(p)
	if len(v) > 7 && strings.EqualFold(v[:7], "mailto:") {
		v = v[7:]
	}
	return v
}

// addrParts returns an ADR's mapped parts: POBox, Street (the extended
// address and the street, joined by a line break when both are set: Outlook
// and Thunderbird put part of the street in the extended slot), City,
// State, PostalCode, CountryEn.
func addrParts(p *Property) map[string]string {
	if p == nil {
		return map[string]string{}
	}
	c := components(p.Value, 7)
	var street []string
	for _, s := range []string{c[1], c[2]} {
		if s = strings.TrimSpace(s); s != "" {
			street = append(street, s)
		}
	}
	return map[string]string{
		"POBox": c[0], "Street": strings.Join(street, "\n"), "City": c[3],
		"State": c[4], "PostalCode": c[5], "CountryEn": c[6],
	}
}

// CRMFields returns the CRM fields the card maps: every field of
// engine.SyncFields that is set, plus the address POBox parts (a CRM
// field the sync does not carry). Values are plain text normalized with
// Normalize; ProfilePicture is the hex SHA-256 of the inline photo.
func (c *Card) CRMFields() map[string]string {
	s := c.slots()
	f := map[string]string{}
	set := func(k, v string) {
		if v = Normalize(k, v); v != "" {
			f[k] = v
		}
	}
	n := s.names()
	for i, k := range nameFields {
		set(k, n[i])
	}
	if s.org != nil {
		oc := components(s.org.Value, 2)
		set(crm.FieldCompany, oc[0])
		set(crm.FieldDepartment, oc[1])
	}
	set(crm.FieldJobTitle, textOf(s.title))
	set(crm.FieldWebPage, textOf(s.url))
	for i, k := range emailFields {
		set(k, emailText(s.email[i]))
	}
	for _, a := range addrKinds {
		for part, v := range addrParts(s.adr[a.prefix]) {
			set(a.prefix+part, v)
		}
	}
	for _, tf := range telFields {
		set(tf.field, telText(s.tel[tf.field]))
	}
	set(crm.FieldNote, textOf(s.note))
	if s.photoData != nil {
		f[crm.FieldPicture] = PhotoHash(s.photoData)
	}
	return f
}

// Fields returns the synced fields (engine.SyncFields) the card holds.
func (c *Card) Fields() map[string]string {
	f := c.CRMFields()
	for _, a := range addrKinds {
		delete(f, a.prefix+"POBox")
	}
	return f
}

// Photo returns the bytes of the card's inline picture, nil if it has
// none (a picture by URI has no bytes here).
func (c *Card) Photo() []byte { return c.slots().photoData }

// PhotoURI returns the URI of a picture given by reference, "" if none.
func (c *Card) PhotoURI() string {
	s := c.slots()
	if s.photo == nil || s.photoData != nil {
		return ""
	}
	u, _ := photoURI(s.photo)
	return u
}

// UID returns the card's UID as written ("urn:uuid:" kept), "" if none.
func (c *Card) UID() string { return strings.TrimSpace(textOf(c.first("UID"))) }

// PhotoHash is how ProfilePicture names a picture: hex SHA-256 of its bytes.
func PhotoHash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Encode writes a card holding fields (CRM names, plain text; see
// Fields), photo (the bytes whose PhotoHash is fields[ProfilePicture]) and
// uid ("" keeps base's). With a base card it rewrites only the properties
// whose mapped values changed and keeps every other property — unknown
// and X- properties, item groups with X-ABLabel, IMPP, BDAY, CATEGORIES,
// a picture by URI — as it was. version is "3.0" or "4.0" ("" = base's,
// else 3.0).
func Encode(fields map[string]string, photo []byte, uid string, base *Card, version string) ([]byte, error) {
	c, err := Update(base, fields, photo, uid)
	if err != nil {
		return nil, err
	}
	if version == "" && base == nil {
		version = "3.0"
	}
	return c.Encode(version)
}

// Update returns a copy of base (nil: an empty card) carrying fields,
// photo and uid, as Encode describes.
func Update(base *Card, fields map[string]string, photo []byte, uid string) (*Card, error) {
	var c *Card
	if base == nil {
		c = &Card{}
	} else {
		c = base.Clone()
	}
	s := c.slots()
	old := c.CRMFields()
	want := map[string]string{}
	for k, v := range fields {
		if v = Normalize(k, v); v != "" {
			want[k] = v
		}
	}
	// POBox is a CRM field the sync does not carry: absent means "keep".
	for _, a := range addrKinds {
		k := a.prefix + "POBox"
		if _, ok := fields[k]; !ok && old[k] != "" {
			want[k] = old[k]
		}
	}
	removed := map[*Property]bool{}
	changed := func(keys ...string) bool {
		for _, k := range keys {
			if old[k] != want[k] {
				return true
			}
		}
		return false
	}
	allEmpty := func(keys ...string) bool {
		for _, k := range keys {
			if want[k] != "" {
				return false
			}
		}
		return true
	}
	add := func(name string, types []string, value string) *Property {
		p := &Property{Name: name, Value: value}
		if len(types) > 0 {
			p.Params = []Param{{Name: "TYPE", Values: types}}
		}
		c.Props = append(c.Props, p)
		return p
	}
	// setSimple maps one CRM field to one property.
	setSimple := func(p *Property, field, name string, types []string, value string) {
		switch {
		case !changed(field):
		case want[field] == "":
			if p != nil {
				removed[p] = true
			}
		case p != nil:
			p.Value = value
		default:
			add(name, types, value)
		}
	}

	if uid != "" {
		if s.uid == nil {
			c.Props = append([]*Property{{Name: "UID", Value: uid}}, c.Props...)
		} else if cur := strings.TrimSpace(unescapeText(s.uid.Value)); !strings.EqualFold(trimURN(cur), trimURN(uid)) {
			s.uid.Value = uid
		}
	}

	// N and FN. N is always written: 3.0 requires it.
	nameChanged := changed(nameFields[:]...)
	if nameChanged || s.n == nil {
		comps := make([]string, 5)
		for i, k := range nameFields {
			comps[i] = escapeText(want[k])
		}
		v := strings.Join(comps, ";")
		if s.n != nil {
			s.n.Value = v
		} else {
			add("N", nil, v)
		}
	}
	if nameChanged || s.fn == nil || changed(crm.FieldCompany) && allEmpty(nameFields[:]...) {
		fn := escapeText(composeFN(want))
		if s.fn != nil {
			s.fn.Value = fn
		} else {
			add("FN", nil, fn)
		}
	}

	// ORG: company;department, keeping further units.
	if changed(crm.FieldCompany, crm.FieldDepartment) {
		if allEmpty(crm.FieldCompany, crm.FieldDepartment) {
			if s.org != nil {
				removed[s.org] = true
			}
		} else {
			v := escapeText(want[crm.FieldCompany])
			if d := want[crm.FieldDepartment]; d != "" {
				v += ";" + escapeText(d)
			}
			if s.org != nil {
				if rest := splitUnescaped(s.org.Value, ';'); len(rest) > 2 {
					if want[crm.FieldDepartment] == "" {
						v += ";"
					}
					v += ";" + strings.Join(rest[2:], ";")
				}
				s.org.Value = v
			} else {
				add("ORG", nil, v)
			}
		}
	}
	setSimple(s.title, crm.FieldJobTitle, "TITLE", nil, escapeText(want[crm.FieldJobTitle]))
	setSimple(s.url, crm.FieldWebPage, "URL", nil, want[crm.FieldWebPage]) // a URI: not TEXT-escaped
	emailTypes := [][]string{{"internet", "work", "pref"}, {"internet", "home"}, {"internet"}}
	for i, k := range emailFields {
		setSimple(s.email[i], k, "EMAIL", emailTypes[i], escapeText(want[k]))
	}
	for _, tf := range telFields {
		p := s.tel[tf.field]
		v := escapeText(want[tf.field])
		if p != nil && (strings.EqualFold(p.param("VALUE"), "uri") || strings.HasPrefix(strings.ToLower(p.Value), "tel:")) {
			v = "tel:" + want[tf.field]
		}
		setSimple(p, tf.field, "TEL", tf.types, v)
	}
	for _, a := range addrKinds {
		keys := []string{a.prefix + "POBox", a.prefix + "Street", a.prefix + "City", a.prefix + "State", a.prefix + "PostalCode", a.prefix + "CountryEn"}
		if !changed(keys...) {
			continue
		}
		p := s.adr[a.prefix]
		if allEmpty(keys...) {
			if p != nil {
				removed[p] = true
			}
			continue
		}
		ext, street := "", escapeText(want[a.prefix+"Street"])
		var extra []string
		if p != nil {
			raw := splitUnescaped(p.Value, ';')
			for len(raw) < 7 {
				raw = append(raw, "")
			}
			if !changed(a.prefix + "Street") {
				ext, street = raw[1], raw[2]
			}
			extra = raw[7:]
		}
		comps := []string{escapeText(want[a.prefix+"POBox"]), ext, street,
			escapeText(want[a.prefix+"City"]), escapeText(want[a.prefix+"State"]),
			escapeText(want[a.prefix+"PostalCode"]), escapeText(want[a.prefix+"CountryEn"])}
		v := strings.Join(append(comps, extra...), ";")
		if p != nil {
			p.Value = v
		} else {
			add("ADR", []string{a.typ}, v)
		}
	}
	setSimple(s.note, crm.FieldNote, "NOTE", nil, escapeText(want[crm.FieldNote]))

	if changed(crm.FieldPicture) {
		h := want[crm.FieldPicture]
		switch {
		case h == "":
			if s.photo != nil && s.photoData != nil {
				removed[s.photo] = true
			}
		case photo == nil || PhotoHash(photo) != h:
			return nil, crm.Errorf(crm.EINVALID, "vcard: %s %s given without the picture's bytes", crm.FieldPicture, h)
		default:
			p := s.photo
			if p == nil {
				p = add("PHOTO", nil, "")
			}
			p.delParam("ENCODING", "TYPE", "VALUE", "MEDIATYPE")
			p.Params = append(p.Params, Param{Name: "ENCODING", Values: []string{"b"}}, Param{Name: "TYPE", Values: []string{imageType(photo)}})
			p.Value = encodeBase64(photo)
		}
	}

	if len(removed) > 0 {
		c.Props = dropProps(c.Props, removed)
	}
	return c, nil
}

func trimURN(s string) string {
	if len(s) > 9 && strings.EqualFold(s[:9], "urn:uuid:") {
		return s[9:]
	}
	return s
}

// composeFN builds the formatted name: the name parts, else the company,
// else the first e-mail address.
func composeFN(f map[string]string) string {
	var parts []string
	for _, k := range []string{crm.FieldPrefix, crm.FieldFirstName, crm.FieldMiddleName, crm.FieldLastName, crm.FieldSuffix} {
		if f[k] != "" {
			parts = append(parts, f[k])
		}
	}
	if len(parts) > 0 {
		return strings.Join(parts, " ")
	}
	if f[crm.FieldCompany] != "" {
		return f[crm.FieldCompany]
	}
	return f[crm.FieldEmail1]
}

// dropProps removes the given properties, and the X-ABLabel / X-ABADR
// companions of a removed property's item group when nothing else of the
// group is left.
func dropProps(props []*Property, removed map[*Property]bool) []*Property {
	groups := map[string]bool{}
	for p := range removed {
		if p.Group != "" {
			groups[strings.ToLower(p.Group)] = true
		}
	}
	for _, p := range props {
		g := strings.ToLower(p.Group)
		if groups[g] && !removed[p] && p.Name != "X-ABLABEL" && p.Name != "X-ABADR" {
			groups[g] = false // the group still has a real member
		}
	}
	out := props[:0]
	for _, p := range props {
		if removed[p] || p.Group != "" && groups[strings.ToLower(p.Group)] {
			continue
		}
		out = append(out, p)
	}
	return out
}

func imageType(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte{0x89, 'P', 'N', 'G'}):
		return "PNG"
	case bytes.HasPrefix(b, []byte("GIF8")):
		return "GIF"
	}
	return "JPEG"
}

func encodeBase64(b []byte) string {
	return base64.StdEncoding.EncodeToString(b)
}
