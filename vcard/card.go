package vcard

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Param is one property parameter. Name is upper case; Values are the
// decoded values (quotes removed, RFC 6868 caret escapes resolved), in order.
type Param struct {
	Name   string
	Values []string
	// spelled is the name as the input wrote it ("type"), written back so
	// that a card comes back in the case its client sent.
	spelled string
}

// Property is one content line of a card. Value is kept as the escaped text
// of vCard 3.0/4.0 (unfolded, UTF-8, quoted-printable already decoded), so a
// property this package does not map is written back exactly as it came.
type Property struct {
	Group  string // e.g. "item1" in item1.X-ABLabel; kept as written
	Name   string // upper case, for matching; written as the input spelled it
	Params []Param
	Value  string
	Line   int // first input line, for error messages; 0 for built properties
	// spelled is the name as the input wrote it ("X-ABLabel"); Encode
	// writes it while it still names the property (equal to Name but for
	// case).
	spelled string
}

// Card is one vCard: its properties in input order, BEGIN and END excluded.
// VERSION is a property like any other.
type Card struct {
	Props []*Property
}

// Version returns the VERSION value ("2.1", "3.0", "4.0"), "" if missing.
func (c *Card) Version() string {
	if p := c.first("VERSION"); p != nil {
		return strings.TrimSpace(p.Value)
	}
	return ""
}

// Get returns the properties named name (case-insensitive), in order.
func (c *Card) Get(name string) []*Property {
	name = strings.ToUpper(name)
	var ps []*Property
	for _, p := range c.Props {
		if p.Name == name {
			ps = append(ps, p)
		}
	}
	return ps
}

func (c *Card) first(name string) *Property {
	for _, p := range c.Props {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Clone returns a deep copy of c.
func (c *Card) Clone() *Card {
	n := &Card{Props: make([]*Property, len(c.Props))}
	for i, p := range c.Props {
		n.Props[i] = p.clone()
	}
	return n
}

func (p *Property) clone() *Property {
	q := *p
	q.Params = make([]Param, len(p.Params))
	for i, pa := range p.Params {
		pa.Values = slices.Clone(pa.Values)
		q.Params[i] = pa
	}
	return &q
}

// ParamValues returns every value of parameter name, across repeated
// parameters (type=HOME;type=pref), with comma lists inside one quoted
// value ("work,voice") split too.
func (p *Property) ParamValues(name string) []string {
	name = strings.ToUpper(name)
	var vs []string
	for _, pa := range p.Params {
		if pa.Name != name {
			continue
		}
		for _, v := range pa.Values {
			for _, part := range strings.Split(v, ",") {
				if part = strings.TrimSpace(part); part != "" {
					vs = append(vs, part)
				}
			}
		}
	}
	return vs
}

// HasType reports whether the property has TYPE t (case-insensitive).
func (p *Property) HasType(t string) bool {
	for _, v := range p.ParamValues("TYPE") {
		if strings.EqualFold(v, t) {
			return true
		}
	}
	return false
}

func (p *Property) param(name string) string {
	vs := p.ParamValues(name)
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

func (p *Property) delParam(names ...string) {
	out := p.Params[:0]
	for _, pa := range p.Params {
		drop := false
		for _, n := range names {
			if pa.Name == n {
				drop = true
			}
		}
		if !drop {
			out = append(out, pa)
		}
	}
	p.Params = out
}

func (p *Property) setParam(name string, values ...string) {
	p.delParam(name)
	p.Params = append(p.Params, Param{Name: name, Values: values})
}

// DecodeError is returned for input that is not a vCard; Line is the
// 1-based input line where the problem was found (0 if not tied to one).
type DecodeError struct {
	Line int
	Msg  string
}

func (e *DecodeError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("vcard: line %d: %s", e.Line, e.Msg)
	}
	return "vcard: " + e.Msg
}

// Decode parses exactly one vCard (2.1, 3.0 or 4.0). Unlike go-vcard it
// reports malformed lines instead of skipping them, honours escaped ';' in
// structured values, decodes vCard 2.1 QUOTED-PRINTABLE and CHARSET
// (UTF-8, Windows-1250, Latin-1), UTF-16 files and RFC 6868 parameter
// escapes, and accepts CRLF, LF and CR CR LF line ends.
func Decode(data []byte) (*Card, error) {
	cards, err := DecodeAll(data)
	if err != nil {
		return nil, err
	}
	switch len(cards) {
	case 0:
		return nil, &DecodeError{Msg: "no BEGIN:VCARD found"}
	case 1:
		return cards[0], nil
	}
	return nil, &DecodeError{Msg: fmt.Sprintf("%d cards in one object, want 1", len(cards))}
}

type logicalLine struct {
	text []byte
	num  int
	// Transfer encodings named in the header, read once the header (the
	// text up to the value colon) is complete: rescanning a 40 KB photo
	// line for every folded line made decoding quadratic.
	qp, b64, headerDone bool
}

func (l *logicalLine) scanHeader() {
	if l.headerDone {
		return
	}
	h := header(l.text)
	l.headerDone = len(h) < len(l.text)
	// Whole parameters only: "TYPE=000QUOTED-PRINTABLE" is no encoding,
	// and reading it as one took a folded line's '=' for a soft break.
	l.qp, l.b64 = false, false
	for _, p := range bytes.Split(bytes.ToUpper(h), []byte(";"))[1:] {
		switch string(bytes.TrimSpace(p)) {
		case "QUOTED-PRINTABLE", "ENCODING=QUOTED-PRINTABLE":
			l.qp = true
		case "BASE64", "ENCODING=BASE64", "ENCODING=B":
			l.b64 = true
		}
	}
}

// DecodeAll parses a stream of vCards, such as an address book export.
func DecodeAll(data []byte) ([]*Card, error) {
	lines, err := logicalLines(toUTF8(data))
	if err != nil {
		return nil, err
	}
	var cards []*Card
	var cur *Card
	for _, l := range lines {
		p, err := parseLine(l)
		if err != nil {
			return nil, err
		}
		switch {
		case p.Name == "BEGIN" && strings.EqualFold(strings.TrimSpace(p.Value), "VCARD"):
			if cur != nil {
				return nil, &DecodeError{Line: l.num, Msg: "nested BEGIN:VCARD is not supported"}
			}
			cur = &Card{}
		case p.Name == "END" && strings.EqualFold(strings.TrimSpace(p.Value), "VCARD"):
			if cur == nil {
				return nil, &DecodeError{Line: l.num, Msg: "END:VCARD without BEGIN:VCARD"}
			}
			cards = append(cards, cur)
			cur = nil
		case cur == nil:
			return nil, &DecodeError{Line: l.num, Msg: fmt.Sprintf("property %s outside BEGIN:VCARD/END:VCARD", p.Name)}
		default:
			cur.Props = append(cur.Props, p)
		}
	}
	if cur != nil {
		return nil, &DecodeError{Msg: "missing END:VCARD"}
	}
	return cards, nil
}

// physicalLines splits on LF, dropping any number of trailing CRs (iOS
// wrote CR CR LF); a file with CRs only is split on CR.
func physicalLines(data []byte) [][]byte {
	sep := []byte("\n")
	if !bytes.Contains(data, sep) && bytes.Contains(data, []byte("\r")) {
		sep = []byte("\r")
	}
	ls := bytes.Split(data, sep)
	for i, l := range ls {
		ls[i] = bytes.TrimRight(l, "\r")
	}
	return ls
}

// logicalLines unfolds: a line starting with space or tab continues the
// previous one; a quoted-printable value ending in '=' continues on the next
// line (vCard 2.1 soft break); a 2.1 base64 value may continue on lines
// without a colon. Blank lines are skipped (2.1 ends base64 with one).
func logicalLines(data []byte) ([]logicalLine, error) {
	var out []logicalLine
	var cur *logicalLine
	flush := func() {
		if cur != nil {
			out = append(out, *cur)
			cur = nil
		}
	}
	for i, l := range physicalLines(data) {
		num := i + 1
		if cur != nil {
			cur.scanHeader()
		}
		if cur != nil && cur.qp && bytes.HasSuffix(cur.text, []byte("=")) {
			cur.text = append(cur.text[:len(cur.text)-1], l...)
			continue
		}
		if len(l) == 0 {
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			if cur == nil {
				return nil, &DecodeError{Line: num, Msg: "continuation line without a property before it"}
			}
			cur.text = append(cur.text, l[1:]...)
			continue
		}
		if cur != nil && cur.b64 && bytes.IndexByte(l, ':') < 0 {
			cur.text = append(cur.text, l...)
			continue
		}
		flush()
		cur = &logicalLine{text: append([]byte(nil), l...), num: num}
	}
	flush()
	return out, nil
}

// header returns the part of a logical line before its value colon.
func header(line []byte) []byte {
	inQuote := false
	for i, c := range line {
		switch {
		case c == '"':
			inQuote = !inQuote
		case c == ':' && !inQuote:
			return line[:i]
		}
	}
	return line
}

func isNameChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// parseLine parses one unfolded content line.
func parseLine(l logicalLine) (*Property, error) {
	s := l.text
	bad := func(format string, args ...any) error {
		return &DecodeError{Line: l.num, Msg: fmt.Sprintf(format, args...)}
	}
	i := 0
	for i < len(s) && (isNameChar(s[i]) || s[i] == '.') {
		i++
	}
	if i == len(s) {
		return nil, bad("no ':' in %q", clip(s))
	}
	if s[i] != ';' && s[i] != ':' {
		return nil, bad("invalid character %q in property name of %q", s[i], clip(s))
	}
	name := string(s[:i])
	p := &Property{Line: l.num}
	if dot := strings.LastIndexByte(name, '.'); dot >= 0 {
		p.Group, name = name[:dot], name[dot+1:]
	}
	if name == "" {
		return nil, bad("empty property name in %q", clip(s))
	}
	p.Name, p.spelled = strings.ToUpper(name), name
	// Parameters.
	for s[i] == ';' {
		i++
		j := i
		for j < len(s) && s[j] != '=' && s[j] != ';' && s[j] != ':' {
			j++
		}
		if j == len(s) {
			return nil, bad("no ':' after the parameters of %s", p.Name)
		}
		spelled := strings.TrimSpace(string(s[i:j]))
		pname := strings.ToUpper(spelled)
		if s[j] != '=' {
			// vCard 2.1 bare parameter: WORK, VOICE, QUOTED-PRINTABLE.
			i = j
			if pname == "" {
				continue
			}
			switch pname {
			case "QUOTED-PRINTABLE", "BASE64", "8BIT", "7BIT", "B":
				p.Params = append(p.Params, Param{Name: "ENCODING", Values: []string{pname}})
			default:
				p.Params = append(p.Params, Param{Name: "TYPE", Values: []string{pname}})
			}
			continue
		}
		if pname == "" {
			return nil, bad("empty parameter name in %s", p.Name)
		}
		i = j + 1
		pa := Param{Name: pname, spelled: spelled}
		for {
			var v []byte
			if i < len(s) && s[i] == '"' {
				k := bytes.IndexByte(s[i+1:], '"')
				if k < 0 {
					return nil, bad("unterminated quoted value of parameter %s of %s", pname, p.Name)
				}
				v = s[i+1 : i+1+k]
				i += k + 2
			} else {
				k := i
				for k < len(s) && s[k] != ',' && s[k] != ';' && s[k] != ':' {
					k++
				}
				v = s[i:k]
				i = k
			}
			pv, _ := decodeCharset(v, "")
			pa.Values = append(pa.Values, caretDecode(pv))
			if i >= len(s) {
				return nil, bad("no ':' after the parameters of %s", p.Name)
			}
			if s[i] != ',' {
				break
			}
			i++
		}
		if s[i] != ';' && s[i] != ':' {
			return nil, bad("unexpected %q after parameter %s of %s", s[i], pname, p.Name)
		}
		p.Params = append(p.Params, pa)
	}
	raw := s[i+1:]
	return p, p.decodeValue(raw, l.num)
}

// decodeValue turns the raw bytes after the colon into p.Value, undoing
// the 2.1 transfer encodings so that the card can be written as 3.0/4.0.
func (p *Property) decodeValue(raw []byte, line int) error {
	enc := strings.ToUpper(p.param("ENCODING"))
	charset := p.param("CHARSET")
	qp := enc == "QUOTED-PRINTABLE"
	if qp {
		raw = qpDecode(raw)
		p.delParam("ENCODING")
	}
	v, ok := decodeCharset(raw, charset)
	if !ok {
		return &DecodeError{Line: line, Msg: fmt.Sprintf("unsupported CHARSET %q on %s", charset, p.Name)}
	}
	p.delParam("CHARSET")
	switch enc {
	case "BASE64", "B":
		p.setParam("ENCODING", "b")
		v = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, v)
	case "8BIT", "7BIT":
		p.delParam("ENCODING")
	}
	if qp {
		// Real line breaks become the 3.0 escape; nothing else in a 2.1
		// value is an escape, except "\;" which 3.0 reads the same.
		v = strings.ReplaceAll(v, "\r\n", "\n")
		v = strings.ReplaceAll(v, "\r", "\n")
		v = strings.ReplaceAll(v, "\n", `\n`)
	}
	p.Value = v
	return nil
}

// qpDecode decodes quoted-printable leniently: an '=' not followed by two
// hex digits is kept as it is (Outlook wrote such values).
func qpDecode(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '=' && i+2 < len(b) {
			if h, err := strconv.ParseUint(string(b[i+1:i+3]), 16, 8); err == nil {
				out = append(out, byte(h))
				i += 2
				continue
			}
		}
		out = append(out, b[i])
	}
	return out
}

func clip(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "..."
	}
	return string(b)
}

// caretDecode resolves RFC 6868 escapes: ^n newline, ^' double quote, ^^ caret.
func caretDecode(s string) string {
	if !strings.Contains(s, "^") {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '^' && i+1 < len(s) {
			switch s[i+1] {
			case 'n', 'N':
				sb.WriteByte('\n')
				i++
				continue
			case '\'':
				sb.WriteByte('"')
				i++
				continue
			case '^':
				sb.WriteByte('^')
				i++
				continue
			}
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

// caretEncode is the inverse of caretDecode. A lone '^' that no decoder
// would misread is left alone, so values without escapes stay readable to
// parsers that predate RFC 6868.
func caretEncode(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\n':
			sb.WriteString("^n")
		case c == '\r':
		case c == '"':
			sb.WriteString("^'")
		case c == '^' && i+1 < len(s) && (s[i+1] == 'n' || s[i+1] == 'N' || s[i+1] == '\'' || s[i+1] == '^'):
			sb.WriteString("^^")
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// Encode writes c as vCard text in version ("3.0" or "4.0"; "" keeps the
// card's own version, 2.1 becoming 3.0). Lines end in CRLF and are folded
// at 75 octets without splitting a UTF-8 sequence; parameter values that
// need it are quoted and caret-escaped.
func (c *Card) Encode(version string) ([]byte, error) {
	switch version {
	case "":
		version = c.Version()
		if version != "4.0" {
			version = "3.0"
		}
	case "3.0", "4.0":
	default:
		return nil, fmt.Errorf("vcard: cannot write version %q (want 3.0 or 4.0)", version)
	}
	var buf bytes.Buffer
	buf.WriteString("BEGIN:VCARD\r\nVERSION:" + version + "\r\n")
	for _, p := range c.Props {
		if p.Name == "VERSION" || p.Name == "BEGIN" || p.Name == "END" {
			continue
		}
		writeFolded(&buf, convert(p, version).line())
	}
	buf.WriteString("END:VCARD\r\n")
	return buf.Bytes(), nil
}

// line renders one property without folding.
func (p *Property) line() string {
	var sb strings.Builder
	if p.Group != "" {
		sb.WriteString(p.Group + ".")
	}
	sb.WriteString(spelling(p.Name, p.spelled))
	for _, pa := range p.Params {
		sb.WriteString(";" + spelling(pa.Name, pa.spelled))
		if len(pa.Values) == 0 {
			continue
		}
		sb.WriteByte('=')
		for i, v := range pa.Values {
			if i > 0 {
				sb.WriteByte(',')
			}
			v = caretEncode(v)
			if strings.ContainsAny(v, ":;,") || strings.TrimSpace(v) != v {
				sb.WriteString(`"` + v + `"`)
			} else {
				sb.WriteString(v)
			}
		}
	}
	sb.WriteByte(':')
	// A raw line break would end the line; write the 3.0/4.0 escape.
	v := strings.ReplaceAll(p.Value, "\r\n", `\n`)
	v = strings.ReplaceAll(v, "\n", `\n`)
	sb.WriteString(strings.ReplaceAll(v, "\r", ""))
	return sb.String()
}

// spelling returns the name as the input wrote it, unless the name was
// changed since.
func spelling(name, spelled string) string {
	if spelled != "" && strings.EqualFold(name, spelled) {
		return spelled
	}
	return name
}

// writeFolded writes s folded at 75 octets per line (RFC 6350 §3.2),
// never inside a UTF-8 sequence.
func writeFolded(buf *bytes.Buffer, s string) {
	limit := 75
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if cut == 0 {
			cut = limit // not UTF-8 at all: cut anywhere rather than loop
		}
		buf.WriteString(s[:cut])
		buf.WriteString("\r\n ")
		s = s[cut:]
		limit = 74 // the leading space counts
	}
	buf.WriteString(s)
	buf.WriteString("\r\n")
}

// convert returns p as version wants it: inline binary as ENCODING=b (3.0)
// or a data: URI (4.0), TYPE=pref vs PREF=1, VALUE=uri where 3.0 needs it.
func convert(p *Property, version string) *Property {
	binary := p.Name == "PHOTO" || p.Name == "LOGO" || p.Name == "SOUND" || p.Name == "KEY"
	if version == "4.0" {
		q := p
		if binary && strings.EqualFold(p.param("ENCODING"), "b") {
			q = p.clone()
			mt := mediaType(p.Name, p.param("TYPE"))
			q.delParam("ENCODING", "TYPE", "VALUE")
			q.Value = "data:" + mt + ";base64," + p.Value
		} else if binary && strings.EqualFold(p.param("VALUE"), "uri") {
			q = p.clone()
			q.delParam("VALUE")
		}
		if p.Name == "EMAIL" && q.HasType("internet") {
			q = q.clone()
			removeType(q, "internet")
		}
		if hasPrefType(q) {
			q = q.clone()
			removeType(q, "pref")
			if q.param("PREF") == "" {
				q.setParam("PREF", "1")
			}
		}
		return q
	}
	q := p
	if binary && strings.HasPrefix(strings.ToLower(p.Value), "data:") {
		if mt, data, ok := parseDataURI(p.Value); ok {
			q = p.clone()
			q.delParam("VALUE", "MEDIATYPE")
			q.setParam("ENCODING", "b")
			if sub := typeFromMedia(mt); sub != "" {
				q.setParam("TYPE", sub)
			}
			q.Value = base64.StdEncoding.EncodeToString(data)
		}
	} else if binary && p.param("ENCODING") == "" && p.param("VALUE") == "" && looksLikeURI(p.Value) {
		q = p.clone()
		q.setParam("VALUE", "uri")
	}
	if pref := q.param("PREF"); pref != "" {
		q = q.clone()
		q.delParam("PREF")
		if !hasPrefType(q) {
			q.Params = append(q.Params, Param{Name: "TYPE", Values: []string{"pref"}})
		}
	}
	return q
}

func hasPrefType(p *Property) bool { return p.HasType("pref") }

// removeType drops TYPE value t, and TYPE parameters left empty.
func removeType(p *Property, t string) {
	out := p.Params[:0]
	for _, pa := range p.Params {
		if pa.Name == "TYPE" {
			var vs []string
			for _, v := range pa.Values {
				var parts []string
				for _, part := range strings.Split(v, ",") {
					if !strings.EqualFold(strings.TrimSpace(part), t) {
						parts = append(parts, part)
					}
				}
				if len(parts) > 0 {
					vs = append(vs, strings.Join(parts, ","))
				}
			}
			if len(vs) == 0 {
				continue
			}
			pa.Values = vs
		}
		out = append(out, pa)
	}
	p.Params = out
}

func looksLikeURI(v string) bool {
	i := strings.Index(v, ":")
	if i <= 0 {
		return false
	}
	for _, c := range []byte(v[:i]) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func mediaType(prop, typ string) string {
	t := strings.ToLower(typ)
	if strings.Contains(t, "/") {
		return t
	}
	switch prop {
	case "PHOTO", "LOGO":
		if t == "" {
			return "image/jpeg"
		}
		return "image/" + t
	case "SOUND":
		if t == "" {
			return "audio/basic"
		}
		return "audio/" + t
	}
	if t == "" || t == "x509" {
		return "application/pkix-cert"
	}
	return "application/" + t
}

func typeFromMedia(mt string) string {
	if i := strings.IndexByte(mt, '/'); i >= 0 {
		return strings.ToUpper(mt[i+1:])
	}
	return ""
}

// parseDataURI decodes "data:<mediatype>;base64,<data>", also when the
// value escapes the URI's ';' and ',' as TEXT (Thunderbird's CardBook
// writes "data:image/JPEG\;base64\,...").
func parseDataURI(v string) (mediatype string, data []byte, ok bool) {
	if len(v) < 5 || !strings.EqualFold(v[:5], "data:") {
		return "", nil, false
	}
	v = unescapeText(v)
	rest := v[5:]
	comma := strings.IndexByte(rest, ',')
	if comma < 0 {
		return "", nil, false
	}
	meta, payload := rest[:comma], rest[comma+1:]
	if !strings.HasSuffix(strings.ToLower(meta), ";base64") {
		return "", nil, false
	}
	data, err := decodeBase64(payload)
	if err != nil {
		return "", nil, false
	}
	return strings.ToLower(meta[:len(meta)-len(";base64")]), data, true
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// Value returns the unescaped text of the first property named name, ""
// if there is none: for properties this package does not map, such as
// REV or X-CRMSYNC-GUID.
func (c *Card) Value(name string) string {
	if p := c.first(strings.ToUpper(name)); p != nil {
		return unescapeText(p.Value)
	}
	return ""
}

// SetValue sets the first property named name to the text value (escaped
// for writing), adding it if missing; "" removes every such property.
func (c *Card) SetValue(name, value string) {
	name = strings.ToUpper(name)
	if value == "" {
		out := c.Props[:0]
		for _, p := range c.Props {
			if p.Name != name {
				out = append(out, p)
			}
		}
		c.Props = out
		return
	}
	if p := c.first(name); p != nil {
		p.Value = escapeText(value)
		return
	}
	c.Props = append(c.Props, &Property{Name: name, Value: escapeText(value)})
}
