package sandbox_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/graph/sandbox"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/outlook"
)

type env struct {
	t   *testing.T
	srv *httptest.Server
	sb  *sandbox.Server
	mb  *outlook.Mailbox
}

func newEnv(t *testing.T, opt sandbox.Options) *env {
	t.Helper()
	mb := outlook.NewMemory()
	sb := sandbox.NewServer(mb, opt)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, sb: sb, mb: mb}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		tb.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

func (e *env) do(method, path string, body any, headers ...string) reply {
	e.t.Helper()
	r, err := e.try(method, path, body, headers...)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (e *env) try(method, path string, body any, headers ...string) (reply, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	u := path
	if !strings.HasPrefix(path, "http") {
		u = e.srv.URL + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Authorization", "Bearer test-token")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		return reply{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return reply{status: res.StatusCode, header: res.Header, body: b}, err
}

func wantStatus(tb testing.TB, r reply, status int) {
	tb.Helper()
	if r.status != status {
		tb.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
}

// wantError checks Graph's error envelope.
func wantError(tb testing.TB, r reply, status int, code string) map[string]any {
	tb.Helper()
	wantStatus(tb, r, status)
	m := r.json(tb)
	e, ok := m["error"].(map[string]any)
	if !ok {
		tb.Fatalf("no error object: %s", r.body)
	}
	if e["code"] != code {
		tb.Errorf("error code %v, want %s", e["code"], code)
	}
	if s, _ := e["message"].(string); s == "" {
		tb.Error("error without a message")
	}
	return e
}

func testdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.Shared(tb, "testdata", "graph"), name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func keys(m map[string]any) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

func TestAuth(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	r := e.do("GET", "/v1.0/me/contacts", nil, "Authorization", "")
	wantError(t, r, 401, "InvalidAuthenticationToken")
	r = e.do("GET", "/v1.0/me/contacts", nil, "Authorization", "Basic abc")
	wantStatus(t, r, 401)
	r = e.do("GET", "/v1.0/me/contacts", nil, "Authorization", "Bearer anything-at-all")
	wantStatus(t, r, 200)
	r = e.do("GET", "/beta/me/contacts", nil)
	wantStatus(t, r, 404)
}

func TestContactCRUD(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	r := e.do("POST", "/v1.0/me/contacts", testdata(t, "contact-create.request.json"))
	wantStatus(t, r, 201)
	created := r.json(t)
	var docResp map[string]any
	json.Unmarshal(testdata(t, "contact-create.response.json"), &docResp)
	for _, k := range keys(docResp) {
		if _, ok := created[k]; !ok {
			t.Errorf("create response lacks %q, which Graph's example has", k)
		}
	}
	if created["displayName"] != "Pavel Bansky" {
		t.Errorf("displayName %v", created["displayName"])
	}
	id := created["id"].(string)
	if id == "" || id == "id-value" {
		t.Fatalf("id %q", id)
	}

	// a full GET has exactly the properties of Graph's GET example
	r = e.do("GET", "/v1.0/me/contacts/"+url.PathEscape(id), nil)
	wantStatus(t, r, 200)
	got := r.json(t)
	var docGet map[string]any
	json.Unmarshal(testdata(t, "contact-get.response.json"), &docGet)
	if diff := cmp.Diff(keys(docGet), keys(got)); diff != "" {
		t.Errorf("GET properties differ from Graph's example (-graph +sandbox):\n%s", diff)
	}
	kind := func(v any) string {
		switch v.(type) {
		case nil:
			return "null"
		case string:
			return "string"
		case []any:
			return "array"
		case map[string]any:
			return "object"
		}
		return fmt.Sprintf("%T", v)
	}
	for k, dv := range docGet {
		// unset properties look as in Graph's example; set ones match its type
		if kd, kg := kind(dv), kind(got[k]); kd != kg && !(kd == "null" && kg == "string") {
			t.Errorf("%s is %s, Graph's example has %s", k, kg, kd)
		}
	}
	if got["homeAddress"] == nil || got["middleName"] != nil {
		t.Errorf("unset properties rendered as %v / %v, want {} / null", got["homeAddress"], got["middleName"])
	}
	ck := got["changeKey"].(string)
	if got["@odata.etag"] != `W/"`+ck+`"` {
		t.Errorf("etag %v for changeKey %s", got["@odata.etag"], ck)
	}

	// PATCH with Graph's update example: the address is set, the rest kept
	r = e.do("PATCH", "/v1.0/me/contacts/"+id, testdata(t, "contact-update.request.json"))
	wantStatus(t, r, 200)
	upd := r.json(t)
	if upd["givenName"] != "Pavel" || upd["homeAddress"].(map[string]any)["city"] != "Seattle" || upd["changeKey"] == ck {
		t.Errorf("after PATCH: %v", upd)
	}
	// a structured property is replaced whole
	r = e.do("PATCH", "/v1.0/me/contacts/"+id, `{"homeAddress":{"city":"Praha"}}`)
	if a := r.json(t)["homeAddress"].(map[string]any); a["street"] != nil || a["city"] != "Praha" {
		t.Errorf("homeAddress after partial PATCH: %v", a)
	}
	// stale If-Match
	r = e.do("PATCH", "/v1.0/me/contacts/"+id, `{"surname":"X"}`, "If-Match", `W/"`+ck+`"`)
	wantError(t, r, 412, outlook.CodeIrresolvableConflict)
	cur := e.do("GET", "/v1.0/me/contacts/"+id+"?$select=surname", nil).json(t)
	if diff := cmp.Diff([]string{"@odata.context", "@odata.etag", "id", "surname"}, keys(cur)); diff != "" {
		t.Errorf("$select keys (-want +got): %s", diff)
	}
	r = e.do("PATCH", "/v1.0/me/contacts/"+id, `{"surname":"X"}`, "If-Match", cur["@odata.etag"].(string))
	wantStatus(t, r, 200)
	// limits
	r = e.do("PATCH", "/v1.0/me/contacts/"+id, `{"businessPhones":["1","2","3"]}`)
	er := wantError(t, r, 400, outlook.CodeInvalidArgument)
	if er["message"] != "The multi value property BusinessPhones has 3 entries, that exceeds the max allowed value of 2" {
		t.Errorf("message %q", er["message"])
	}
	r = e.do("POST", "/v1.0/me/contacts", `{"emailAddresses":[{"address":"a"},{"address":"b"},{"address":"c"},{"address":"d"}]}`)
	wantError(t, r, 400, outlook.CodeInvalidArgument)
	r = e.do("PATCH", "/v1.0/me/contacts/"+id, `{"favouriteColour":"red"}`)
	wantStatus(t, r, 400)
	r = e.do("GET", "/v1.0/me/contacts/"+id+"?$select=nope", nil)
	wantStatus(t, r, 400)
	// delete
	r = e.do("DELETE", "/v1.0/me/contacts/"+id, nil)
	wantStatus(t, r, 204)
	r = e.do("GET", "/v1.0/me/contacts/"+id, nil)
	wantError(t, r, 404, outlook.CodeItemNotFound)
	r = e.do("DELETE", "/v1.0/me/contacts/"+id, nil)
	wantStatus(t, r, 404)
}

func TestExtendedProperties(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	body := map[string]any{
		"givenName": "Ext",
		"singleValueExtendedProperties": []map[string]string{
			{"id": outlook.PropBusinessFax, "value": "+1 555 0100"},
			{"id": outlook.PropCRMGUID, "value": "crm-guid-1"},
		},
	}
	r := e.do("POST", "/v1.0/me/contacts", body)
	wantStatus(t, r, 201)
	c := r.json(t)
	if _, ok := c["singleValueExtendedProperties"]; ok {
		t.Error("POST response includes extended properties; Graph's does not")
	}
	id := c["id"].(string)
	filter := fmt.Sprintf("singleValueExtendedProperties($filter=id eq '%s' or id eq '%s' or id eq '%s')", outlook.PropBusinessFax, outlook.PropOtherPhone, outlook.PropCRMGUID)
	r = e.do("GET", "/v1.0/me/contacts/"+id+"?$expand="+url.QueryEscape(filter), nil)
	wantStatus(t, r, 200)
	got := r.json(t)
	want := []any{
		map[string]any{"id": outlook.PropBusinessFax, "value": "+1 555 0100"},
		map[string]any{"id": outlook.PropCRMGUID, "value": "crm-guid-1"},
	}
	if diff := cmp.Diff(want, got["singleValueExtendedProperties"]); diff != "" {
		t.Errorf("expanded (-want +got):\n%s", diff)
	}
	if _, ok := got["singleValueExtendedProperties@odata.context"]; !ok {
		t.Error("no singleValueExtendedProperties@odata.context")
	}
	// PATCH merges by id
	r = e.do("PATCH", "/v1.0/me/contacts/"+id, `{"singleValueExtendedProperties":[{"id":"String 0x3A1F","value":"other"}]}`)
	wantStatus(t, r, 200)
	got = e.do("GET", "/v1.0/me/contacts/"+id+"?$expand="+url.QueryEscape(filter), nil).json(t)
	if n := len(got["singleValueExtendedProperties"].([]any)); n != 3 {
		t.Errorf("%d extended properties after PATCH, want 3", n)
	}
	// find by the CRM tag
	f := fmt.Sprintf("singleValueExtendedProperties/Any(ep: ep/id eq '%s' and ep/value eq 'CRM-GUID-1')", outlook.PropCRMGUID)
	r = e.do("GET", "/v1.0/me/contacts?$filter="+url.QueryEscape(f), nil)
	if v := r.json(t)["value"].([]any); len(v) != 1 {
		t.Errorf("filter by extended property found %d", len(v))
	}
	r = e.do("GET", "/v1.0/me/contacts/"+id+"?$expand=singleValueExtendedProperties", nil)
	wantStatus(t, r, 400)
}

func TestListFilterPaging(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	for i := range 25 {
		r := e.do("POST", "/v1.0/me/contacts", map[string]any{"givenName": fmt.Sprint(i), "emailAddresses": []map[string]string{{"address": fmt.Sprintf("p%d@x.example", i)}}})
		wantStatus(t, r, 201)
	}
	r := e.do("GET", "/v1.0/me/contacts?$filter="+url.QueryEscape("emailAddresses/any(a:a/address eq 'P7@X.example')"), nil)
	if v := r.json(t)["value"].([]any); len(v) != 1 || v[0].(map[string]any)["givenName"] != "7" {
		t.Errorf("email filter: %v", v)
	}
	wantStatus(t, e.do("GET", "/v1.0/me/contacts?$filter="+url.QueryEscape("givenName eq '7'"), nil), 400)
	// default page of 10, then follow nextLink
	var names []string
	link := "/v1.0/me/contacts?$select=givenName"
	pages := 0
	for link != "" {
		m := e.do("GET", link, nil).json(t)
		pages++
		for _, v := range m["value"].([]any) {
			names = append(names, v.(map[string]any)["givenName"].(string))
		}
		link, _ = m["@odata.nextLink"].(string)
	}
	if len(names) != 25 || pages != 3 {
		t.Errorf("listed %d contacts in %d pages", len(names), pages)
	}
	m := e.do("GET", "/v1.0/me/contacts?$top=100", nil).json(t)
	if len(m["value"].([]any)) != 25 {
		t.Errorf("$top=100 gave %d", len(m["value"].([]any)))
	}
}

func TestPhoto(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	id := e.do("POST", "/v1.0/me/contacts", `{"givenName":"P"}`).json(t)["id"].(string)
	p := "/v1.0/me/contacts/" + id + "/photo/$value"
	wantError(t, e.do("GET", p, nil), 404, outlook.CodeItemNotFound)
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{1}, 100)...)
	r := e.do("PUT", p, png, "Content-Type", "image/png")
	wantStatus(t, r, 200)
	r = e.do("GET", p, nil)
	wantStatus(t, r, 200)
	if !bytes.Equal(r.body, png) || r.header.Get("Content-Type") != "image/png" {
		t.Errorf("photo back: %d bytes, %s", len(r.body), r.header.Get("Content-Type"))
	}
	r = e.do("PATCH", p, make([]byte, outlook.MaxPhotoBytes+1), "Content-Type", "image/jpeg")
	wantStatus(t, r, 413)
	r = e.do("PUT", p, []byte("plain text"), "Content-Type", "text/plain")
	wantStatus(t, r, 400)
	r = e.do("GET", "/v1.0/me/contacts/"+id+"/photo", nil)
	if m := r.json(t); m["@odata.mediaContentType"] != "image/png" {
		t.Errorf("photo metadata %v", m)
	}
	hasPicture := func() any {
		q := "/v1.0/me/contacts/" + id + "?$expand=" + url.QueryEscape("singleValueExtendedProperties($filter=id eq '"+sandbox.PropHasPicture+"')")
		props, _ := e.do("GET", q, nil).json(t)["singleValueExtendedProperties"].([]any)
		if len(props) != 1 {
			t.Fatalf("PidLidHasPicture not expanded: %v", props)
		}
		return props[0].(map[string]any)["value"]
	}
	if v := hasPicture(); v != "true" {
		t.Errorf("PidLidHasPicture with a photo = %v, want true", v)
	}
	wantStatus(t, e.do("DELETE", p, nil), 204)
	wantStatus(t, e.do("GET", p, nil), 404)
	if v := hasPicture(); v != "false" {
		t.Errorf("PidLidHasPicture without a photo = %v, want false", v)
	}
}

func TestFoldersMoveDelta(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	r := e.do("GET", "/v1.0/me/contactFolders", nil)
	fs := r.json(t)["value"].([]any)
	if len(fs) != 1 || fs[0].(map[string]any)["displayName"] != "Contacts" {
		t.Fatalf("folders %v", fs)
	}
	root := fs[0].(map[string]any)["id"].(string)
	r = e.do("POST", "/v1.0/me/contactFolders", testdata(t, "contactfolder-create.request.json"))
	wantStatus(t, r, 201)
	var docFolder map[string]any
	json.Unmarshal(testdata(t, "contactfolder-create.response.json"), &docFolder)
	nf := r.json(t)
	for _, k := range keys(docFolder) {
		if _, ok := nf[k]; !ok {
			t.Errorf("folder create response lacks %q", k)
		}
	}
	if nf["parentFolderId"] != root {
		t.Errorf("new folder's parent %v, want the default folder", nf["parentFolderId"])
	}
	wantStatus(t, e.do("POST", "/v1.0/me/contactFolders", testdata(t, "contactfolder-create.request.json")), 409)
	dup := e.do("POST", "/v1.0/me/contactFolders", `{"displayName":"Duplicate contacts"}`).json(t)["id"].(string)
	r = e.do("GET", "/v1.0/me/contactFolders?$filter="+url.QueryEscape("displayName eq 'Duplicate contacts'"), nil)
	if v := r.json(t)["value"].([]any); len(v) != 1 || v[0].(map[string]any)["id"] != dup {
		t.Errorf("folder filter: %v", v)
	}
	wantStatus(t, e.do("GET", "/v1.0/me/contactFolders?$filter="+url.QueryEscape("id eq 'x'"), nil), 400)
	if f := e.do("GET", "/v1.0/me/contactFolders/contacts", nil).json(t); f["id"] != root {
		t.Errorf("well-known contacts folder: %v", f)
	}

	var ids []string
	for i := range 5 {
		r := e.do("POST", "/v1.0/me/contactFolders/"+root+"/contacts", map[string]string{"givenName": fmt.Sprint("c", i)})
		wantStatus(t, r, 201)
		ids = append(ids, r.json(t)["id"].(string))
	}
	round := func(link string) (changed []map[string]any, removed []string, next string) {
		t.Helper()
		for {
			r := e.do("GET", link, nil, "Prefer", `odata.maxpagesize=2, IdType="ImmutableId"`)
			wantStatus(t, r, 200)
			if !strings.Contains(r.header.Get("Preference-Applied"), "odata.maxpagesize=2") {
				t.Errorf("Preference-Applied %q", r.header.Get("Preference-Applied"))
			}
			m := r.json(t)
			v := m["value"].([]any)
			if len(v) > 2 {
				t.Fatalf("page of %d with maxpagesize=2", len(v))
			}
			for _, x := range v {
				o := x.(map[string]any)
				if rm, ok := o["@removed"]; ok {
					if rm.(map[string]any)["reason"] != "deleted" {
						t.Errorf("@removed %v", rm)
					}
					removed = append(removed, o["id"].(string))
				} else {
					changed = append(changed, o)
				}
			}
			if nl, ok := m["@odata.nextLink"].(string); ok {
				link = nl
				continue
			}
			return changed, removed, m["@odata.deltaLink"].(string)
		}
	}
	changed, removed, delta := round("/v1.0/me/contactFolders/" + root + "/contacts/delta?$select=givenName,surname")
	if len(changed) != 5 || len(removed) != 0 {
		t.Fatalf("initial round: %d changed %d removed", len(changed), len(removed))
	}
	if diff := cmp.Diff([]string{"@odata.etag", "@odata.type", "givenName", "id", "surname"}, keys(changed[0])); diff != "" {
		t.Errorf("delta item keys (-want +got): %s", diff)
	}
	// no change
	if c, rm, _ := round(delta); len(c)+len(rm) != 0 {
		t.Errorf("no-change round: %d %d", len(c), len(rm))
	}
	// update, delete, move
	wantStatus(t, e.do("PATCH", "/v1.0/me/contacts/"+ids[0], `{"surname":"S"}`), 200)
	wantStatus(t, e.do("DELETE", "/v1.0/me/contactFolders/"+root+"/contacts/"+ids[1], nil), 204)
	r = e.do("POST", "/v1.0/me/contacts/"+ids[2]+"/move", map[string]string{"destinationId": dup})
	wantStatus(t, r, 201)
	if r.json(t)["id"] != ids[2] {
		t.Error("move changed the immutable id")
	}
	changed, removed, _ = round(delta)
	sort.Strings(removed)
	want := []string{ids[1], ids[2]}
	sort.Strings(want)
	if len(changed) != 1 || changed[0]["surname"] != "S" || changed[0]["givenName"] != "c0" {
		t.Errorf("changed after update: %v", changed)
	}
	if diff := cmp.Diff(want, removed); diff != "" {
		t.Errorf("removed (-want +got): %s", diff)
	}
	dc, _, _ := round("/v1.0/me/contactFolders/" + dup + "/contacts/delta")
	if len(dc) != 1 || dc[0]["id"] != ids[2] {
		t.Errorf("duplicates folder delta: %v", dc)
	}
	// the moved contact is not in the root folder any more
	wantStatus(t, e.do("GET", "/v1.0/me/contactFolders/"+root+"/contacts/"+ids[2], nil), 404)
	// $expand on delta fails as Graph does
	r = e.do("GET", "/v1.0/me/contactFolders/"+root+"/contacts/delta?$expand="+url.QueryEscape("singleValueExtendedProperties($filter=id eq 'String 0x3A24')"), nil)
	var doc map[string]any
	json.Unmarshal(testdata(t, "delta-unsupported-property.501.response.json"), &doc)
	er := wantError(t, r, 501, doc["error"].(map[string]any)["code"].(string))
	if er["message"] != doc["error"].(map[string]any)["message"] {
		t.Errorf("501 message %v", er["message"])
	}
	// a bad token
	wantError(t, e.do("GET", "/v1.0/me/contactFolders/"+root+"/contacts/delta?$deltatoken=xyz", nil), 410, outlook.CodeSyncStateNotFound)
}

type batchReply struct {
	Responses []struct {
		ID      string            `json:"id"`
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	} `json:"responses"`
}

func (e *env) batch(reqs []map[string]any) (reply, batchReply) {
	e.t.Helper()
	r := e.do("POST", "/v1.0/$batch", map[string]any{"requests": reqs})
	var br batchReply
	if r.status == 200 {
		if err := json.Unmarshal(r.body, &br); err != nil {
			e.t.Fatalf("batch reply: %v", err)
		}
	}
	return r, br
}

func TestBatch(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	var reqs []map[string]any
	for i := range 21 {
		reqs = append(reqs, map[string]any{"id": fmt.Sprint(i), "method": "POST", "url": "/me/contacts",
			"headers": map[string]string{"Content-Type": "application/json"}, "body": map[string]string{"givenName": fmt.Sprint(i)}})
	}
	r, _ := e.batch(reqs)
	wantError(t, r, 400, "BadRequest")
	if e.mb.Count("") != 0 {
		t.Fatal("a refused batch wrote")
	}
	r, br := e.batch(reqs[:20])
	wantStatus(t, r, 200)
	if len(br.Responses) != 20 {
		t.Fatalf("%d responses", len(br.Responses))
	}
	ids := map[string]string{}
	for _, x := range br.Responses {
		if x.Status != 201 {
			t.Errorf("inner %s status %d: %s", x.ID, x.Status, x.Body)
		}
		var c map[string]any
		json.Unmarshal(x.Body, &c)
		ids[x.ID] = c["id"].(string)
		if c["givenName"] != x.ID {
			t.Errorf("response %s carries contact %v", x.ID, c["givenName"])
		}
	}
	if e.mb.Count("") != 20 {
		t.Errorf("mailbox holds %d", e.mb.Count(""))
	}
	// dependsOn: a failure gives 424 to its dependents; photo as base64
	png := base64.StdEncoding.EncodeToString(append([]byte("\x89PNG\r\n\x1a\n"), 1, 2, 3))
	r, br = e.batch([]map[string]any{
		{"id": "1", "method": "PUT", "url": "/me/contacts/" + ids["0"] + "/photo/$value", "headers": map[string]string{"Content-Type": "image/png"}, "body": png},
		{"id": "2", "method": "GET", "url": "/me/contacts/" + ids["0"] + "?$select=givenName", "dependsOn": []string{"1"}},
		{"id": "3", "method": "DELETE", "url": "/me/contacts/nope"},
		{"id": "4", "method": "GET", "url": "/me/contacts/" + ids["1"], "dependsOn": []string{"3"}},
		{"id": "5", "method": "GET", "url": "/me/contacts/" + ids["0"] + "/photo/$value", "dependsOn": []string{"1"}},
	})
	wantStatus(t, r, 200)
	status := map[string]int{}
	for _, x := range br.Responses {
		status[x.ID] = x.Status
		if x.ID == "5" {
			var s string
			json.Unmarshal(x.Body, &s)
			if b, _ := base64.StdEncoding.DecodeString(s); len(b) != 11 {
				t.Errorf("photo in batch: %q", s)
			}
		}
	}
	if diff := cmp.Diff(map[string]int{"1": 200, "2": 200, "3": 404, "4": 424, "5": 200}, status); diff != "" {
		t.Errorf("statuses (-want +got): %s", diff)
	}
	// duplicate ids, cycles
	r, _ = e.batch([]map[string]any{{"id": "1", "method": "GET", "url": "/me/contacts"}, {"id": "1", "method": "GET", "url": "/me/contacts"}})
	wantStatus(t, r, 400)
	r, _ = e.batch([]map[string]any{{"id": "1", "method": "GET", "url": "/me/contacts", "dependsOn": []string{"2"}}, {"id": "2", "method": "GET", "url": "/me/contacts", "dependsOn": []string{"1"}}})
	wantStatus(t, r, 400)
	st := e.sb.Stats()
	if st.Batches != 5 || st.BatchItems != 25 {
		t.Errorf("stats %+v", st)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	e := newEnv(t, sandbox.Options{Latency: time.Second})
	var wg sync.WaitGroup
	statuses := make([]int, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e.do("GET", "/v1.0/me/contacts", nil).status
		}()
	}
	// wait until the four hold their slots (they sleep out the latency)
	for deadline := time.Now().Add(10 * time.Second); e.sb.Stats().Operations < 4; {
		if time.Now().After(deadline) {
			t.Fatal("the four requests never got their slots")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for range 2 {
		r := e.do("GET", "/v1.0/me/contacts", nil)
		er := wantError(t, r, 429, "ApplicationThrottled")
		if !strings.Contains(er["message"].(string), "MailboxConcurrency") || r.header.Get("Retry-After") == "" {
			t.Errorf("429: %v, Retry-After %q", er, r.header.Get("Retry-After"))
		}
	}
	wg.Wait()
	if diff := cmp.Diff([]int{200, 200, 200, 200}, statuses); diff != "" {
		t.Errorf("the four admitted requests (-want +got): %s", diff)
	}
	if st := e.sb.Stats(); st.Throttled != 2 {
		t.Errorf("throttled %d, want 2", st.Throttled)
	}
	wantStatus(t, e.do("GET", "/v1.0/me/contacts", nil), 200)
}

func TestChildFoldersAndUsersAlias(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	root := e.mb.DefaultFolder()
	parent := e.do("POST", "/v1.0/me/contactFolders", `{"displayName":"Clients"}`).json(t)["id"].(string)
	r := e.do("POST", "/v1.0/users/someone@contoso.example/contactFolders/"+parent+"/childFolders", testdata(t, "contactfolder-childfolders-create.request.json"))
	wantStatus(t, r, 201)
	child := r.json(t)
	if child["parentFolderId"] != parent {
		t.Errorf("child folder %v", child)
	}
	v := e.do("GET", "/v1.0/me/contactFolders/"+parent+"/childFolders", nil).json(t)["value"].([]any)
	if len(v) != 1 || v[0].(map[string]any)["id"] != child["id"] {
		t.Errorf("childFolders %v", v)
	}
	// a contact in the child folder, reached through the folder path
	c := e.do("POST", "/v1.0/me/contactFolders/"+child["id"].(string)+"/contacts", testdata(t, "contactfolder-contacts-create.request.json"))
	wantStatus(t, c, 201)
	cid := c.json(t)["id"].(string)
	if c.json(t)["parentFolderId"] != child["id"] {
		t.Errorf("created in %v", c.json(t)["parentFolderId"])
	}
	wantStatus(t, e.do("GET", "/v1.0/me/contactFolders/"+child["id"].(string)+"/contacts/"+cid, nil), 200)
	wantStatus(t, e.do("GET", "/v1.0/me/contactFolders/"+root+"/contacts/"+cid, nil), 404)
	wantStatus(t, e.do("GET", "/v1.0/users/x/contacts/"+cid, nil), 200)
	wantStatus(t, e.do("GET", "/v1.0/me/contactFolders/nope/contacts", nil), 404)
	wantStatus(t, e.do("PUT", "/v1.0/me/contacts/"+cid, `{}`), 405)
}

func TestBatchRunsAtMostFourAtOnce(t *testing.T) {
	e := newEnv(t, sandbox.Options{BatchItemLatency: 100 * time.Millisecond})
	var reqs []map[string]any
	for i := range 8 {
		reqs = append(reqs, map[string]any{"id": fmt.Sprint(i), "method": "GET", "url": "/me/contacts"})
	}
	start := time.Now()
	_, br := e.batch(reqs)
	for _, x := range br.Responses {
		if x.Status != 200 {
			t.Errorf("inner %s: %d", x.ID, x.Status)
		}
	}
	// 8 requests of 100 ms, 4 at a time, cannot take less than 200 ms.
	if el := time.Since(start); el < 200*time.Millisecond {
		t.Errorf("8 inner requests took %v: more than 4 ran at once", el)
	}
}

func TestRateLimit(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, sandbox.Options{RateLimit: 5, RateWindow: time.Minute, Now: clock})
	for range 3 {
		wantStatus(t, e.do("GET", "/v1.0/me/contacts", nil), 200)
	}
	_, br := e.batch([]map[string]any{
		{"id": "a", "method": "GET", "url": "/me/contacts"},
		{"id": "b", "method": "GET", "url": "/me/contacts"},
		{"id": "c", "method": "GET", "url": "/me/contacts"},
	})
	statuses := []int{}
	for _, x := range br.Responses {
		statuses = append(statuses, x.Status)
		if x.Status == 429 && x.Headers["Retry-After"] == "" {
			t.Error("inner 429 without Retry-After")
		}
	}
	sort.Ints(statuses)
	if diff := cmp.Diff([]int{200, 200, 429}, statuses); diff != "" {
		t.Errorf("batch statuses counted individually (-want +got): %s", diff)
	}
	r := e.do("GET", "/v1.0/me/contacts", nil)
	wantError(t, r, 429, outlook.CodeTooManyRequests)
	if r.header.Get("Retry-After") != "60" {
		t.Errorf("Retry-After %q, want 60", r.header.Get("Retry-After"))
	}
	mu.Lock()
	now = now.Add(61 * time.Second)
	mu.Unlock()
	wantStatus(t, e.do("GET", "/v1.0/me/contacts", nil), 200)
}

func TestFaults(t *testing.T) {
	faults := &outlook.Faults{}
	e := newEnv(t, sandbox.Options{Faults: faults})
	faults.Inject(2, outlook.Fault{Kind: outlook.FaultThrottle, RetryAfter: 2 * time.Second})
	for range 2 {
		r := e.do("GET", "/v1.0/me/contacts", nil)
		wantError(t, r, 429, outlook.CodeTooManyRequests)
		if r.header.Get("Retry-After") != "2" {
			t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
		}
	}
	faults.Inject(1, outlook.Fault{Kind: outlook.FaultServerError})
	wantStatus(t, e.do("GET", "/v1.0/me/contacts", nil), 503)
	faults.Inject(1, outlook.Fault{Kind: outlook.FaultDrop})
	if _, err := e.try("POST", "/v1.0/me/contacts", `{"givenName":"dropped"}`); err == nil {
		t.Error("dropped connection answered")
	}
	if e.mb.Count("") != 0 {
		t.Error("a dropped request wrote")
	}
	faults.Inject(1, outlook.Fault{Kind: outlook.FaultLostResponse})
	wantStatus(t, e.do("GET", "/v1.0/me/contacts", nil), 200) // reads pass
	if _, err := e.try("POST", "/v1.0/me/contacts", `{"givenName":"lost"}`); err == nil {
		t.Error("lost response answered")
	}
	if e.mb.Count("") != 1 {
		t.Errorf("the write whose response was lost did not happen: %d contacts", e.mb.Count(""))
	}
	faults.Inject(1, outlook.Fault{Kind: outlook.FaultTimeout, RetryAfter: 50 * time.Millisecond})
	if _, err := e.try("GET", "/v1.0/me/contacts", nil); err == nil {
		t.Error("timed-out request answered")
	}
	// inside a batch, a throttle fault is the inner request's 429
	faults.Inject(1, outlook.Fault{Kind: outlook.FaultThrottle})
	_, br := e.batch([]map[string]any{{"id": "1", "method": "GET", "url": "/me/contacts"}})
	if br.Responses[0].Status != 429 {
		t.Errorf("inner throttle: %d", br.Responses[0].Status)
	}
	if faults.Pending() != 0 {
		t.Errorf("%d faults not fired", faults.Pending())
	}
}

func TestServesPersistentMailbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.db")
	mb, err := outlook.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sandbox.NewServer(mb, sandbox.Options{}))
	e := &env{t: t, srv: srv, mb: mb}
	id := e.do("POST", "/v1.0/me/contacts", `{"givenName":"kept"}`).json(t)["id"].(string)
	srv.Close()
	mb.Close()

	mb, err = outlook.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	srv = httptest.NewServer(sandbox.NewServer(mb, sandbox.Options{}))
	defer srv.Close()
	e = &env{t: t, srv: srv, mb: mb}
	if got := e.do("GET", "/v1.0/me/contacts/"+id, nil).json(t); got["givenName"] != "kept" {
		t.Errorf("after restart: %v", got)
	}
}

// TestRenderStrings checks the hand-written JSON encoder on strings that
// need escaping: what the client decodes is what the mailbox holds.
func TestRenderStrings(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	for _, s := range []string{"plain", `quo"te\back`, "tab\tnl\ncr\r\x00\x1f", "Žluťoučký kůň 😀", "bad\xffutf8", "sep\u2028\u2029", "<html>&amp;"} {
		en, err := e.mb.Create("", &outlook.Contact{GivenName: s, PersonalNotes: s, EmailAddresses: []outlook.EmailAddress{{Address: s}}})
		if err != nil {
			t.Fatal(err)
		}
		r := e.do("GET", "/v1.0/me/contacts/"+url.PathEscape(en.Contact.ID), nil)
		var c outlook.Contact
		if err := json.Unmarshal(r.body, &c); err != nil {
			t.Fatalf("%q: invalid JSON: %v: %s", s, err, r.body)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if c.GivenName != want || c.PersonalNotes != want || c.EmailAddresses[0].Address != want {
			t.Errorf("%q came back as %q / %q / %q", s, c.GivenName, c.PersonalNotes, c.EmailAddresses[0].Address)
		}
	}
}

func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sandbox.Serve(ctx, ln, outlook.NewMemory(), sandbox.Options{}) }()
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/v1.0/me/contactFolders", nil)
	req.Header.Set("Authorization", "Bearer x")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("status %d", res.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop")
	}
}
