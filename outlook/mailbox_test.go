package outlook_test

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/outlook"
)

func graphStatus(tb testing.TB, err error) (int, string) {
	tb.Helper()
	var ge *outlook.GraphError
	if !errors.As(err, &ge) {
		tb.Fatalf("error %v is not a *GraphError", err)
	}
	return ge.Status, ge.Code
}

func mustCreate(tb testing.TB, mb *outlook.Mailbox, folder string, c *outlook.Contact) outlook.Entry {
	tb.Helper()
	e, err := mb.Create(folder, c)
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	return e
}

// deltaRound follows a delta round to its end.
func deltaRound(tb testing.TB, mb *outlook.Mailbox, folder, token string, page int) (changed, removed []string, next string) {
	tb.Helper()
	for {
		p, err := mb.Delta(folder, token, page)
		if err != nil {
			tb.Fatalf("Delta: %v", err)
		}
		if page > 0 && len(p.Changed)+len(p.Removed) > page {
			tb.Fatalf("page of %d items, max %d", len(p.Changed)+len(p.Removed), page)
		}
		for _, e := range p.Changed {
			changed = append(changed, e.Contact.GivenName)
		}
		for _, id := range p.Removed {
			removed = append(removed, id)
		}
		if p.SkipToken == "" {
			sort.Strings(changed)
			return changed, removed, p.DeltaToken
		}
		token = p.SkipToken
	}
}

func TestMailboxLimits(t *testing.T) {
	mb := outlook.NewMemory()
	_, err := mb.Create("", &outlook.Contact{BusinessPhones: []string{"1", "2", "3"}})
	if st, _ := graphStatus(t, err); st != 400 || !strings.Contains(err.Error(), "The multi value property BusinessPhones has 3 entries, that exceeds the max allowed value of 2") {
		t.Errorf("3 business phones: %v", err)
	}
	_, err = mb.Create("", &outlook.Contact{EmailAddresses: make([]outlook.EmailAddress, 4)})
	if st, _ := graphStatus(t, err); st != 400 || !strings.Contains(err.Error(), "EmailAddresses has 4 entries, that exceeds the max allowed value of 3") {
		t.Errorf("4 emails: %v", err)
	}
	if mb.Count("") != 0 {
		t.Errorf("refused creates stored %d contacts", mb.Count(""))
	}
	e := mustCreate(t, mb, "", &outlook.Contact{GivenName: "A"})
	_, err = mb.Update(e.Contact.ID, "", func(c *outlook.Contact) error {
		c.BusinessPhones = []string{"1", "2", "3"}
		return nil
	})
	if st, _ := graphStatus(t, err); st != 400 {
		t.Errorf("update to 3 phones: %v", err)
	}
	if _, err := mb.SetPhoto(e.Contact.ID, "", make([]byte, outlook.MaxPhotoBytes+1), "image/jpeg"); err == nil {
		t.Error("photo over 4 MB accepted")
	} else if st, _ := graphStatus(t, err); st != 413 {
		t.Errorf("big photo status %d", st)
	}
}

func TestMailboxWrites(t *testing.T) {
	mb := outlook.NewMemory()
	e := mustCreate(t, mb, "", &outlook.Contact{GivenName: "Jana", Surname: "Nová", HomePhones: []string{"1", "2"}})
	c := e.Contact
	if c.ID == "" || c.ChangeKey == "" || c.CreatedDateTime == "" || c.LastModifiedDateTime == "" ||
		c.ParentFolderID != mb.DefaultFolder() || c.ODataEtag != `W/"`+c.ChangeKey+`"` || c.DisplayName != "Jana Nová" {
		t.Fatalf("created contact lacks server properties: %+v", c)
	}
	// stale changeKey
	if _, err := mb.Update(c.ID, "EQAAABYAAAAstale", func(*outlook.Contact) error { return nil }); err == nil {
		t.Fatal("stale changeKey accepted")
	} else if st, code := graphStatus(t, err); st != 412 || code != outlook.CodeIrresolvableConflict {
		t.Errorf("stale changeKey: %d %s", st, code)
	}
	u, err := mb.Update(c.ID, c.ChangeKey, func(n *outlook.Contact) error {
		return outlook.Patch(n, []byte(`{"surname":"Nováková"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	if u.Contact.ChangeKey == c.ChangeKey || u.Contact.ID != c.ID {
		t.Errorf("update: changeKey %q→%q id %q→%q", c.ChangeKey, u.Contact.ChangeKey, c.ID, u.Contact.ID)
	}
	if u.Contact.DisplayName != "Jana Nováková" {
		t.Errorf("generated display name not regenerated: %q", u.Contact.DisplayName)
	}
	if diff := cmp.Diff([]string{"1", "2"}, u.Contact.HomePhones); diff != "" {
		t.Errorf("PATCH lost homePhones: %s", diff)
	}
	// an earlier snapshot is not changed by later writes (copy-on-write)
	if _, err := mb.Update(c.ID, "", func(n *outlook.Contact) error { n.GivenName = "Eva"; return nil }); err != nil {
		t.Fatal(err)
	}
	if u.Contact.GivenName != "Jana" {
		t.Error("a later write changed an earlier snapshot")
	}
	// photo
	if _, _, err := mb.Photo(c.ID); err == nil {
		t.Error("photo of a contact without one")
	}
	png := []byte("\x89PNG\r\n\x1a\n0000")
	p, err := mb.SetPhoto(c.ID, "", png, "")
	if err != nil {
		t.Fatal(err)
	}
	if p.PhotoHash == "" || p.Contact.ChangeKey == u.Contact.ChangeKey {
		t.Errorf("photo: hash %q changeKey unchanged=%v", p.PhotoHash, p.Contact.ChangeKey == u.Contact.ChangeKey)
	}
	got, ctype, err := mb.Photo(c.ID)
	if err != nil || string(got) != string(png) || ctype != "image/png" {
		t.Errorf("Photo = %q %q %v", got, ctype, err)
	}
	// move keeps the id
	dup, err := mb.EnsureFolder(outlook.DuplicatesFolder)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := mb.EnsureFolder(outlook.DuplicatesFolder); again.ID != dup.ID {
		t.Error("EnsureFolder created a second folder")
	}
	if _, err := mb.CreateFolder("", "duplicate CONTACTS"); err == nil {
		t.Error("folder with a sibling's name accepted")
	}
	m, err := mb.Move(c.ID, dup.ID)
	if err != nil || m.Contact.ID != c.ID || m.Contact.ParentFolderID != dup.ID || m.PhotoHash != p.PhotoHash {
		t.Errorf("Move = %+v, %v", m, err)
	}
	if err := mb.Delete(c.ID, c.ChangeKey); err == nil {
		t.Error("delete with a stale changeKey accepted")
	}
	if err := mb.Delete(c.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := mb.Get(c.ID); err == nil {
		t.Error("deleted contact still there")
	} else if st, code := graphStatus(t, err); st != 404 || code != outlook.CodeItemNotFound {
		t.Errorf("get deleted: %d %s", st, code)
	}
}

func TestMailboxDelta(t *testing.T) {
	mb := outlook.NewMemory()
	root := mb.DefaultFolder()
	dup, _ := mb.EnsureFolder(outlook.DuplicatesFolder)
	ids := map[string]string{}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		ids[n] = mustCreate(t, mb, "", &outlook.Contact{GivenName: n}).Contact.ID
	}
	mustCreate(t, mb, dup.ID, &outlook.Contact{GivenName: "in-dup"})
	changed, removed, tok := deltaRound(t, mb, root, "", 2)
	if diff := cmp.Diff([]string{"a", "b", "c", "d", "e"}, changed); diff != "" || removed != nil {
		t.Fatalf("initial round (-want +got): %s removed %v", diff, removed)
	}
	// no change
	changed, removed, tok2 := deltaRound(t, mb, root, tok, 2)
	if changed != nil || removed != nil {
		t.Fatalf("no-change round: %v %v", changed, removed)
	}
	tok = tok2
	// update b twice, delete c, move d out, create f
	for range 2 {
		if _, err := mb.Update(ids["b"], "", func(c *outlook.Contact) error { c.Surname += "x"; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	mb.Delete(ids["c"], "")
	mb.Move(ids["d"], dup.ID)
	mustCreate(t, mb, "", &outlook.Contact{GivenName: "f"})
	changed, removed, tok = deltaRound(t, mb, root, tok, 1)
	sort.Strings(removed)
	wantRemoved := []string{ids["c"], ids["d"]}
	sort.Strings(wantRemoved)
	if diff := cmp.Diff([]string{"b", "f"}, changed); diff != "" {
		t.Errorf("changed (-want +got): %s", diff)
	}
	if diff := cmp.Diff(wantRemoved, removed); diff != "" {
		t.Errorf("removed (-want +got): %s", diff)
	}
	// the duplicates folder sees d arrive
	dchanged, _, _ := deltaRound(t, mb, dup.ID, "", 0)
	if diff := cmp.Diff([]string{"d", "in-dup"}, dchanged); diff != "" {
		t.Errorf("duplicates folder (-want +got): %s", diff)
	}
	// move d back: it reappears in the root folder
	mb.Move(ids["d"], root)
	changed, removed, _ = deltaRound(t, mb, root, tok, 0)
	if diff := cmp.Diff([]string{"d"}, changed); diff != "" || removed != nil {
		t.Errorf("moved back (-want +got): %s removed %v", diff, removed)
	}
	// a token for another folder is refused
	if _, err := mb.Delta(dup.ID, tok, 0); err == nil {
		t.Error("token of another folder accepted")
	} else if st, code := graphStatus(t, err); st != 410 || code != outlook.CodeSyncStateNotFound {
		t.Errorf("foreign token: %d %s", st, code)
	}
	if _, err := mb.Delta(root, "garbage!", 0); err == nil {
		t.Error("garbage token accepted")
	}
}

func TestMailboxDeltaCompaction(t *testing.T) {
	mb := outlook.NewMemory()
	root := mb.DefaultFolder()
	e := mustCreate(t, mb, "", &outlook.Contact{GivenName: "x"})
	_, _, tok := deltaRound(t, mb, root, "", 0)
	for range 5000 {
		if _, err := mb.Update(e.Contact.ID, "", func(c *outlook.Contact) error { c.Surname += "."; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	changed, removed, _ := deltaRound(t, mb, root, tok, 0)
	if diff := cmp.Diff([]string{"x"}, changed); diff != "" || removed != nil {
		t.Errorf("after 5000 updates (-want +got): %s %v", diff, removed)
	}
}

func TestMailboxConcurrent(t *testing.T) {
	mb := outlook.NewMemory()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				e, err := mb.Create("", &outlook.Contact{GivenName: "w"})
				if err != nil {
					t.Error(err)
					return
				}
				if i%3 == w%3 {
					mb.Delete(e.Contact.ID, "")
				}
				mb.Delta("", "", 50)
			}
		}()
	}
	wg.Wait()
	changed, _, _ := deltaRound(t, mb, "", "", 100)
	if len(changed) != mb.Count("") {
		t.Errorf("delta lists %d, mailbox holds %d", len(changed), mb.Count(""))
	}
}

func TestMailboxFilePersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mailbox.db")
	mb, err := outlook.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	root := mb.DefaultFolder()
	a := mustCreate(t, mb, "", &outlook.Contact{GivenName: "a", SingleValueExtendedProperties: []outlook.ExtendedProperty{{ID: outlook.PropCRMGUID, Value: "g1"}}})
	b := mustCreate(t, mb, "", &outlook.Contact{GivenName: "b"})
	if _, err := mb.SetPhoto(a.Contact.ID, "", []byte("\xff\xd8\xff\xe0jpeg"), "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	_, _, tok := deltaRound(t, mb, root, "", 0)
	dup, _ := mb.EnsureFolder(outlook.DuplicatesFolder)
	mb.Move(b.Contact.ID, dup.ID)
	if err := mb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := mb.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := mb.Create("", &outlook.Contact{GivenName: "after close"}); err == nil {
		t.Error("a write after Close succeeded")
	}

	mb, err = outlook.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	if mb.DefaultFolder() != root {
		t.Errorf("default folder changed across restart")
	}
	got, err := mb.Get(a.Contact.ID)
	if err != nil || got.Contact.GivenName != "a" || got.PhotoHash == "" {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
	if ids := mb.FindByCRMGUID("g1"); len(ids) != 1 || ids[0] != a.Contact.ID {
		t.Errorf("CRM GUID index after reopen: %v", ids)
	}
	// the old delta token still works and reports the move
	changed, removed, _ := deltaRound(t, mb, root, tok, 0)
	if changed != nil || len(removed) != 1 || removed[0] != b.Contact.ID {
		t.Errorf("delta across restart: changed %v removed %v", changed, removed)
	}
	if d, err := mb.Folder(dup.ID); err != nil || d.DisplayName != outlook.DuplicatesFolder {
		t.Errorf("duplicates folder after reopen: %+v %v", d, err)
	}
	if err := mb.Delete(a.Contact.ID, ""); err != nil {
		t.Fatal(err)
	}
	mb.Close()
	mb2, err := outlook.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer mb2.Close()
	if mb2.Count("") != 1 {
		t.Errorf("after delete and reopen: %d contacts, want 1", mb2.Count(""))
	}
}

func TestOpenFileRefusesGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not-a-db")
	if err := os.WriteFile(path, []byte(strings.Repeat("garbage ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	mb, err := outlook.OpenFile(path)
	if err == nil {
		mb.Close()
		t.Fatal("OpenFile accepted a file that is not a database")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error does not name the file: %v", err)
	}
}
