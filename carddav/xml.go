package carddav

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

// XML namespaces of WebDAV, CardDAV and Apple's calendarserver (getctag).
const (
	nsDAV  = "DAV:"
	nsCard = "urn:ietf:params:xml:ns:carddav"
	nsCS   = "http://calendarserver.org/ns/"
)

var prefixes = map[string]string{nsDAV: "d", nsCard: "card", nsCS: "cs"}

// node is a generic XML element of a request body.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []node     `xml:",any"`
	Text     string     `xml:",chardata"`
}

func (n *node) child(space, local string) *node {
	for i := range n.Children {
		c := &n.Children[i]
		if c.XMLName.Space == space && c.XMLName.Local == local {
			return c
		}
	}
	return nil
}

func (n *node) children(space, local string) []*node {
	var out []*node
	for i := range n.Children {
		c := &n.Children[i]
		if c.XMLName.Space == space && c.XMLName.Local == local {
			out = append(out, c)
		}
	}
	return out
}

func (n *node) attr(local string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// parseBody reads an XML request body; an empty body gives nil.
func parseBody(r io.Reader, limit int64) (*node, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading request body: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("request body larger than %d bytes", limit)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	var n node
	if err := xml.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("malformed XML body: %v", err)
	}
	return &n, nil
}

// prop is one property value in a response: its name and inner XML.
type prop struct {
	name  xml.Name
	inner string
}

// multistatus writes a 207 body. It keeps up to spillSize in memory, then
// streams: a small answer can still become an error status, a large one
// goes out as it is made, so that memory stays bounded by the batch.
type multistatus struct {
	w    http.ResponseWriter
	b    bytes.Buffer
	sent bool  // the status line is out: no other answer is possible now
	err  error // writing to the client failed; stop making the answer
}

const spillSize = 256 << 10

func newMultistatus(w http.ResponseWriter) *multistatus {
	m := &multistatus{w: w}
	m.b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n" +
		`<d:multistatus xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav" xmlns:cs="http://calendarserver.org/ns/">`)
	return m
}

// response adds one resource: found properties under 200, missing ones
// under 404.
func (m *multistatus) response(href string, found []prop, missing []xml.Name) {
	m.b.WriteString("<d:response><d:href>" + escape(href) + "</d:href>")
	if len(found) > 0 {
		m.b.WriteString("<d:propstat><d:prop>")
		for _, p := range found {
			m.b.WriteString(element(p.name, p.inner))
		}
		m.b.WriteString("</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>")
	}
	if len(missing) > 0 {
		m.b.WriteString("<d:propstat><d:prop>")
		for _, n := range missing {
			m.b.WriteString(element(n, ""))
		}
		m.b.WriteString("</d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>")
	}
	if len(found) == 0 && len(missing) == 0 {
		m.b.WriteString("<d:status>HTTP/1.1 200 OK</d:status>")
	}
	m.b.WriteString("</d:response>")
	m.spill()
}

// status adds a resource with a bare status, e.g. 404 for a deleted member
// in a sync-collection report.
func (m *multistatus) status(href string, code int, text string) {
	fmt.Fprintf(&m.b, "<d:response><d:href>%s</d:href><d:status>HTTP/1.1 %d %s</d:status></d:response>", escape(href), code, text)
	m.spill()
}

func (m *multistatus) spill() {
	if m.b.Len() >= spillSize {
		m.flush()
	}
}

func (m *multistatus) flush() {
	if !m.sent {
		m.w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		m.w.WriteHeader(http.StatusMultiStatus)
		m.sent = true
	}
	if m.err == nil {
		_, m.err = m.w.Write(m.b.Bytes())
	}
	m.b.Reset()
}

// finish ends the body, with the sync token of a sync-collection report,
// and sends what is left.
func (m *multistatus) finish(syncToken string) error {
	if syncToken != "" {
		m.b.WriteString("<d:sync-token>" + escape(syncToken) + "</d:sync-token>")
	}
	m.b.WriteString("</d:multistatus>\n")
	m.flush()
	return m.err
}

// element renders <name>inner</name> with the known prefixes, or a local
// xmlns declaration for other namespaces.
func element(n xml.Name, inner string) string {
	if p, ok := prefixes[n.Space]; ok {
		if inner == "" {
			return "<" + p + ":" + n.Local + "/>"
		}
		return "<" + p + ":" + n.Local + ">" + inner + "</" + p + ":" + n.Local + ">"
	}
	open := "<x:" + n.Local + ` xmlns:x="` + escape(n.Space) + `"`
	if n.Space == "" {
		open = "<" + n.Local
	}
	closeTag := "</x:" + n.Local + ">"
	if n.Space == "" {
		closeTag = "</" + n.Local + ">"
	}
	if inner == "" {
		return open + "/>"
	}
	return open + ">" + inner + closeTag
}

// escape escapes text for XML and drops characters XML cannot carry (a
// control character in a NOTE must not break the whole response).
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			continue
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r', r == 0xFFFE, r == 0xFFFF:
			continue
		}
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\r':
			b.WriteString("&#13;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// errorBody is a DAV:error body naming a failed precondition.
func errorBody(space, local, detail string) []byte {
	inner := element(xml.Name{Space: space, Local: local}, "")
	if detail != "" {
		inner = element(xml.Name{Space: space, Local: local}, escape(detail))
	}
	return []byte(`<?xml version="1.0" encoding="utf-8"?>` + "\n" +
		`<d:error xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">` + inner + "</d:error>\n")
}
