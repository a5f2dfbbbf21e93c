package graph_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/graph"
	"github.com/crmsync/crmsync/graph/sandbox"
	"github.com/crmsync/crmsync/outlook"
	"github.com/google/go-cmp/cmp"
)

// sandboxFixture is a sandbox mailbox served over real HTTP on loopback.
type sandboxFixture struct {
	mb  *outlook.Mailbox
	srv *sandbox.Server
	url string
}

func newSandbox(tb testing.TB, opt sandbox.Options) *sandboxFixture {
	tb.Helper()
	mb := outlook.NewMemory()
	srv := sandbox.NewServer(mb, opt)
	hs := httptest.NewServer(srv)
	tb.Cleanup(hs.Close)
	return &sandboxFixture{mb: mb, srv: srv, url: hs.URL}
}

// recorder keeps every request body the client sends, $batch included.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	sent []sentRequest
}

type sentRequest struct {
	method, url string
	header      http.Header
	body        []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.mu.Lock()
	r.sent = append(r.sent, sentRequest{req.Method, req.URL.String(), req.Header.Clone(), body})
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

// writes returns every contact write body sent (POST/PATCH), unwrapping
// $batch requests.
func (r *recorder) writes(tb testing.TB) []sentRequest {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sentRequest
	for _, s := range r.sent {
		if strings.HasSuffix(s.url, "/$batch") {
			var b struct {
				Requests []struct {
					Method  string            `json:"method"`
					URL     string            `json:"url"`
					Headers map[string]string `json:"headers"`
					Body    json.RawMessage   `json:"body"`
				} `json:"requests"`
			}
			if err := json.Unmarshal(s.body, &b); err != nil {
				tb.Fatalf("bad $batch body: %v", err)
			}
			for _, in := range b.Requests {
				h := http.Header{}
				for k, v := range in.Headers {
					h.Set(k, v)
				}
				out = append(out, sentRequest{in.Method, in.URL, h, in.Body})
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

func testPNG(tb testing.TB, w, h int, seed uint8) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x) + seed, uint8(y) ^ seed, uint8(x*y) + seed, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fullFields fills every synced field with a distinct value.
func fullFields(n int, photo []byte) map[string]string {
	f := map[string]string{}
	for _, k := range engine.SyncFields {
		f[k] = fmt.Sprintf("%s value %d", k, n)
	}
	f[crm.FieldEmail1] = fmt.Sprintf("first%d@example.com", n)
	f[crm.FieldEmail2] = fmt.Sprintf("second%d@example.com", n)
	f[crm.FieldEmail3] = fmt.Sprintf("third%d@example.com", n)
	f[crm.FieldNote] = fmt.Sprintf("A note\nwith two lines, %d", n)
	delete(f, crm.FieldPicture)
	if photo != nil {
		f[crm.FieldPicture] = hashOf(photo)
	}
	return f
}

func apply(tb testing.TB, cl *graph.Client, ops ...engine.Op) []engine.Result {
	tb.Helper()
	res, err := cl.Apply(context.Background(), ops)
	if err != nil {
		tb.Fatalf("Apply: %v", err)
	}
	if len(res) != len(ops) {
		tb.Fatalf("%d results for %d ops", len(res), len(ops))
	}
	return res
}

func mustOK(tb testing.TB, res []engine.Result) {
	tb.Helper()
	for i, r := range res {
		if r.Err != nil {
			tb.Fatalf("op %d: %v", i, r.Err)
		}
	}
}

func TestEveryFieldRoundTrips(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Options{})
	rec := &recorder{next: http.DefaultTransport}
	cl := newTestClient(t, sb.url, func(c *graph.Config) { c.HTTPClient = &http.Client{Transport: rec} })
	photo := testPNG(t, 64, 48, 1)
	fields := fullFields(1, photo)
	guid := "6f1c2b0e-1d2a-4c3b-9e8f-0a1b2c3d4e5f"
	res := apply(t, cl, engine.Op{Kind: engine.Create, CRMGUID: guid, Fields: fields, Photo: photo})
	mustOK(t, res)
	got := res[0].Record
	if diff := cmp.Diff(fields, got.Fields); diff != "" {
		t.Errorf("created record differs (-sent +got):\n%s", diff)
	}
	if got.CRMGUID != guid || got.ID == "" || got.Version == "" {
		t.Errorf("record identity: %+v", got)
	}

	// What the mailbox holds, through the model itself.
	e, err := sb.mb.Get(got.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Contact.Extended(outlook.PropBusinessFax) != fields[crm.FieldPhoneFax] || e.Contact.Extended(outlook.PropOtherPhone) != fields[crm.FieldPhoneOther] {
		t.Errorf("fax/other phone not stored as extended properties: %+v", e.Contact.SingleValueExtendedProperties)
	}
	if e.Contact.ChangeKey != got.Version {
		t.Errorf("record version %q, mailbox changeKey %q", got.Version, e.Contact.ChangeKey)
	}
	if p, _, err := sb.mb.Photo(got.ID); err != nil || !bytes.Equal(p, photo) {
		t.Errorf("photo not stored: %v", err)
	}

	// A fresh client (nothing remembered) reads it all back.
	fresh := newTestClient(t, sb.url, nil)
	recs, err := fresh.Get(context.Background(), []string{got.ID, "AAkALgmissing="})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("Get returned %d records", len(recs))
	}
	if diff := cmp.Diff(fields, recs[0].Fields); diff != "" {
		t.Errorf("Get differs (-sent +got):\n%s", diff)
	}
	if !bytes.Equal(recs[0].Photo, photo) || recs[0].CRMGUID != guid || recs[0].Version != got.Version {
		t.Errorf("Get: photo %d bytes, guid %q, version %q", len(recs[0].Photo), recs[0].CRMGUID, recs[0].Version)
	}
	cs, err := newTestClient(t, sb.url, nil).Changes(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if !cs.Complete || len(cs.Records) != 1 || cs.Cursor == "" {
		t.Fatalf("Changes(\"\") = complete %v, %d records, cursor %q", cs.Complete, len(cs.Records), cs.Cursor)
	}
	if diff := cmp.Diff(fields, cs.Records[0].Fields); diff != "" {
		t.Errorf("Changes differs (-sent +got):\n%s", diff)
	}
	found, err := fresh.FindByCRMGUID(context.Background(), []string{strings.ToUpper(guid), "00000000-0000-0000-0000-000000000000"})
	if err != nil || len(found) != 1 || found[0].ID != got.ID {
		t.Fatalf("FindByCRMGUID = %+v, %v", found, err)
	}
	for _, w := range rec.writes(t) {
		if w.method == "POST" && strings.HasSuffix(w.url, "/contacts") {
			var body map[string]any
			json.Unmarshal(w.body, &body)
			if body["displayName"] != "FirstName value 1 MiddleName value 1 LastName value 1 SuffixEn value 1" {
				t.Errorf("displayName sent = %v", body["displayName"])
			}
		}
	}
}

func TestUpdateSendsOnlyChangedProperties(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Options{})
	rec := &recorder{next: http.DefaultTransport}
	cl := newTestClient(t, sb.url, func(c *graph.Config) { c.HTTPClient = &http.Client{Transport: rec} })
	fields := fullFields(2, nil)
	created := apply(t, cl, engine.Op{Kind: engine.Create, CRMGUID: "a0000000-0000-0000-0000-000000000002", Fields: fields})[0].Record

	// Outlook holds more than the mapping carries: a nickname, a second
	// home phone, an e-mail display name. An update must keep them.
	e, err := sb.mb.Update(created.ID, "", func(c *outlook.Contact) error {
		c.NickName = "Nicky"
		c.HomePhones = append(c.HomePhones, "+420 2nd home")
		c.EmailAddresses[0].Name = "Jane Person"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A fresh client has not seen that version: it reads it first.
	cl2 := newTestClient(t, sb.url, func(c *graph.Config) { c.HTTPClient = &http.Client{Transport: rec} })
	rec.mu.Lock()
	rec.sent = nil
	rec.mu.Unlock()
	change := map[string]string{
		crm.FieldFirstName: "Janet",
		crm.FieldEmail1:    fields[crm.FieldEmail1], crm.FieldEmail2: "", crm.FieldEmail3: fields[crm.FieldEmail3],
		crm.FieldPhoneHome: "+420 new home",
		crm.FieldPhoneFax:  "",
	}
	res := apply(t, cl2, engine.Op{Kind: engine.Update, ID: created.ID, IfVersion: e.Contact.ChangeKey, Fields: change})
	mustOK(t, res)
	want := map[string]string{}
	for k, v := range fields {
		want[k] = v
	}
	for k, v := range change {
		if v == "" {
			delete(want, k)
		} else {
			want[k] = v
		}
	}
	if diff := cmp.Diff(want, res[0].Record.Fields); diff != "" {
		t.Errorf("updated record (-want +got):\n%s", diff)
	}
	after, _ := sb.mb.Get(created.ID)
	if after.Contact.NickName != "Nicky" || len(after.Contact.HomePhones) != 2 || after.Contact.HomePhones[1] != "+420 2nd home" ||
		after.Contact.EmailAddresses[0].Name != "Jane Person" {
		t.Errorf("values outside the mapping were lost: %+v", after.Contact)
	}
	if want := "Janet MiddleName value 2 LastName value 2 SuffixEn value 2"; after.Contact.DisplayName != want {
		t.Errorf("displayName = %q, want %q", after.Contact.DisplayName, want)
	}
	if after.Contact.ChangeKey != res[0].Record.Version {
		t.Errorf("record version %q, mailbox %q", res[0].Record.Version, after.Contact.ChangeKey)
	}
	var patches int
	for _, w := range rec.writes(t) {
		if w.method != "PATCH" {
			continue
		}
		patches++
		var body map[string]json.RawMessage
		if err := json.Unmarshal(w.body, &body); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k := range body {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		wantKeys := []string{"displayName", "emailAddresses", "givenName", "homePhones", "singleValueExtendedProperties"}
		if diff := cmp.Diff(wantKeys, keys); diff != "" {
			t.Errorf("PATCH properties (-want +got):\n%s", diff)
		}
		if got := w.header.Get("If-Match"); got != `W/"`+e.Contact.ChangeKey+`"` {
			t.Errorf("If-Match = %q", got)
		}
	}
	if patches != 1 {
		t.Errorf("%d PATCH requests, want 1", patches)
	}

	// A display name the user typed in Outlook survives an update.
	custom, err := sb.mb.Update(created.ID, "", func(c *outlook.Contact) error { c.DisplayName = "Boss"; return nil })
	if err != nil {
		t.Fatal(err)
	}
	staleKey := custom.Contact.ChangeKey
	mustOK(t, apply(t, newTestClient(t, sb.url, nil), engine.Op{Kind: engine.Update, ID: created.ID, IfVersion: staleKey,
		Fields: map[string]string{crm.FieldLastName: "Newname"}}))
	if now, _ := sb.mb.Get(created.ID); now.Contact.DisplayName != "Boss" || now.Contact.Surname != "Newname" {
		t.Errorf("after an update: displayName %q, surname %q", now.Contact.DisplayName, now.Contact.Surname)
	}

	// A stale version is a precondition failure; nothing is written.
	res = apply(t, cl2, engine.Op{Kind: engine.Update, ID: created.ID, IfVersion: staleKey, Fields: map[string]string{crm.FieldLastName: "Stale"}})
	if crm.ErrorCode(res[0].Err) != crm.EPRECONDITION || res[0].Record != nil {
		t.Fatalf("stale update: %+v", res[0])
	}
	if now, _ := sb.mb.Get(created.ID); now.Contact.Surname == "Stale" {
		t.Fatal("a stale update was written")
	}
	// Gone contacts are ENOTFOUND on update, and a delete of one succeeds.
	res = apply(t, cl2,
		engine.Op{Kind: engine.Update, ID: "AAkALgnothere=", Fields: map[string]string{crm.FieldLastName: "X"}},
		engine.Op{Kind: engine.Delete, ID: "AAkALgnothere="})
	if crm.ErrorCode(res[0].Err) != crm.ENOTFOUND || res[1].Err != nil {
		t.Fatalf("gone: %v / %v", res[0].Err, res[1].Err)
	}
}

// TestEmptyFolderListing: the first listing of an empty folder is the
// folder lookup and one delta page, and what is created afterwards comes
// in the next round.
func TestEmptyFolderListing(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Options{})
	cl := newTestClient(t, sb.url, nil)
	ctx := context.Background()
	cs, err := cl.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !cs.Complete || len(cs.Records) != 0 || cs.Cursor == "" || cl.Requests() != 2 {
		t.Fatalf("empty folder: complete %v, %d records, cursor %q, %d requests (want 2)", cs.Complete, len(cs.Records), cs.Cursor, cl.Requests())
	}
	created, err := sb.mb.Create("", &outlook.Contact{GivenName: "Later"})
	if err != nil {
		t.Fatal(err)
	}
	cs, err = cl.Changes(ctx, cs.Cursor)
	if err != nil || len(cs.Records) != 1 || cs.Records[0].ID != created.Contact.ID {
		t.Fatalf("after a create: %+v %v", cs.Records, err)
	}
}

// TestGoneFolder: a configured folder that no longer exists says so, and
// what to do.
func TestGoneFolder(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Options{})
	cl := newTestClient(t, sb.url, func(c *graph.Config) { c.FolderID = "AAMkADgone==" })
	_, err := cl.Changes(context.Background(), "")
	if crm.ErrorCode(err) != crm.ENOTFOUND || !strings.Contains(err.Error(), "outlook connect") {
		t.Fatalf("listing a gone folder: %v", err)
	}
}

// TestCappedDeltaPages: a mailbox that gives smaller delta pages than
// asked (Graph is reported to stop at 200) is followed page by page.
func TestCappedDeltaPages(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Options{MaxDeltaPage: 2})
	for i := range 5 {
		if _, err := sb.mb.Create("", &outlook.Contact{GivenName: fmt.Sprint("C", i)}); err != nil {
			t.Fatal(err)
		}
	}
	cl := newTestClient(t, sb.url, nil)
	cs, err := cl.Changes(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	// The folder, three delta pages of at most two, one listing page.
	if len(cs.Records) != 5 || cl.Requests() != 5 {
		t.Fatalf("%d records in %d requests, want 5 in 5", len(cs.Records), cl.Requests())
	}
}

func TestDeltaAfterCreateUpdateDeleteMove(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Options{})
	cl := newTestClient(t, sb.url, func(c *graph.Config) { c.PageSize = 3 })
	ctx := context.Background()
	var ops []engine.Op
	for i := range 7 {
		ops = append(ops, engine.Op{Kind: engine.Create, CRMGUID: fmt.Sprintf("b0000000-0000-0000-0000-00000000000%d", i), Fields: fullFields(10+i, nil)})
	}
	res := apply(t, cl, ops...)
	mustOK(t, res)
	cs, err := cl.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !cs.Complete || len(cs.Records) != 7 {
		t.Fatalf("first listing: complete %v, %d records", cs.Complete, len(cs.Records))
	}
	cursor := cs.Cursor

	// Nothing changed: an empty round.
	cs, err = cl.Changes(ctx, cursor)
	if err != nil || len(cs.Records)+len(cs.Deleted) != 0 || cs.Complete {
		t.Fatalf("idle round: %+v %v", cs, err)
	}
	cursor = cs.Cursor

	// Someone edits one contact in Outlook; the sync creates, deletes and
	// moves others.
	if _, err := sb.mb.Update(res[0].Record.ID, "", func(c *outlook.Contact) error { c.JobTitle = "Edited in Outlook"; return nil }); err != nil {
		t.Fatal(err)
	}
	out := apply(t, cl,
		engine.Op{Kind: engine.Create, CRMGUID: "c0000000-0000-0000-0000-000000000001", Fields: fullFields(30, nil)},
		engine.Op{Kind: engine.Update, ID: res[1].Record.ID, IfVersion: res[1].Record.Version, Fields: map[string]string{crm.FieldDepartment: "Changed by sync"}},
		engine.Op{Kind: engine.Delete, ID: res[2].Record.ID},
		engine.Op{Kind: engine.MoveToDuplicates, ID: res[3].Record.ID},
	)
	mustOK(t, out)
	cs, err = cl.Changes(ctx, cursor)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]engine.Record{}
	for _, r := range cs.Records {
		byID[r.ID] = r
	}
	if r, ok := byID[res[0].Record.ID]; !ok || r.Fields[crm.FieldJobTitle] != "Edited in Outlook" {
		t.Errorf("Outlook edit not listed: %+v", r)
	}
	if r, ok := byID[out[0].Record.ID]; !ok || r.CRMGUID != "c0000000-0000-0000-0000-000000000001" {
		t.Errorf("created contact not listed: %+v", r)
	}
	if r, ok := byID[res[1].Record.ID]; !ok || r.Fields[crm.FieldDepartment] != "Changed by sync" || r.Version != out[1].Record.Version {
		t.Errorf("updated contact: %+v", r)
	}
	deleted := append([]string(nil), cs.Deleted...)
	sort.Strings(deleted)
	wantDeleted := []string{res[2].Record.ID, res[3].Record.ID}
	sort.Strings(wantDeleted)
	if diff := cmp.Diff(wantDeleted, deleted); diff != "" {
		t.Errorf("Deleted (-want +got):\n%s", diff)
	}
	if len(cs.Records) != 3 || cs.Complete {
		t.Errorf("round: %d records, complete %v", len(cs.Records), cs.Complete)
	}

	// An unknown delta token restarts with a complete listing.
	bad := cs.Cursor[:strings.Index(cs.Cursor, "$deltatoken=")] + "$deltatoken=bogus"
	cs, err = cl.Changes(ctx, bad)
	if err != nil || !cs.Complete || len(cs.Records) != 6 {
		t.Fatalf("after a bad token: complete %v, %d records, %v", cs.Complete, len(cs.Records), err)
	}
	// A cursor pointing elsewhere is refused rather than followed.
	if _, err := cl.Changes(ctx, "http://127.0.0.1:1/v1.0/me/contactFolders/x/contacts/delta?$deltatoken=x"); crm.ErrorCode(err) != crm.EINVALID {
		t.Fatalf("foreign cursor: %v", err)
	}
}

func TestDuplicatesFolder(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Options{})
	cl := newTestClient(t, sb.url, nil)
	var ids []string
	for i := range 3 {
		c, err := sb.mb.Create("", &outlook.Contact{GivenName: fmt.Sprintf("Dup %d", i), EmailAddresses: []outlook.EmailAddress{{Address: fmt.Sprintf("d%d@example.com", i)}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.Contact.ID)
	}
	mustOK(t, apply(t, cl, engine.Op{Kind: engine.MoveToDuplicates, ID: ids[0]}))
	// A second client (a restart) finds the folder instead of making another.
	res := apply(t, newTestClient(t, sb.url, nil), engine.Op{Kind: engine.MoveToDuplicates, ID: ids[1]})
	mustOK(t, res)
	var dups []outlook.Folder
	for _, f := range sb.mb.Folders() {
		if f.DisplayName == graph.DuplicatesFolder {
			dups = append(dups, f)
		}
	}
	if len(dups) != 1 {
		t.Fatalf("%d %q folders", len(dups), graph.DuplicatesFolder)
	}
	for _, id := range ids[:2] {
		if in, _ := sb.mb.FolderOf(id); in != dups[0].ID {
			t.Errorf("contact %s not moved", id)
		}
	}
	if res[0].Record == nil || res[0].Record.ID != ids[1] {
		t.Errorf("move result: %+v (immutable ids keep the id)", res[0].Record)
	}
	if in, _ := sb.mb.FolderOf(ids[2]); in != sb.mb.DefaultFolder() {
		t.Error("an untouched contact moved")
	}
}

func TestPhotos(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Options{})
	cl := newTestClient(t, sb.url, nil)
	ctx := context.Background()
	p1, p2 := testPNG(t, 40, 40, 1), testPNG(t, 30, 50, 7)
	f := fullFields(40, p1)
	created := apply(t, cl, engine.Op{Kind: engine.Create, CRMGUID: "d0000000-0000-0000-0000-000000000001", Fields: f, Photo: p1})[0]
	if created.Err != nil || created.Record.Fields[crm.FieldPicture] != hashOf(p1) {
		t.Fatalf("create with photo: %+v", created)
	}
	// Change the photo, then clear it.
	up := apply(t, cl, engine.Op{Kind: engine.Update, ID: created.Record.ID, IfVersion: created.Record.Version,
		Fields: map[string]string{crm.FieldPicture: hashOf(p2)}, Photo: p2})[0]
	if up.Err != nil || up.Record.Fields[crm.FieldPicture] != hashOf(p2) {
		t.Fatalf("photo update: %+v", up)
	}
	if e, _ := sb.mb.Get(created.Record.ID); e.Contact.ChangeKey != up.Record.Version {
		t.Errorf("version after photo upload %q, mailbox %q", up.Record.Version, e.Contact.ChangeKey)
	}
	recs, err := newTestClient(t, sb.url, nil).Get(ctx, []string{created.Record.ID})
	if err != nil || len(recs) != 1 || !bytes.Equal(recs[0].Photo, p2) || recs[0].Fields[crm.FieldPicture] != hashOf(p2) {
		t.Fatalf("photo down: %v", err)
	}
	clear := apply(t, cl, engine.Op{Kind: engine.Update, ID: created.Record.ID, IfVersion: up.Record.Version, Fields: map[string]string{crm.FieldPicture: ""}})[0]
	if clear.Err != nil || clear.Record.Fields[crm.FieldPicture] != "" {
		t.Fatalf("photo clear: %+v", clear)
	}
	if _, _, err := sb.mb.Photo(created.Record.ID); err == nil {
		t.Fatal("photo still stored after clearing")
	}
	recs, err = newTestClient(t, sb.url, nil).Get(ctx, []string{created.Record.ID})
	if err != nil || len(recs) != 1 || recs[0].Photo != nil || recs[0].Fields[crm.FieldPicture] != "" {
		t.Fatalf("after clear: %+v %v", recs, err)
	}

	// Over 4 MB: downscaled, never dropped.
	big := noisePNG(t, 1400, 1000)
	if len(big) <= graph.MaxPhotoBytes {
		t.Fatalf("test photo only %d bytes", len(big))
	}
	res := apply(t, cl, engine.Op{Kind: engine.Create, CRMGUID: "d0000000-0000-0000-0000-000000000002",
		Fields: map[string]string{crm.FieldLastName: "Big", crm.FieldPicture: hashOf(big)}, Photo: big})[0]
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	stored, ct, err := sb.mb.Photo(res.Record.ID)
	if err != nil || len(stored) > graph.MaxPhotoBytes || ct != "image/jpeg" {
		t.Fatalf("big photo: %d bytes %s %v", len(stored), ct, err)
	}
	if res.Record.Fields[crm.FieldPicture] != hashOf(stored) {
		t.Error("record's photo hash is not the stored photo's")
	}
	// Not an image: refused, nothing written.
	n := sb.mb.Count("")
	bad := apply(t, cl, engine.Op{Kind: engine.Create, CRMGUID: "d0000000-0000-0000-0000-000000000003",
		Fields: map[string]string{crm.FieldLastName: "Bad", crm.FieldPicture: "x"}, Photo: []byte("GIF89a not really")})[0]
	if crm.ErrorCode(bad.Err) != crm.EINVALID || sb.mb.Count("") != n {
		t.Fatalf("bad photo: %v", bad.Err)
	}
}

func noisePNG(tb testing.TB, w, h int) []byte {
	tb.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	x := uint32(2463534242)
	for i := range img.Pix {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		img.Pix[i] = byte(x)
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

var _ = time.Second

func TestListingHashesPhotos(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, sandbox.Options{})
	want := map[string]string{}
	for i := range 45 {
		e, err := sb.mb.Create("", &outlook.Contact{GivenName: fmt.Sprintf("Pic %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		want[e.Contact.ID] = ""
		if i%3 == 0 {
			p := testPNG(t, 16+i, 16, uint8(i))
			if _, err := sb.mb.SetPhoto(e.Contact.ID, "", p, "image/png"); err != nil {
				t.Fatal(err)
			}
			want[e.Contact.ID] = hashOf(p)
		}
	}
	cl := newTestClient(t, sb.url, nil)
	cs, err := cl.Changes(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range cs.Records {
		got[r.ID] = r.Fields[crm.FieldPicture]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("photo hashes (-want +got):\n%s", diff)
	}
	// Folder lookup, a delta round, the listing, and the 45 photo reads
	// in parallel batches of 20.
	if n := cl.Requests(); n > 8 {
		t.Errorf("%d requests for a listing of 45 contacts", n)
	}
	// The second listing knows every photo at its changeKey.
	before := cl.Requests()
	if _, err := cl.Changes(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if n := cl.Requests() - before; n > 3 {
		t.Errorf("%d requests for a listing with every photo known", n)
	}
}
