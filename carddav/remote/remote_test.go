package remote_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"sort"
	"strings"
	"testing"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/carddav/remote"
	"github.com/crmsync/crmsync/engine"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func guidOf(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i) }

// contactFields is a contact with every field the sync maps (SPEC M9),
// with the characters vCard escapes; some slots stay empty depending on i.
func contactFields(i int) map[string]string {
	f := map[string]string{
		crm.FieldPrefix:     "Ing.",
		crm.FieldFirstName:  fmt.Sprintf("Jana%d", i),
		crm.FieldMiddleName: "Marie",
		crm.FieldLastName:   fmt.Sprintf("Nováková; Jr, %d", i),
		crm.FieldSuffix:     "Ph.D.",
		crm.FieldCompany:    fmt.Sprintf("Acme; Praha, s.r.o. %d", i%7),
		crm.FieldJobTitle:   "Head of Sales",
		crm.FieldDepartment: "Sales\\East",
		crm.FieldWebPage:    fmt.Sprintf("https://example.com/people/%d?a=1;b=2", i),
		crm.FieldEmail1:     fmt.Sprintf("jana%d@example.com", i),
		crm.FieldEmail2:     fmt.Sprintf("jana.private%d@example.org", i),

		crm.AddressBusiness + "Street":     "Na Příkopě 12\nBuilding B",
		crm.AddressBusiness + "City":       "Praha",
		crm.AddressBusiness + "State":      "Hlavní město Praha",
		crm.AddressBusiness + "PostalCode": "110 00",
		crm.AddressBusiness + "CountryEn":  "Czech Republic",

		crm.FieldPhoneBusiness:  fmt.Sprintf("+420 601 000 %03d", i%1000),
		crm.FieldPhoneBusiness2: "+420 222 111 000",
		crm.FieldPhoneMobile:    fmt.Sprintf("+420 777 %06d", i),
		crm.FieldPhoneFax:       "+420 222 111 001",
		crm.FieldNote:           fmt.Sprintf("line one %d\nline two, with comma; semicolon: and colon", i),
	}
	if i%2 == 0 {
		f[crm.FieldEmail3] = fmt.Sprintf("j%d@example.net", i)
		f[crm.AddressHome+"Street"] = "Dlouhá 5"
		f[crm.AddressHome+"City"] = "Brno"
		f[crm.AddressHome+"PostalCode"] = "602 00"
		f[crm.AddressHome+"CountryEn"] = "Czech Republic"
		f[crm.FieldPhoneHome] = "+420 541 000 000"
	}
	if i%3 == 0 {
		f[crm.AddressOther+"City"] = "Wien"
		f[crm.AddressOther+"CountryEn"] = "Austria"
		f[crm.FieldPhoneOther] = "+43 1 000 000"
	}
	return f
}

// photoOf returns a small PNG for every fifth contact, nil for the rest.
func photoOf(t testing.TB, i int) []byte {
	t.Helper()
	if i%5 != 0 {
		return nil
	}
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for x := range 8 {
		img.Set(x, x, color.RGBA{R: uint8(i), G: 100, B: 200, A: 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withPhoto returns contactFields(i) with its photo's hash, and the photo.
func withPhoto(t testing.TB, i int) (map[string]string, []byte) {
	f := contactFields(i)
	p := photoOf(t, i)
	if p != nil {
		f[crm.FieldPicture] = engine.PhotoHash(p)
	}
	return f, p
}

func open(t testing.TB, p peer, mod func(*remote.Config)) *remote.Client {
	t.Helper()
	cfg := remote.Config{URL: p.root + "/", Username: p.user, Password: "x"}
	if mod != nil {
		mod(&cfg)
	}
	c, err := remote.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return c
}

func createOps(t testing.TB, from, to int) []engine.Op {
	var ops []engine.Op
	for i := from; i < to; i++ {
		f, p := withPhoto(t, i)
		ops = append(ops, engine.Op{Kind: engine.Create, CRMGUID: guidOf(i), Fields: f, Photo: p})
	}
	return ops
}

func mustApply(t testing.TB, c *remote.Client, ops []engine.Op) []engine.Result {
	t.Helper()
	res, err := c.Apply(context.Background(), ops)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(res) != len(ops) {
		t.Fatalf("Apply returned %d results for %d ops", len(res), len(ops))
	}
	return res
}

func mustChanges(t testing.TB, c *remote.Client, cursor string) engine.ChangeSet {
	t.Helper()
	cs, err := c.Changes(context.Background(), cursor)
	if err != nil {
		t.Fatalf("Changes(%.20q): %v", cursor, err)
	}
	if cs.Cursor == "" {
		t.Fatal("Changes returned no cursor")
	}
	return cs
}

// byGUID indexes records by CRMGUID, failing on duplicates.
func byGUID(t testing.TB, recs []engine.Record) map[string]engine.Record {
	t.Helper()
	m := map[string]engine.Record{}
	for _, r := range recs {
		if _, dup := m[r.CRMGUID]; dup {
			t.Fatalf("two records carry CRM GUID %s", r.CRMGUID)
		}
		m[r.CRMGUID] = r
	}
	return m
}

func TestOpenDiscovery(t *testing.T) {
	eachPeer(t, func(t *testing.T, p peer) {
		bookPath := strings.TrimPrefix(p.book, p.root)
		for _, tc := range []struct {
			name string
			cfg  remote.Config
		}{
			{"root", remote.Config{URL: p.root}},
			{"root slash", remote.Config{URL: p.root + "/"}},
			{"book URL", remote.Config{URL: p.book}},
			{"principal URL", remote.Config{URL: p.root + "/" + p.user + "/"}},
			{"book path", remote.Config{URL: p.root, AddressBook: bookPath}},
			{"book name", remote.Config{URL: p.root, AddressBook: pathBase(bookPath)}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.cfg.Username, tc.cfg.Password = p.user, "x"
				c, err := remote.Open(context.Background(), tc.cfg)
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if c.AddressBook() != bookPath {
					t.Errorf("AddressBook() = %q, want %q", c.AddressBook(), bookPath)
				}
				if !c.SyncCollection() {
					t.Errorf("%s offers sync-collection, but the client did not see it", p.name)
				}
			})
		}
		for _, tc := range []struct {
			name string
			cfg  remote.Config
			code string
		}{
			{"bad scheme", remote.Config{URL: "ftp://127.0.0.1/"}, crm.EINVALID},
			{"no such book", remote.Config{URL: p.root, AddressBook: "nope"}, crm.ENOTFOUND},
			{"no such path", remote.Config{URL: p.root, AddressBook: bookPath + "nope/"}, crm.ENOTFOUND},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.cfg.Username, tc.cfg.Password = p.user, "x"
				_, err := remote.Open(context.Background(), tc.cfg)
				if got := crm.ErrorCode(err); got != tc.code {
					t.Fatalf("Open: error %v (code %q), want code %q", err, got, tc.code)
				}
			})
		}
	})
}

func pathBase(p string) string {
	p = strings.TrimSuffix(p, "/")
	return p[strings.LastIndex(p, "/")+1:]
}

func TestReplicaLifecycle(t *testing.T) {
	for _, mode := range []string{"sync-collection", "etag-listing"} {
		t.Run(mode, func(t *testing.T) {
			eachPeer(t, func(t *testing.T, p peer) {
				testLifecycle(t, p, mode == "etag-listing")
			})
		})
	}
}

func testLifecycle(t *testing.T, p peer, etagListing bool) {
	ctx := context.Background()
	c := open(t, p, func(cfg *remote.Config) { cfg.DisableSyncCollection = etagListing })
	if c.SyncCollection() == etagListing {
		t.Fatalf("SyncCollection() = %v with DisableSyncCollection = %v", c.SyncCollection(), etagListing)
	}
	const n = 30

	// Empty book: a complete, empty listing.
	cs := mustChanges(t, c, "")
	if len(cs.Records) != 0 || !cs.Complete {
		t.Fatalf("empty book: %d records, complete %v", len(cs.Records), cs.Complete)
	}

	// Create.
	res := mustApply(t, c, createOps(t, 0, n))
	for i, r := range res {
		if r.Err != nil || r.Record == nil {
			t.Fatalf("create %d: %v", i, r.Err)
		}
		if r.Record.CRMGUID != guidOf(i) || r.Record.Version == "" || !strings.HasSuffix(r.Record.ID, guidOf(i)+".vcf") {
			t.Fatalf("create %d: record %+v", i, r.Record)
		}
		wantFields, wantPhoto := withPhoto(t, i)
		if diff := cmp.Diff(wantFields, r.Record.Fields); diff != "" {
			t.Fatalf("create %d: fields (-want +got):\n%s", i, diff)
		}
		if !bytes.Equal(wantPhoto, r.Record.Photo) {
			t.Fatalf("create %d: photo of %d bytes, want %d", i, len(r.Record.Photo), len(wantPhoto))
		}
	}

	// Full listing: every card, with the fields written.
	full := mustChanges(t, c, "")
	if !full.Complete || len(full.Records) != n {
		t.Fatalf("full listing: %d records, complete %v; want %d, true", len(full.Records), full.Complete, n)
	}
	got := byGUID(t, full.Records)
	for i := range n {
		r, ok := got[guidOf(i)]
		if !ok {
			t.Fatalf("listing lacks contact %d", i)
		}
		wantFields, wantPhoto := withPhoto(t, i)
		if diff := cmp.Diff(wantFields, r.Fields); diff != "" {
			t.Fatalf("listed contact %d (-want +got):\n%s", i, diff)
		}
		if !bytes.Equal(wantPhoto, r.Photo) {
			t.Fatalf("listed contact %d: photo of %d bytes, want %d", i, len(r.Photo), len(wantPhoto))
		}
		if r.Version != res[i].Record.Version || r.ID != res[i].Record.ID {
			t.Errorf("contact %d listed as %s %s, created as %s %s", i, r.ID, r.Version, res[i].Record.ID, res[i].Record.Version)
		}
	}

	// Nothing changed: nothing listed, no deletes.
	cur := full.Cursor
	cs = mustChanges(t, c, cur)
	if len(cs.Records) != 0 || len(cs.Deleted) != 0 {
		t.Fatalf("no-change listing: %d records, %d deleted", len(cs.Records), len(cs.Deleted))
	}
	cur = cs.Cursor

	// Create again with the same CRM GUID: EEXISTS and the existing card.
	res2 := mustApply(t, c, createOps(t, 3, 4))
	if crm.ErrorCode(res2[0].Err) != crm.EEXISTS || res2[0].Record == nil || res2[0].Record.ID != res[3].Record.ID {
		t.Fatalf("repeated create: err %v, record %+v", res2[0].Err, res2[0].Record)
	}

	// Update with the current ETag, a stale one, and none.
	r5, r6 := res[5].Record, res[6].Record
	newPhoto := photoOf(t, 25)
	upd := mustApply(t, c, []engine.Op{
		{Kind: engine.Update, ID: r5.ID, IfVersion: r5.Version, Fields: map[string]string{crm.FieldJobTitle: "CEO", crm.FieldNote: ""}},
		{Kind: engine.Update, ID: r6.ID, IfVersion: `"stale"`, Fields: map[string]string{crm.FieldJobTitle: "Nobody"}},
		{Kind: engine.Update, ID: res[7].Record.ID, Fields: map[string]string{crm.FieldEmail2: "second@example.com"}},
		{Kind: engine.Update, ID: r6.ID + "x", IfVersion: r6.Version, Fields: map[string]string{crm.FieldJobTitle: "Ghost"}},
		{Kind: engine.Update, ID: res[10].Record.ID, IfVersion: res[10].Record.Version, Fields: map[string]string{crm.FieldPicture: ""}},
		{Kind: engine.Update, ID: res[11].Record.ID, IfVersion: res[11].Record.Version, Fields: map[string]string{crm.FieldPicture: engine.PhotoHash(newPhoto)}, Photo: newPhoto},
		{Kind: engine.Update, ID: res[12].Record.ID, IfVersion: res[12].Record.Version, Fields: map[string]string{crm.FieldPicture: "abc"}},
	})
	if upd[0].Err != nil || upd[0].Record == nil || upd[0].Record.Version == r5.Version {
		t.Fatalf("update with current etag: %v, %+v", upd[0].Err, upd[0].Record)
	}
	want5, _ := withPhoto(t, 5)
	want5[crm.FieldJobTitle] = "CEO"
	delete(want5, crm.FieldNote)
	if diff := cmp.Diff(want5, upd[0].Record.Fields); diff != "" {
		t.Errorf("updated fields (-want +got):\n%s", diff)
	}
	if code := crm.ErrorCode(upd[1].Err); code != crm.EPRECONDITION {
		t.Errorf("update with stale etag: %v (code %q), want %q", upd[1].Err, code, crm.EPRECONDITION)
	}
	if upd[2].Err != nil {
		t.Errorf("update without etag: %v", upd[2].Err)
	}
	if code := crm.ErrorCode(upd[3].Err); code != crm.ENOTFOUND {
		t.Errorf("update of a missing card: %v (code %q), want %q", upd[3].Err, code, crm.ENOTFOUND)
	}

	if upd[4].Err != nil || upd[4].Record.Fields[crm.FieldPicture] != "" || upd[4].Record.Photo != nil {
		t.Errorf("removing a photo: %v, %+v", upd[4].Err, upd[4].Record)
	}
	if upd[5].Err != nil || upd[5].Record.Fields[crm.FieldPicture] != engine.PhotoHash(newPhoto) || !bytes.Equal(upd[5].Record.Photo, newPhoto) {
		t.Errorf("adding a photo: %v, %+v", upd[5].Err, upd[5].Record)
	}
	if code := crm.ErrorCode(upd[6].Err); code != crm.EINVALID {
		t.Errorf("a photo hash without the picture: %v (code %q), want %q", upd[6].Err, code, crm.EINVALID)
	}

	// Stale ETag after a concurrent edit by another client.
	rawPut(t, p, p.root+r6.ID, strings.Replace(rawGet(t, p, p.root+r6.ID), "Head of Sales", "Edited elsewhere", 1))
	upd = mustApply(t, c, []engine.Op{{Kind: engine.Update, ID: r6.ID, IfVersion: r6.Version, Fields: map[string]string{crm.FieldJobTitle: "Mine"}}})
	if code := crm.ErrorCode(upd[0].Err); code != crm.EPRECONDITION {
		t.Errorf("update after a concurrent edit: %v (code %q), want %q", upd[0].Err, code, crm.EPRECONDITION)
	}

	// Delete: stale, then current.
	r9 := res[9].Record
	del := mustApply(t, c, []engine.Op{{Kind: engine.Delete, ID: r9.ID, IfVersion: `"stale"`}})
	if code := crm.ErrorCode(del[0].Err); code != crm.EPRECONDITION {
		t.Errorf("delete with stale etag: %v (code %q)", del[0].Err, code)
	}
	del = mustApply(t, c, []engine.Op{{Kind: engine.Delete, ID: r9.ID, IfVersion: r9.Version}})
	if del[0].Err != nil {
		t.Errorf("delete: %v", del[0].Err)
	}

	// The incremental listing shows exactly the changes.
	cs = mustChanges(t, c, cur)
	var changed []string
	for _, r := range cs.Records {
		changed = append(changed, r.CRMGUID)
	}
	sort.Strings(changed)
	if diff := cmp.Diff([]string{guidOf(5), guidOf(6), guidOf(7), guidOf(10), guidOf(11)}, changed); diff != "" {
		t.Errorf("changed records (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{r9.ID}, cs.Deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	if m := byGUID(t, cs.Records); m[guidOf(6)].Fields[crm.FieldJobTitle] != "Edited elsewhere" {
		t.Errorf("contact 6 job title = %q, want the other client's edit", m[guidOf(6)].Fields[crm.FieldJobTitle])
	}
	cur = cs.Cursor

	// A card from another client, with properties crmsync does not map:
	// listed, and an update keeps what it does not map.
	foreign := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:phone-made-1\r\nFN:Petr Svoboda\r\nN:Svoboda;Petr;;;\r\n" +
		"EMAIL;TYPE=INTERNET:petr@example.com\r\nX-PHONE-ONLY:keep me\r\nEND:VCARD\r\n"
	rawPut(t, p, p.book+"phone-made-1.vcf", foreign)
	cs = mustChanges(t, c, cur)
	if len(cs.Records) != 1 || cs.Records[0].CRMGUID != "" || cs.Records[0].Fields[crm.FieldLastName] != "Svoboda" {
		t.Fatalf("foreign card: %+v", cs.Records)
	}
	fr := cs.Records[0]
	upd = mustApply(t, c, []engine.Op{{Kind: engine.Update, ID: fr.ID, IfVersion: fr.Version, Fields: map[string]string{crm.FieldJobTitle: "Driver"}}})
	if upd[0].Err != nil {
		t.Fatalf("update of a foreign card: %v", upd[0].Err)
	}
	after := rawGet(t, p, p.book+"phone-made-1.vcf")
	for _, want := range []string{"X-PHONE-ONLY:keep me", "UID:phone-made-1", "Driver"} {
		if !strings.Contains(after, want) {
			t.Errorf("updated foreign card lacks %q:\n%s", want, after)
		}
	}

	// Get and FindByCRMGUID.
	recs, err := c.Get(ctx, []string{res[1].Record.ID, r9.ID, "/elsewhere/x.vcf"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].CRMGUID != guidOf(1) {
		t.Errorf("Get: %+v", recs)
	}
	// A card of ours that another client re-created under another href:
	// found by its X-CRMSYNC-GUID when the href a create uses is empty.
	rawPut(t, p, p.book+"renamed.vcf", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:renamed-by-a-phone\r\nFN:Renamed\r\nN:Renamed;;;;\r\n"+
		"X-CRMSYNC-GUID:"+guidOf(500)+"\r\nEND:VCARD\r\n")
	found, err := c.FindByCRMGUID(ctx, []string{guidOf(2), strings.ToUpper(guidOf(4)), guidOf(9), guidOf(999), guidOf(500)})
	if err != nil {
		t.Fatal(err)
	}
	var foundGUIDs []string
	for _, r := range found {
		foundGUIDs = append(foundGUIDs, r.CRMGUID)
	}
	if diff := cmp.Diff([]string{guidOf(2), guidOf(4), guidOf(500)}, foundGUIDs, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("FindByCRMGUID (-want +got):\n%s", diff)
	}
}

func TestInvalidCursorFallsBackToFullListing(t *testing.T) {
	eachPeer(t, func(t *testing.T, p peer) {
		c := open(t, p, nil)
		mustApply(t, c, createOps(t, 0, 5))
		for _, cursor := range []string{"s:http://radicale.org/ns/sync/bogus", "s:deadbeefdeadbeefdeadbeefdeadbeefdeadbeef", "e:!!!", "junk"} {
			cs := mustChanges(t, c, cursor)
			if !cs.Complete || len(cs.Records) != 5 {
				t.Errorf("cursor %q: %d records, complete %v; want a complete listing of 5", cursor, len(cs.Records), cs.Complete)
			}
		}
	})
}

func TestMoveToDuplicates(t *testing.T) {
	eachPeer(t, func(t *testing.T, p peer) {
		ctx := context.Background()
		c := open(t, p, func(cfg *remote.Config) { cfg.DuplicatesBook = "Duplicate contacts" })
		res := mustApply(t, c, createOps(t, 0, 3))
		cur := mustChanges(t, c, "").Cursor
		mv := mustApply(t, c, []engine.Op{{Kind: engine.MoveToDuplicates, ID: res[1].Record.ID, IfVersion: res[1].Record.Version}})
		if mv[0].Err != nil {
			t.Fatalf("MoveToDuplicates: %v", mv[0].Err)
		}
		cs := mustChanges(t, c, cur)
		if diff := cmp.Diff([]string{res[1].Record.ID}, cs.Deleted); diff != "" {
			t.Errorf("deleted after the move (-want +got):\n%s", diff)
		}
		dup, err := remote.Open(ctx, remote.Config{URL: p.root, Username: p.user, Password: "x", AddressBook: "Duplicate contacts"})
		if err != nil {
			t.Fatalf("opening the duplicates book: %v", err)
		}
		all := mustChanges(t, dup, "")
		if len(all.Records) != 1 || all.Records[0].CRMGUID != guidOf(1) {
			t.Fatalf("duplicates book holds %+v", all.Records)
		}
		if diff := cmp.Diff(contactFields(1), all.Records[0].Fields); diff != "" { // contact 1 has no photo
			t.Errorf("moved card changed (-want +got):\n%s", diff)
		}

		// Without a duplicates book the move is a no-op.
		plain := open(t, p, nil)
		mv = mustApply(t, plain, []engine.Op{{Kind: engine.MoveToDuplicates, ID: res[2].Record.ID}})
		if mv[0].Err != nil {
			t.Fatal(mv[0].Err)
		}
		if got, _ := plain.Get(ctx, []string{res[2].Record.ID}); len(got) != 1 {
			t.Errorf("without a duplicates book the card must stay, got %d", len(got))
		}
	})
}

func TestAuthentication(t *testing.T) {
	p := startRadicaleAuth(t, "alice:s3cret\n")
	for _, tc := range []struct {
		name, user, password, code string
	}{
		{"right password", "alice", "s3cret", ""},
		{"wrong password", "alice", "guess", crm.EUNAUTHORIZED},
		{"no credentials", "", "", crm.EUNAUTHORIZED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := remote.Open(context.Background(), remote.Config{URL: p.root, Username: tc.user, Password: tc.password})
			if code := crm.ErrorCode(err); code != tc.code {
				t.Fatalf("Open: %v (code %q), want code %q", err, code, tc.code)
			}
			if err != nil && strings.Contains(err.Error(), tc.password) && tc.password != "" {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

func TestUnreachableServerFailsTheWholeCall(t *testing.T) {
	p := startRadicale(t)
	c := open(t, p, nil)
	p.stop()
	res, err := c.Apply(context.Background(), createOps(t, 0, 3))
	if err == nil {
		t.Fatalf("Apply to a stopped server: no error, results %+v", res)
	}
	if _, err := c.Changes(context.Background(), ""); err == nil {
		t.Fatal("Changes from a stopped server: no error")
	}
}
