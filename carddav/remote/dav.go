package remote

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	crm "github.com/crmsync/crmsync"
)

// This file holds the few WebDAV requests the replica sends. They are
// written by hand rather than through go-webdav's carddav.Client because
// that client decodes every card with go-vcard (whose escaping bugs we must
// not inherit: the vcard package owns decoding), has no If-Match or
// If-None-Match on PUT and DELETE, hides the HTTP status of failures, and,
// through net/http, turns a redirected PROPFIND into a GET.

const (
	nsDAV     = "DAV:"
	nsCardDAV = "urn:ietf:params:xml:ns:carddav"
	vcardType = "text/vcard"
)

// statusError is a failed HTTP exchange: the status says what went wrong
// (412 stale ETag, 404 gone, 403 refused) and the body's start helps a
// human.
type statusError struct {
	Method string
	Path   string
	Code   int
	Body   string
}

func (e *statusError) Error() string {
	s := fmt.Sprintf("carddav: %s %s: %d %s", e.Method, e.Path, e.Code, http.StatusText(e.Code))
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// httpStatus returns the status code of a *statusError in err's chain, 0 for
// any other error.
func httpStatus(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// domainError turns an HTTP failure into the *crmsync.Error the engine acts
// on; statuses that say nothing about the item stay transient.
func domainError(op string, err error) error {
	code := ""
	switch httpStatus(err) {
	case http.StatusUnauthorized:
		code = crm.EUNAUTHORIZED
	case http.StatusForbidden:
		code = crm.EFORBIDDEN
	case http.StatusNotFound, http.StatusGone:
		code = crm.ENOTFOUND
	case http.StatusPreconditionFailed:
		code = crm.EPRECONDITION
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType,
		http.StatusUnprocessableEntity:
		code = crm.EINVALID
	}
	if code == "" {
		return fmt.Errorf("%s: %w", op, err)
	}
	return &crm.Error{Code: code, Op: op, Message: http.StatusText(httpStatus(err)), Err: err}
}

// dav sends WebDAV requests to one server with Basic auth.
type dav struct {
	http     *http.Client
	base     *url.URL // scheme and host; paths are absolute
	username string
	password string
}

// resolve returns the absolute URL of path, an unescaped absolute path.
func (d *dav) resolve(path string) string {
	u := *d.base
	u.Path, u.RawPath, u.RawQuery, u.Fragment = path, "", "", ""
	return u.String()
}

// do sends one request and returns the response when its status is 2xx;
// otherwise it drains the body and returns a *statusError. A 3xx is
// returned as is when allowRedirect is set.
func (d *dav) do(ctx context.Context, method, path string, hdr http.Header, body []byte, allowRedirect bool) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.resolve(path), rd)
	if err != nil {
		return nil, fmt.Errorf("carddav: %s %s: %w", method, path, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if d.username != "" || d.password != "" {
		req.SetBasicAuth(d.username, d.password)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("carddav: %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 || (allowRedirect && resp.StatusCode/100 == 3) {
		return resp, nil
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return nil, &statusError{Method: method, Path: path, Code: resp.StatusCode, Body: oneLine(string(msg))}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// xmlRequest sends an XML body (PROPFIND, REPORT, MKCOL) and parses a
// 207 Multi-Status answer, calling each for every response element as it
// streams by. It returns the sync-token the multistatus carried, if any.
func (d *dav) xmlRequest(ctx context.Context, method, path, depth, body string, each func(*response) error) (string, error) {
	hdr := http.Header{"Content-Type": {`application/xml; charset="utf-8"`}}
	if depth != "" {
		hdr.Set("Depth", depth)
	}
	resp, err := d.do(ctx, method, path, hdr, []byte(body), false)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusMultiStatus {
		return "", fmt.Errorf("carddav: %s %s: expected 207 Multi-Status, got %d", method, path, resp.StatusCode)
	}
	token, err := parseMultistatus(resp.Body, each)
	if err != nil {
		return "", fmt.Errorf("carddav: %s %s: %w", method, path, err)
	}
	return token, nil
}

// response is one DAV:response of a multistatus.
type response struct {
	Hrefs     []string   `xml:"DAV: href"`
	Status    string     `xml:"DAV: status"`
	Propstats []propstat `xml:"DAV: propstat"`
}

type propstat struct {
	Status string `xml:"DAV: status"`
	Prop   prop   `xml:"DAV: prop"`
}

type hrefList struct {
	Hrefs []string `xml:"DAV: href"`
}

type anyElems struct {
	Elems []struct{ XMLName xml.Name } `xml:",any"`
}

type prop struct {
	ETag                 string    `xml:"DAV: getetag"`
	LastModified         string    `xml:"DAV: getlastmodified"`
	ContentType          string    `xml:"DAV: getcontenttype"`
	DisplayName          string    `xml:"DAV: displayname"`
	SyncToken            string    `xml:"DAV: sync-token"`
	ResourceType         *anyElems `xml:"DAV: resourcetype"`
	CurrentUserPrincipal *hrefList `xml:"DAV: current-user-principal"`
	HomeSet              *hrefList `xml:"urn:ietf:params:xml:ns:carddav addressbook-home-set"`
	AddressData          *struct {
		Text string `xml:",chardata"`
	} `xml:"urn:ietf:params:xml:ns:carddav address-data"`
}

// statusCode parses "HTTP/1.1 404 Not Found"; an absent status is 200.
func statusCode(s string) int {
	f := strings.Fields(s)
	if len(f) < 2 {
		return http.StatusOK
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return 0
	}
	return n
}

// ok returns the merged properties of the 2xx propstats and the response's
// own status (for responses without propstat, e.g. a deleted member in a
// sync-collection answer).
func (r *response) ok() (prop, int) {
	var p prop
	if len(r.Propstats) == 0 {
		return p, statusCode(r.Status)
	}
	found := false
	for _, ps := range r.Propstats {
		if statusCode(ps.Status)/100 != 2 {
			continue
		}
		found = true
		q := ps.Prop
		if q.ETag != "" {
			p.ETag = q.ETag
		}
		if q.LastModified != "" {
			p.LastModified = q.LastModified
		}
		if q.ContentType != "" {
			p.ContentType = q.ContentType
		}
		if q.DisplayName != "" {
			p.DisplayName = q.DisplayName
		}
		if q.SyncToken != "" {
			p.SyncToken = q.SyncToken
		}
		if q.ResourceType != nil {
			p.ResourceType = q.ResourceType
		}
		if q.CurrentUserPrincipal != nil {
			p.CurrentUserPrincipal = q.CurrentUserPrincipal
		}
		if q.HomeSet != nil {
			p.HomeSet = q.HomeSet
		}
		if q.AddressData != nil {
			p.AddressData = q.AddressData
		}
	}
	if !found {
		if r.Status != "" {
			return p, statusCode(r.Status)
		}
		return p, statusCode(r.Propstats[0].Status)
	}
	return p, http.StatusOK
}

func (p *prop) isAddressBook() bool {
	if p.ResourceType == nil {
		return false
	}
	for _, e := range p.ResourceType.Elems {
		if e.XMLName.Space == nsCardDAV && e.XMLName.Local == "addressbook" {
			return true
		}
	}
	return false
}

func (p *prop) isCollection() bool {
	if p.ResourceType == nil {
		return false
	}
	for _, e := range p.ResourceType.Elems {
		if e.XMLName.Space == nsDAV && e.XMLName.Local == "collection" {
			return true
		}
	}
	return false
}

func (p *prop) modified() time.Time {
	t, err := http.ParseTime(p.LastModified)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// parseMultistatus streams a DAV:multistatus: one response element in
// memory at a time, so a listing of many thousand cards stays small.
func parseMultistatus(r io.Reader, each func(*response) error) (string, error) {
	dec := xml.NewDecoder(r)
	token := ""
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if depth != 0 {
				return "", fmt.Errorf("truncated multistatus")
			}
			return token, nil
		}
		if err != nil {
			return "", fmt.Errorf("parsing multistatus: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 {
				if t.Name.Space != nsDAV || t.Name.Local != "multistatus" {
					return "", fmt.Errorf("expected DAV:multistatus, got %s %s", t.Name.Space, t.Name.Local)
				}
				continue
			}
			if depth != 2 || t.Name.Space != nsDAV {
				if err := dec.Skip(); err != nil {
					return "", fmt.Errorf("parsing multistatus: %w", err)
				}
				depth--
				continue
			}
			switch t.Name.Local {
			case "response":
				var resp response
				if err := dec.DecodeElement(&resp, &t); err != nil {
					return "", fmt.Errorf("parsing multistatus response: %w", err)
				}
				if err := each(&resp); err != nil {
					return "", err
				}
			case "sync-token":
				if err := dec.DecodeElement(&token, &t); err != nil {
					return "", fmt.Errorf("parsing sync-token: %w", err)
				}
			default:
				if err := dec.Skip(); err != nil {
					return "", fmt.Errorf("parsing multistatus: %w", err)
				}
			}
			depth--
		case xml.EndElement:
			depth--
		}
	}
}

// hrefPath turns an href from a response into the canonical id: the
// absolute, percent-decoded path (F8: compare hrefs after one decoding).
func hrefPath(href string) (string, error) {
	href = strings.TrimSpace(href)
	u, err := url.Parse(href)
	if err != nil {
		return "", fmt.Errorf("carddav: bad href %q: %w", href, err)
	}
	if !strings.HasPrefix(u.Path, "/") {
		return "", fmt.Errorf("carddav: href %q is not an absolute path", href)
	}
	return u.Path, nil
}

// quoteETag returns an ETag in its quoted wire form, as If-Match needs it;
// some servers list getetag without the quotes.
func quoteETag(etag string) string {
	etag = strings.TrimSpace(etag)
	if etag == "" || strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, `W/"`) {
		return etag
	}
	return strconv.Quote(etag)
}

// xmlText escapes s for use as XML character data.
func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// hrefXML renders a path as an escaped href element.
func hrefXML(path string) string {
	return "<d:href>" + xmlText((&url.URL{Path: path}).EscapedPath()) + "</d:href>"
}
