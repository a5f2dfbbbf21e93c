package sandbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	_ "image/gif" // photo metadata: decode dimensions
	_ "image/jpeg"
	_ "image/png"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/outlook"
)

// route dispatches one call to its handler.
func (s *Server) route(req *request) response {
	var segs []string
	for _, seg := range strings.Split(strings.Trim(req.path, "/"), "/") {
		// OData key syntax: contactFolders('id') = contactFolders/id
		if m := keySegment.FindStringSubmatch(seg); m != nil {
			segs = append(segs, m[1], strings.ReplaceAll(m[2], "''", "'"))
			continue
		}
		segs = append(segs, seg)
	}
	// /users/{id|upn}/... is the same mailbox as /me/...
	if len(segs) >= 2 && strings.EqualFold(segs[0], "users") {
		segs = append([]string{"me"}, segs[2:]...)
	}
	if len(segs) < 2 || segs[0] != "me" {
		return s.errorResponse(http.StatusNotFound, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", segs[0]))
	}
	segs = segs[1:]
	switch {
	case strings.EqualFold(segs[0], "contacts"):
		if len(segs) == 1 {
			return s.collection(req, "", false)
		}
		return s.contact(req, "", segs[1], segs[2:])
	case strings.EqualFold(segs[0], "contactFolders"):
		if len(segs) == 1 {
			return s.folders(req, "")
		}
		folder, err := s.folderID(segs[1])
		if err != nil {
			return s.fromError(err)
		}
		switch {
		case len(segs) == 2:
			if req.method != http.MethodGet {
				return methodNotAllowed()
			}
			f, err := s.mb.Folder(folder)
			if err != nil {
				return s.fromError(err)
			}
			return jsonResponse(http.StatusOK, folderJSON(req, f, true))
		case strings.EqualFold(segs[2], "childFolders") && len(segs) == 3:
			return s.folders(req, folder)
		case strings.EqualFold(segs[2], "contacts") && len(segs) == 3:
			return s.collection(req, folder, true)
		case strings.EqualFold(segs[2], "contacts") && len(segs) == 4 && segs[3] == "delta":
			return s.delta(req, folder)
		case strings.EqualFold(segs[2], "contacts"):
			return s.contact(req, folder, segs[3], segs[4:])
		}
	}
	return s.errorResponse(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", segs[len(segs)-1]))
}

func methodNotAllowed() response {
	return errorBodyNow(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
}

// folderID resolves a folder segment; "contacts" names the default folder.
func (s *Server) folderID(seg string) (string, error) {
	if strings.EqualFold(seg, "contacts") {
		return s.mb.DefaultFolder(), nil
	}
	if _, err := s.mb.Folder(seg); err != nil {
		return "", err
	}
	return seg, nil
}

func folderJSON(req *request, f outlook.Folder, entity bool) map[string]any {
	m := map[string]any{"id": f.ID, "displayName": f.DisplayName, "parentFolderId": f.ParentFolderID}
	if entity {
		m["@odata.context"] = req.base + "/$metadata#users('me')/contactFolders/$entity"
	}
	return m
}

// folders lists or creates folders: below the default folder for
// /me/contactFolders (whose listing also shows the default folder itself,
// as Graph's example does), below parent for .../childFolders.
func (s *Server) folders(req *request, parent string) response {
	switch req.method {
	case http.MethodGet:
		var name *string
		if f := strings.TrimSpace(req.query.Get("$filter")); f != "" {
			m := folderFilter.FindStringSubmatch(f)
			if m == nil {
				return s.errorResponse(http.StatusBadRequest, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.")
			}
			n := strings.ReplaceAll(m[1], "''", "'")
			name = &n
		}
		var value []map[string]any
		def := s.mb.DefaultFolder()
		for _, f := range s.mb.Folders() {
			if name != nil && !strings.EqualFold(f.DisplayName, *name) {
				continue
			}
			if parent == "" && (f.ID == def || f.ParentFolderID == def) || parent != "" && f.ParentFolderID == parent {
				value = append(value, folderJSON(req, f, false))
			}
		}
		if value == nil {
			value = []map[string]any{}
		}
		return jsonResponse(http.StatusOK, map[string]any{"@odata.context": req.base + "/$metadata#users('me')/contactFolders", "value": value})
	case http.MethodPost:
		var body struct {
			DisplayName string `json:"displayName"`
		}
		if err := json.Unmarshal(req.body, &body); err != nil {
			return s.errorResponse(http.StatusBadRequest, "RequestBodyRead", "Invalid JSON in request body.")
		}
		f, err := s.mb.CreateFolder(parent, body.DisplayName)
		if err != nil {
			return s.fromError(err)
		}
		return jsonResponse(http.StatusCreated, folderJSON(req, f, true))
	}
	return methodNotAllowed()
}

// collection lists or creates contacts in folder ("" = default).
func (s *Server) collection(req *request, folder string, inFolder bool) response {
	switch req.method {
	case http.MethodGet:
		return s.list(req, folder)
	case http.MethodPost:
		c, err := outlook.DecodeNew(req.body)
		if err != nil {
			return s.fromError(err)
		}
		e, err := s.mb.Create(folder, c)
		if err != nil {
			return s.fromError(err)
		}
		res := jsonResponse(http.StatusCreated, s.render(req, e, nil, nil, req.base+"/$metadata#users('me')/contacts/$entity", false))
		res.header.Set("Location", req.base+"/me/contacts('"+url.PathEscape(e.Contact.ID)+"')")
		s.preferApplied(req, &res)
		return res
	}
	return methodNotAllowed()
}

var folderFilter = regexp.MustCompile(`^displayName eq '((?:[^']|'')*)'$`)

var keySegment = regexp.MustCompile(`^(\w+)\('((?:[^']|'')*)'\)$`)

var (
	anyEmail = regexp.MustCompile(`^emailAddresses/any\((\w+):\s*(\w+)/address eq '((?:[^']|'')*)'\)$`)
	anyExt   = regexp.MustCompile(`^singleValueExtendedProperties/[Aa]ny\((\w+):\s*(\w+)/id eq '((?:[^']|'')*)' and (\w+)/value eq '((?:[^']|'')*)'\)$`)
)

// list serves GET on a contact collection with $select, $top, $skip,
// $expand of extended properties and the two documented $filter forms.
func (s *Server) list(req *request, folder string) response {
	sel, err := parseSelect(req.query.Get("$select"))
	if err != nil {
		return s.errorResponse(http.StatusBadRequest, "RequestBroker--ParseUri", err.Error())
	}
	ext, err := parseExpand(req.query.Get("$expand"))
	if err != nil {
		return s.errorResponse(http.StatusBadRequest, "RequestBroker--ParseUri", err.Error())
	}
	var match func(c *outlook.Contact) bool
	if f := strings.TrimSpace(req.query.Get("$filter")); f != "" {
		if m := anyEmail.FindStringSubmatch(f); m != nil && m[1] == m[2] {
			want := strings.ReplaceAll(m[3], "''", "'")
			match = func(c *outlook.Contact) bool {
				for _, e := range c.EmailAddresses {
					if strings.EqualFold(e.Address, want) {
						return true
					}
				}
				return false
			}
		} else if m := anyExt.FindStringSubmatch(f); m != nil && m[1] == m[2] && m[1] == m[4] {
			id, want := strings.ReplaceAll(m[3], "''", "'"), strings.ReplaceAll(m[5], "''", "'")
			match = func(c *outlook.Contact) bool {
				for _, p := range c.SingleValueExtendedProperties {
					if p.ID == id && strings.EqualFold(p.Value, want) {
						return true
					}
				}
				return false
			}
		} else {
			return s.errorResponse(http.StatusBadRequest, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.")
		}
	}
	top := s.pageSize(req, s.opt.ListPageSize)
	if t := req.query.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > 1000 {
			return s.errorResponse(http.StatusBadRequest, "ErrorInvalidUrlQuery", "The value of $top must be between 1 and 1000.")
		}
		top = n
	}
	skip := 0
	if sk := req.query.Get("$skip"); sk != "" {
		n, err := strconv.Atoi(sk)
		if err != nil || n < 0 {
			return s.errorResponse(http.StatusBadRequest, "ErrorInvalidUrlQuery", "The value of $skip must be a non-negative integer.")
		}
		skip = n
	}
	var page []outlook.Entry
	more := false
	seen := 0
	err = s.mb.List(folder, func(c *outlook.Contact, photoHash string) bool {
		if match != nil && !match(c) {
			return true
		}
		seen++
		if seen <= skip {
			return true
		}
		if len(page) == top {
			more = true
			return false
		}
		page = append(page, outlook.Entry{Contact: c, PhotoHash: photoHash})
		return true
	})
	if err != nil {
		return s.fromError(err)
	}
	value := make([]json.RawMessage, 0, len(page))
	for _, e := range page {
		value = append(value, s.render(req, e, sel, ext, "", false))
	}
	body := map[string]any{"@odata.context": req.base + "/$metadata#users('me')/contacts", "value": value}
	if more {
		q := cloneQuery(req.query)
		q.Set("$skip", strconv.Itoa(skip+top))
		q.Set("$top", strconv.Itoa(top))
		body["@odata.nextLink"] = req.base + req.path + "?" + q.Encode()
	}
	res := jsonResponse(http.StatusOK, body)
	s.preferApplied(req, &res)
	return res
}

// contact serves one contact and its photo and move actions.
func (s *Server) contact(req *request, folder, id string, rest []string) response {
	if folder != "" {
		in, err := s.mb.FolderOf(id)
		if err != nil {
			return s.fromError(err)
		}
		if in != folder {
			return s.fromError(notFound())
		}
	}
	ifMatch := parseIfMatch(req.header.Get("If-Match"))
	switch {
	case len(rest) == 0:
		switch req.method {
		case http.MethodGet:
			sel, err := parseSelect(req.query.Get("$select"))
			if err != nil {
				return s.errorResponse(http.StatusBadRequest, "RequestBroker--ParseUri", err.Error())
			}
			ext, err := parseExpand(req.query.Get("$expand"))
			if err != nil {
				return s.errorResponse(http.StatusBadRequest, "RequestBroker--ParseUri", err.Error())
			}
			e, err := s.mb.Get(id)
			if err != nil {
				return s.fromError(err)
			}
			return s.entity(req, e, sel, ext)
		case http.MethodPatch:
			e, err := s.mb.Update(id, ifMatch, func(c *outlook.Contact) error { return outlook.Patch(c, req.body) })
			if err != nil {
				return s.fromError(err)
			}
			return s.entity(req, e, nil, nil)
		case http.MethodDelete:
			if err := s.mb.Delete(id, ifMatch); err != nil {
				return s.fromError(err)
			}
			return response{status: http.StatusNoContent, header: http.Header{}}
		}
		return methodNotAllowed()
	case len(rest) == 1 && rest[0] == "move":
		if req.method != http.MethodPost {
			return methodNotAllowed()
		}
		var body struct {
			DestinationID string `json:"destinationId"`
		}
		if err := json.Unmarshal(req.body, &body); err != nil || body.DestinationID == "" {
			return s.errorResponse(http.StatusBadRequest, "ErrorInvalidRequest", "The destinationId parameter is required.")
		}
		dest, err := s.folderID(body.DestinationID)
		if err != nil {
			return s.fromError(err)
		}
		e, err := s.mb.Move(id, dest)
		if err != nil {
			return s.fromError(err)
		}
		res := jsonResponse(http.StatusCreated, s.render(req, e, nil, nil, req.base+"/$metadata#users('me')/contacts/$entity", false))
		s.preferApplied(req, &res)
		return res
	case len(rest) == 1 && rest[0] == "photo":
		if req.method != http.MethodGet {
			return methodNotAllowed()
		}
		data, ctype, err := s.mb.Photo(id)
		if err != nil {
			return s.fromError(err)
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
		w, h := cfg.Width, cfg.Height
		if err != nil {
			w, h = 0, 0
		}
		e, _ := s.mb.Get(id)
		return jsonResponse(http.StatusOK, map[string]any{
			"@odata.context":          req.base + "/$metadata#users('me')/contacts('" + url.PathEscape(id) + "')/photo/$entity",
			"@odata.mediaContentType": ctype,
			"@odata.mediaEtag":        `"` + e.PhotoHash[:8] + `"`,
			"id":                      fmt.Sprintf("%dX%d", w, h),
			"width":                   w,
			"height":                  h,
		})
	case len(rest) == 2 && rest[0] == "photo" && rest[1] == "$value":
		switch req.method {
		case http.MethodGet:
			data, ctype, err := s.mb.Photo(id)
			if err != nil {
				return s.fromError(err)
			}
			h := http.Header{}
			h.Set("Content-Type", ctype)
			return response{status: http.StatusOK, header: h, body: data}
		case http.MethodPut, http.MethodPatch:
			if len(req.body) == 0 {
				return s.errorResponse(http.StatusBadRequest, "ErrorInvalidRequest", "The photo body is empty.")
			}
			if _, err := s.mb.SetPhoto(id, ifMatch, req.body, req.header.Get("Content-Type")); err != nil {
				return s.fromError(err)
			}
			return response{status: http.StatusOK, header: http.Header{}}
		case http.MethodDelete:
			if _, err := s.mb.SetPhoto(id, ifMatch, nil, ""); err != nil {
				return s.fromError(err)
			}
			return response{status: http.StatusNoContent, header: http.Header{}}
		}
		return methodNotAllowed()
	}
	return s.errorResponse(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", rest[0]))
}

func (s *Server) entity(req *request, e outlook.Entry, sel map[string]bool, ext []string) response {
	res := jsonResponse(http.StatusOK, s.render(req, e, sel, ext, req.base+"/$metadata#users('me')/contacts/$entity", false))
	s.preferApplied(req, &res)
	return res
}

// delta serves a folder's delta round: $select on the first request, then
// the opaque $skiptoken/$deltatoken links, which carry the selection.
func (s *Server) delta(req *request, folder string) response {
	if req.method != http.MethodGet {
		return methodNotAllowed()
	}
	if req.query.Get("$expand") != "" {
		// Graph fails $expand on delta (graph-and-peers.md §1.6).
		return s.errorResponse(http.StatusNotImplemented, "NotImplemented", "This operation target is not yet supported.")
	}
	token := req.query.Get("$skiptoken")
	if token == "" {
		token = req.query.Get("$deltatoken")
	}
	selText := req.query.Get("$select")
	var mbToken string
	if token != "" {
		t, selEnc, _ := strings.Cut(token, "~")
		mbToken = t
		if selEnc != "" {
			b, err := base64.RawURLEncoding.DecodeString(selEnc)
			if err != nil {
				return s.fromError(&outlook.GraphError{Status: http.StatusGone, Code: outlook.CodeSyncStateNotFound, Message: "The delta token is not valid."})
			}
			selText = string(b)
		}
	}
	sel, err := parseSelect(selText)
	if err != nil {
		return s.errorResponse(http.StatusBadRequest, "RequestBroker--ParseUri", err.Error())
	}
	page, err := s.mb.Delta(folder, mbToken, min(s.pageSize(req, s.opt.DeltaPageSize), s.opt.MaxDeltaPage))
	if err != nil {
		return s.fromError(err)
	}
	value := make([]json.RawMessage, 0, len(page.Changed)+len(page.Removed))
	for _, e := range page.Changed {
		value = append(value, s.render(req, e, sel, nil, "", true))
	}
	for _, id := range page.Removed {
		j, _ := json.Marshal(map[string]any{"@odata.type": "#microsoft.graph.contact", "id": id, "@removed": map[string]string{"reason": "deleted"}})
		value = append(value, j)
	}
	suffix := ""
	if selText != "" {
		suffix = "~" + base64.RawURLEncoding.EncodeToString([]byte(selText))
	}
	link := req.base + "/me/contactFolders('" + url.PathEscape(folder) + "')/contacts/delta?"
	body := map[string]any{"@odata.context": req.base + "/$metadata#Collection(contact)", "value": value}
	if page.SkipToken != "" {
		body["@odata.nextLink"] = link + "$skiptoken=" + url.QueryEscape(page.SkipToken+suffix)
	} else {
		body["@odata.deltaLink"] = link + "$deltatoken=" + url.QueryEscape(page.DeltaToken+suffix)
	}
	res := jsonResponse(http.StatusOK, body)
	s.preferApplied(req, &res)
	return res
}

// pageSize honours Prefer: odata.maxpagesize=N.
func (s *Server) pageSize(req *request, def int) int {
	if n, ok := preference(req.header, "odata.maxpagesize"); ok {
		if v, err := strconv.Atoi(n); err == nil && v > 0 {
			return min(v, 1000)
		}
	}
	return def
}

// preferApplied tells the client which preferences were honoured.
func (s *Server) preferApplied(req *request, res *response) {
	var applied []string
	if v, ok := preference(req.header, "odata.maxpagesize"); ok {
		applied = append(applied, "odata.maxpagesize="+v)
	}
	if v, ok := preference(req.header, "IdType"); ok && strings.Trim(v, `"`) == "ImmutableId" {
		applied = append(applied, `IdType="ImmutableId"`)
	}
	if len(applied) > 0 {
		res.header.Set("Preference-Applied", strings.Join(applied, ", "))
	}
}

// preference returns the value of a Prefer header entry.
func preference(h http.Header, name string) (string, bool) {
	for _, line := range h.Values("Prefer") {
		for _, p := range strings.Split(line, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), name) {
				return strings.TrimSpace(v), true
			}
		}
	}
	return "", false
}

func parseIfMatch(v string) string {
	v = strings.TrimSpace(v)
	if v == "" || v == "*" {
		return ""
	}
	v = strings.TrimPrefix(v, "W/")
	return strings.Trim(v, `"`)
}

func notFound() error {
	return &outlook.GraphError{Status: http.StatusNotFound, Code: outlook.CodeItemNotFound, Message: "The specified object was not found in the store."}
}

func cloneQuery(q url.Values) url.Values {
	c := url.Values{}
	for k, v := range q {
		c[k] = append([]string(nil), v...)
	}
	return c
}

func errorBodyNow(status int, code, message string) response {
	return errorBody(status, code, message, timeNow())
}
