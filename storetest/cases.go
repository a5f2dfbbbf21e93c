package storetest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/crmsync/crmsync"
	"github.com/google/go-cmp/cmp"
)

func userGUID(ctx context.Context) string { return crmsync.UserFrom(ctx).GUID }

func testAuth(t *testing.T, open Open) {
	e := NewEnv(t, open)
	alice := e.User("alice", false)
	for _, c := range []struct {
		name, user, md5 string
		ok              bool
	}{
		{"right", "alice", crmsync.PasswordMD5("alice"), true},
		{"upper-case hash", "alice", strings.ToUpper(crmsync.PasswordMD5("alice")), true},
		{"name in other case", "ALICE", crmsync.PasswordMD5("alice"), true},
		{"wrong password", "alice", crmsync.PasswordMD5("bob"), false},
		{"plain password", "alice", "alice", false},
		{"unknown user", "bob", crmsync.PasswordMD5("bob"), false},
		{"empty", "", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, err := e.Svc.Authenticate(context.Background(), c.user, c.md5)
			if !c.ok {
				WantCode(t, err, crmsync.EUNAUTHORIZED)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.GUID != userGUID(alice) || u.Name != "alice" {
				t.Errorf("got %+v", u)
			}
		})
	}
	_, err := e.Svc.Items(context.Background(), crmsync.Contacts, nil)
	WantCode(t, err, crmsync.EUNAUTHORIZED)
	_, err = e.Svc.LastChangeID(context.Background())
	WantCode(t, err, crmsync.EUNAUTHORIZED)
}

func testCreateAndRead(t *testing.T, open Open) {
	e := NewEnv(t, open)
	e.Group("all", crmsync.LevelAll, crmsync.LevelAll, crmsync.LevelAll, true)
	alice := e.User("alice", false, "all")
	before := e.Last()
	r := e.MustSave(alice, crmsync.Contacts, crmsync.Patch{Set: set(
		"FirstName", "Petr", "LastName", "Novák", "Email1Address", "petr@example.com",
		"NoSuchField", "ignored", crmsync.FieldItemCreated, "1999-01-01 00:00:00", crmsync.FieldIsPrivate, "0")})
	if r.Version != 1 || !crmsync.IsGUID(r.GUID) {
		t.Fatalf("result %+v", r)
	}
	if got := e.Last(); got != before+1 {
		t.Errorf("last change %d, want %d", got, before+1)
	}
	it := e.Get(alice, crmsync.Contacts, r.GUID)
	if it == nil {
		t.Fatal("created contact not readable")
	}
	want := map[string]string{
		"FirstName": "Petr", "LastName": "Novák", "Email1Address": "petr@example.com",
		crmsync.FieldFileAs: "Novák Petr", crmsync.FieldIsPrivate: "false",
		crmsync.FieldOwnerGUID: userGUID(alice), crmsync.FieldCreatedByGUID: userGUID(alice), crmsync.FieldModifiedByGUID: userGUID(alice),
		crmsync.FieldItemCreated: "2026-01-02 03:04:05", crmsync.FieldItemChanged: "2026-01-02 03:04:05",
	}
	if diff := cmp.Diff(want, it.Fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if it.Version != 1 || it.Folder != crmsync.Contacts || it.Trashed {
		t.Errorf("item %+v", it)
	}

	// A caller-chosen GUID in upper case is stored in lower case.
	up := strings.ToUpper(guid(1))
	r2 := e.MustSave(alice, crmsync.Contacts, crmsync.Patch{GUID: up, Version: 1, Set: set("LastName", "Dvořák")})
	if r2.GUID != guid(1) || r2.Version != 1 {
		t.Errorf("chosen GUID result %+v", r2)
	}
	ids, err := e.Svc.Identifiers(alice, crmsync.Contacts)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(ids, func(a, b crmsync.Identifier) int { return strings.Compare(a.GUID, b.GUID) })
	wantIDs := []crmsync.Identifier{{GUID: r.GUID, Version: 1}, {GUID: guid(1), Version: 1}}
	slices.SortFunc(wantIDs, func(a, b crmsync.Identifier) int { return strings.Compare(a.GUID, b.GUID) })
	if diff := cmp.Diff(wantIDs, ids); diff != "" {
		t.Errorf("identifiers (-want +got):\n%s", diff)
	}
	items, err := e.Svc.Items(alice, crmsync.Contacts, []string{guid(1), r.GUID, guid(99), guid(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].GUID != guid(1) || items[1].GUID != r.GUID {
		t.Errorf("Items by GUID returned %d items in wrong order or with duplicates", len(items))
	}

	comp := e.MustSave(alice, crmsync.Companies, crmsync.Patch{Set: set("CompanyName", "ACME s.r.o.")})
	if got := e.Get(alice, crmsync.Companies, comp.GUID).Get(crmsync.FieldFileAs); got != "ACME s.r.o." {
		t.Errorf("company FileAs %q", got)
	}
	j := e.MustSave(alice, crmsync.Journal, crmsync.Patch{Set: set(crmsync.FieldFileAs, "Call about prices", crmsync.FieldContactGUID, r.GUID, crmsync.FieldEventStart, "2026-01-02T10:00:00+01:00")})
	ji := e.Get(alice, crmsync.Journal, j.GUID)
	if ji.Get(crmsync.FieldFileAs) != "Call about prices" || ji.Get(crmsync.FieldEventStart) != "2026-01-02 09:00:00" {
		t.Errorf("journal %v", ji.Fields)
	}

	// FileAs follows the names while it was never set by hand.
	e.MustSave(alice, crmsync.Contacts, crmsync.Patch{GUID: r.GUID, Version: 2, Set: set("FirstName", "Pavel")})
	if got := e.Get(alice, crmsync.Contacts, r.GUID).Get(crmsync.FieldFileAs); got != "Novák Pavel" {
		t.Errorf("FileAs after rename %q", got)
	}
	e.MustSave(alice, crmsync.Contacts, crmsync.Patch{GUID: r.GUID, Set: set(crmsync.FieldFileAs, "Pavel N.")})
	e.MustSave(alice, crmsync.Contacts, crmsync.Patch{GUID: r.GUID, Set: set("FirstName", "Petr")})
	if got := e.Get(alice, crmsync.Contacts, r.GUID).Get(crmsync.FieldFileAs); got != "Pavel N." {
		t.Errorf("FileAs set by hand was overwritten: %q", got)
	}
}

func testVersioning(t *testing.T, open Open) {
	initial := set("FirstName", "A", "LastName", "B")
	cases := []struct {
		name    string
		cur     int // version of the stored item
		version int // sent
		set     map[string]string
		null    []string
		die     bool
		code    string
		want    map[string]string // FirstName, LastName after
	}{
		{"current+1 writes and nulls erase", 2, 3, set("FirstName", "X"), []string{"LastName"}, true, "", set("FirstName", "X")},
		{"omitted version writes and nulls erase", 2, 0, set("FirstName", "X"), []string{"LastName"}, true, "", set("FirstName", "X")},
		{"omitted version without die", 2, 0, nil, []string{"LastName"}, false, "", set("FirstName", "A")},
		{"empty string erases", 2, 3, set("LastName", ""), nil, true, "", set("FirstName", "A")},
		{"ahead of current+1 is accepted", 2, 7, set("FirstName", "X"), nil, true, "", set("FirstName", "X", "LastName", "B")},
		{"equal version dies", 2, 2, set("FirstName", "X"), nil, true, crmsync.ECONFLICT, initial},
		{"older version dies", 3, 1, set("FirstName", "X"), nil, true, crmsync.ECONFLICT, initial},
		{"re-create dies with exists", 1, 1, set("FirstName", "X"), nil, true, crmsync.EEXISTS, initial},
		{"stale merges, nulls kept", 2, 2, set("FirstName", "X"), []string{"LastName"}, false, "", set("FirstName", "X", "LastName", "B")},
		{"stale merges, empty string erases", 2, 1, set("LastName", ""), nil, false, "", set("FirstName", "A")},
		{"re-create without die merges", 1, 1, set("FirstName", "X"), []string{"LastName"}, false, "", set("FirstName", "X", "LastName", "B")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := NewEnv(t, open)
			g := guid(7)
			r := e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{GUID: g, Version: 1, Set: initial})
			for v := 2; v <= c.cur; v++ {
				r = e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{GUID: g, Version: v})
			}
			if r.Version != c.cur {
				t.Fatalf("setup reached version %d, want %d", r.Version, c.cur)
			}
			before := e.Last()
			res := e.Save(e.Sys, crmsync.Contacts, crmsync.Patch{GUID: g, Version: c.version, Set: c.set, Null: c.null}, c.die)
			WantCode(t, res.Err, c.code)
			it := e.Get(e.Sys, crmsync.Contacts, g)
			wantVersion, wantChanges := c.cur+1, int64(1)
			if c.code != "" {
				wantVersion, wantChanges = c.cur, 0
			} else if res.Version != wantVersion {
				t.Errorf("result version %d, want %d", res.Version, wantVersion)
			}
			if it.Version != wantVersion {
				t.Errorf("stored version %d, want %d", it.Version, wantVersion)
			}
			if got := e.Last() - before; got != wantChanges {
				t.Errorf("%d changes appended, want %d", got, wantChanges)
			}
			got := map[string]string{}
			for _, f := range []string{"FirstName", "LastName"} {
				if v := it.Get(f); v != "" {
					got[f] = v
				}
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

func testBadInput(t *testing.T, open Open) {
	e := NewEnv(t, open)
	suffix, err := e.Svc.EnsureEnumValue(e.Sys, crmsync.EnumSuffix, "Ph.D.")
	if err != nil {
		t.Fatal(err)
	}
	g := guid(1)
	e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{GUID: g, Set: set("FirstName", "Keep")})
	cases := []struct {
		name   string
		folder crmsync.Folder
		patch  crmsync.Patch
		field  string // the message must name it
	}{
		{"item GUID", crmsync.Contacts, crmsync.Patch{GUID: "not-a-guid", Set: set("FirstName", "X")}, "not-a-guid"},
		{"owner not a GUID", crmsync.Contacts, crmsync.Patch{GUID: g, Set: set("FirstName", "X", "OwnerGUID", "bob")}, "OwnerGUID"},
		{"owner no user", crmsync.Contacts, crmsync.Patch{GUID: g, Set: set("FirstName", "X", "OwnerGUID", guid(42))}, "OwnerGUID"},
		{"company link not a GUID", crmsync.Contacts, crmsync.Patch{GUID: g, Set: set("FirstName", "X", crmsync.FieldCompanyGUID, "acme")}, crmsync.FieldCompanyGUID},
		{"bool", crmsync.Contacts, crmsync.Patch{GUID: g, Set: set("FirstName", "X", "IsPrivate", "maybe")}, "IsPrivate"},
		{"datetime", crmsync.Journal, crmsync.Patch{Set: set("EventStart", "yesterday")}, "EventStart"},
		{"binary", crmsync.Contacts, crmsync.Patch{GUID: g, Set: set("FirstName", "X", "ProfilePicture", "!!not base64!!")}, "ProfilePicture"},
		{"enum unknown", crmsync.Contacts, crmsync.Patch{GUID: g, Set: set("FirstName", "X", "PrefixEn", guid(43))}, "PrefixEn"},
		{"enum of other type", crmsync.Contacts, crmsync.Patch{GUID: g, Set: set("FirstName", "X", "PrefixEn", suffix.GUID)}, "PrefixEn"},
		{"enum not a GUID", crmsync.Contacts, crmsync.Patch{GUID: g, Set: set("FirstName", "X", "BusinessAddressCountryEn", "Czechia")}, "BusinessAddressCountryEn"},
		{"invalid UTF-8", crmsync.Contacts, crmsync.Patch{GUID: g, Set: set("FirstName", "X", "Note", "bad \xff byte")}, "Note"},
		{"negative version", crmsync.Contacts, crmsync.Patch{GUID: g, Version: -1, Set: set("FirstName", "X")}, "ItemVersion"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.Last()
			res := e.Save(e.Sys, c.folder, c.patch, false)
			WantCode(t, res.Err, crmsync.EINVALID)
			if !strings.Contains(crmsync.ErrorMessage(res.Err), c.field) {
				t.Errorf("message %q does not name %s", crmsync.ErrorMessage(res.Err), c.field)
			}
			if e.Last() != before {
				t.Errorf("a change was logged")
			}
			it := e.Get(e.Sys, crmsync.Contacts, g)
			if it.Version != 1 || it.Get("FirstName") != "Keep" {
				t.Errorf("item changed: %+v", it)
			}
		})
	}
	t.Run("batch applies the good patches", func(t *testing.T) {
		res, err := e.Svc.Save(e.Sys, crmsync.Contacts, []crmsync.Patch{
			{Set: set("FirstName", "Good")},
			{GUID: g, Set: set("IsPrivate", "perhaps")},
			{GUID: g, Set: set("FirstName", "Changed")},
		}, crmsync.SaveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Err != nil || res[2].Err != nil || crmsync.ErrorCode(res[1].Err) != crmsync.EINVALID {
			t.Fatalf("results %+v", res)
		}
		if it := e.Get(e.Sys, crmsync.Contacts, g); it.Version != 2 || it.Get("IsPrivate") != "" {
			t.Errorf("item %+v", it)
		}
	})
	t.Run("other calls", func(t *testing.T) {
		_, err := e.Svc.Save(e.Sys, "Tasks", []crmsync.Patch{{}}, crmsync.SaveOptions{})
		WantCode(t, err, crmsync.EINVALID)
		_, err = e.Svc.Items(e.Sys, crmsync.Contacts, []string{"nope"})
		WantCode(t, err, crmsync.EINVALID)
		WantCode(t, e.Svc.Delete(e.Sys, crmsync.Contacts, []string{g, "nope"}), crmsync.EINVALID)
		WantCode(t, e.Svc.Restore(e.Sys, crmsync.Contacts, "nope"), crmsync.EINVALID)
		_, err = e.Svc.ChangeIdentifiers(e.Sys, crmsync.Contacts, 5, 2)
		WantCode(t, err, crmsync.EINVALID)
		_, err = e.Svc.ChangedItems(e.Sys, []crmsync.Folder{"Nope"}, 0, 2)
		WantCode(t, err, crmsync.EINVALID)
		if it := e.Get(e.Sys, crmsync.Contacts, g); it == nil || it.Trashed {
			t.Errorf("item deleted by a failed call")
		}
	})
}

// rightsCase is one cell of the rights matrix: a user whose group grants
// level on every folder, and an item owned by the user or someone else,
// private or not.
type rightsCase struct {
	level   crmsync.Level
	mine    bool
	private bool
}

func (c rightsCase) reach() bool {
	if c.private && !c.mine {
		return false
	}
	switch c.level {
	case crmsync.LevelAll:
		return true
	case crmsync.LevelOwn, crmsync.LevelRelated:
		return c.mine
	}
	return false
}

func testRights(t *testing.T, open Open) {
	levels := []crmsync.Level{crmsync.LevelNone, crmsync.LevelOwn, crmsync.LevelRelated, crmsync.LevelAll}
	for _, level := range levels {
		for _, mine := range []bool{false, true} {
			for _, private := range []bool{false, true} {
				c := rightsCase{level, mine, private}
				name := level.String()
				if mine {
					name += "/mine"
				} else {
					name += "/other's"
				}
				if private {
					name += "/private"
				}
				t.Run(name, func(t *testing.T) { rightsCell(t, open, c) })
			}
		}
	}
	t.Run("admin", func(t *testing.T) {
		e := NewEnv(t, open)
		root := e.User("root", true)
		other := e.User("other", false)
		pub := e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "Pub", "OwnerGUID", userGUID(other))})
		priv := e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "Priv", "OwnerGUID", userGUID(other), "IsPrivate", "true")})
		if e.Get(root, crmsync.Contacts, pub.GUID) == nil {
			t.Error("admin does not see a public item")
		}
		if e.Get(root, crmsync.Contacts, priv.GUID) != nil {
			t.Error("admin sees another user's private item")
		}
		WantCode(t, e.Save(root, crmsync.Contacts, crmsync.Patch{GUID: priv.GUID, Set: set("LastName", "X")}, false).Err, crmsync.EFORBIDDEN)
		WantCode(t, e.Svc.Delete(root, crmsync.Contacts, []string{priv.GUID}), crmsync.ENOTFOUND)
	})
	t.Run("create", func(t *testing.T) {
		e := NewEnv(t, open)
		e.Group("readers", crmsync.LevelAll, crmsync.LevelAll, crmsync.LevelAll, false)
		reader := e.User("reader", false, "readers")
		nobody := e.User("nobody", false)
		for _, ctx := range []context.Context{reader, nobody} {
			before := e.Last()
			WantCode(t, e.Save(ctx, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "X")}, false).Err, crmsync.EFORBIDDEN)
			if e.Last() != before {
				t.Error("forbidden create logged a change")
			}
		}
	})
}

func rightsCell(t *testing.T, open Open, c rightsCase) {
	e := NewEnv(t, open)
	// The viewer's group grants the level for View, Edit and Delete.
	e.Group("g", c.level, c.level, c.level, true)
	viewer := e.User("viewer", false, "g")
	other := e.User("other", false)
	owner := userGUID(other)
	if c.mine {
		owner = userGUID(viewer)
	}
	base := e.Last()
	g := e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "Item", "Email1Address", "x@example.com", "OwnerGUID", owner, "IsPrivate", map[bool]string{true: "true", false: "false"}[c.private])}).GUID
	want := c.reach()
	last := e.Last()

	all, err := e.Svc.Items(viewer, crmsync.Contacts, nil)
	if err != nil {
		t.Fatal(err)
	}
	byGUID, _ := e.Svc.Items(viewer, crmsync.Contacts, []string{g})
	ids, _ := e.Svc.Identifiers(viewer, crmsync.Contacts)
	found, _ := e.Svc.Search(viewer, crmsync.Contacts, set("Email1Address", "x@example.com"), false)
	feed, _ := e.Svc.ChangeIdentifiers(viewer, crmsync.Contacts, base, last)
	changed, _ := e.Svc.ChangedItems(viewer, []crmsync.Folder{crmsync.Contacts}, base, last)
	have, _ := e.Svc.HaveItemsChanged(viewer, []crmsync.Folder{crmsync.Contacts}, base, last)
	got := map[string]bool{
		"Items": len(all) == 1, "ItemsByGUID": len(byGUID) == 1, "Identifiers": len(ids) == 1,
		"Search": len(found) == 1, "ChangeIdentifiers": len(feed) == 1, "ChangedItems": len(changed[0].Items) == 1,
		"HaveItemsChanged": have,
	}
	for what, saw := range got {
		if saw != want {
			t.Errorf("%s: visible=%v, want %v", what, saw, want)
		}
	}
	if len(changed[0].Removed) != 0 {
		t.Errorf("never-visible item reported removed: %v", changed[0].Removed)
	}

	res := e.Save(viewer, crmsync.Contacts, crmsync.Patch{GUID: g, Set: set("FirstName", "Edited")}, false)
	if want {
		WantCode(t, res.Err, "")
	} else {
		WantCode(t, res.Err, crmsync.EFORBIDDEN)
		if e.Get(e.Sys, crmsync.Contacts, g).Get("FirstName") != "" {
			t.Error("forbidden edit was written")
		}
	}
	err = e.Svc.Delete(viewer, crmsync.Contacts, []string{g})
	if want {
		WantCode(t, err, "")
	} else {
		WantCode(t, err, crmsync.ENOTFOUND)
		if e.Get(e.Sys, crmsync.Contacts, g) == nil {
			t.Error("forbidden delete was done")
		}
	}
}

func testRelated(t *testing.T, open Open) {
	e := NewEnv(t, open)
	e.Group("related", crmsync.LevelRelated, crmsync.LevelOwn, crmsync.LevelOwn, true)
	viewer := e.User("viewer", false, "related")
	other := e.User("other", false)
	company := e.MustSave(viewer, crmsync.Companies, crmsync.Patch{Set: set("CompanyName", "Mine")}).GUID
	otherCompany := e.MustSave(e.Sys, crmsync.Companies, crmsync.Patch{Set: set("CompanyName", "Theirs", "OwnerGUID", userGUID(other))}).GUID
	mk := func(fields map[string]string) string {
		fields["OwnerGUID"] = userGUID(other)
		return e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{Set: fields}).GUID
	}
	linked := mk(set("LastName", "Linked", crmsync.FieldCompanyGUID, company))
	linkedPrivate := mk(set("LastName", "LinkedPrivate", crmsync.FieldCompanyGUID, company, "IsPrivate", "true"))
	unlinked := mk(set("LastName", "Unlinked", crmsync.FieldCompanyGUID, otherCompany))
	myContact := e.MustSave(viewer, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "Mine")}).GUID
	journal := e.MustSave(e.Sys, crmsync.Journal, crmsync.Patch{Set: set(crmsync.FieldFileAs, "J", "OwnerGUID", userGUID(other), crmsync.FieldContactGUID, myContact)}).GUID
	otherJournal := e.MustSave(e.Sys, crmsync.Journal, crmsync.Patch{Set: set(crmsync.FieldFileAs, "K", "OwnerGUID", userGUID(other), crmsync.FieldContactGUID, unlinked)}).GUID

	for _, c := range []struct {
		folder crmsync.Folder
		guid   string
		want   bool
	}{
		{crmsync.Companies, company, true},
		{crmsync.Companies, otherCompany, false},
		{crmsync.Contacts, linked, true},
		{crmsync.Contacts, linkedPrivate, false},
		{crmsync.Contacts, unlinked, false},
		{crmsync.Journal, journal, true},
		{crmsync.Journal, otherJournal, false},
	} {
		if got := e.Get(viewer, c.folder, c.guid) != nil; got != c.want {
			t.Errorf("%s %s visible=%v, want %v", c.folder, c.guid, got, c.want)
		}
	}
	// Edit is Own: a related item is visible but not editable.
	WantCode(t, e.Save(viewer, crmsync.Contacts, crmsync.Patch{GUID: linked, Set: set("FirstName", "X")}, false).Err, crmsync.EFORBIDDEN)
}

func testFeedRights(t *testing.T, open Open) {
	e := NewEnv(t, open)
	e.Group("all", crmsync.LevelAll, crmsync.LevelAll, crmsync.LevelAll, true)
	e.Group("own", crmsync.LevelOwn, crmsync.LevelOwn, crmsync.LevelOwn, true)
	alice := e.User("alice", false, "all")
	bob := e.User("bob", false, "own")
	contacts := []crmsync.Folder{crmsync.Contacts}

	feed := func(ctx context.Context, base int64) (items, removed []string) {
		t.Helper()
		cs, err := e.Svc.ChangedItems(ctx, contacts, base, e.Last())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range cs[0].Items {
			items = append(items, it.GUID)
		}
		ids, err := e.Svc.ChangeIdentifiers(ctx, crmsync.Contacts, base, e.Last())
		if err != nil {
			t.Fatal(err)
		}
		var fromIDs []string
		for _, c := range ids {
			if c.Removed {
				fromIDs = append(fromIDs, c.GUID)
			}
		}
		if diff := cmp.Diff(cs[0].Removed, fromIDs); diff != "" {
			t.Errorf("ChangedItems and ChangeIdentifiers disagree on removals (-items +ids):\n%s", diff)
		}
		return items, cs[0].Removed
	}

	base := e.Last()
	secret := e.MustSave(alice, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "Alice's")}).GUID
	bobs := e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "Bob's", "OwnerGUID", userGUID(bob))}).GUID
	items, removed := feed(bob, base)
	if diff := cmp.Diff([]string{bobs}, items); diff != "" || removed != nil {
		t.Errorf("bob's feed: items %v removed %v", items, removed)
	}
	items, _ = feed(alice, base)
	if len(items) != 2 {
		t.Errorf("alice's feed has %d items, want 2", len(items))
	}

	// Handing bob's contact to alice removes it from bob's view.
	mid := e.Last()
	e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{GUID: bobs, Set: set("OwnerGUID", userGUID(alice))})
	items, removed = feed(bob, mid)
	if items != nil || !slices.Equal(removed, []string{bobs}) {
		t.Errorf("after hand-over bob's feed: items %v removed %v", items, removed)
	}
	items, removed = feed(bob, base)
	if items != nil || !slices.Equal(removed, []string{bobs}) {
		t.Errorf("from the start bob's feed: items %v removed %v", items, removed)
	}
	// Deleting an item bob never saw tells bob nothing.
	mid = e.Last()
	if err := e.Svc.Delete(alice, crmsync.Contacts, []string{secret}); err != nil {
		t.Fatal(err)
	}
	items, removed = feed(bob, mid)
	if items != nil || removed != nil {
		t.Errorf("bob learned of alice's deletion: %v %v", items, removed)
	}
	if have, _ := e.Svc.HaveItemsChanged(bob, contacts, mid, e.Last()); have {
		t.Error("HaveItemsChanged true for bob")
	}
	items, removed = feed(alice, mid)
	if items != nil || !slices.Equal(removed, []string{secret}) {
		t.Errorf("alice's feed after delete: %v %v", items, removed)
	}
	// Several changes of one item in the range are reported once.
	mid = e.Last()
	for range 3 {
		e.MustSave(alice, crmsync.Contacts, crmsync.Patch{GUID: bobs, Set: set("Note", "x")})
	}
	ids, _ := e.Svc.ChangeIdentifiers(alice, crmsync.Contacts, mid, e.Last())
	if len(ids) != 1 || ids[0].GUID != bobs || ids[0].ID != e.Last() || ids[0].Version != 5 {
		t.Errorf("identifiers %+v", ids)
	}
	// Other folders' changes stay out.
	e.MustSave(alice, crmsync.Companies, crmsync.Patch{Set: set("CompanyName", "C")})
	ids, _ = e.Svc.ChangeIdentifiers(alice, crmsync.Contacts, e.Last()-1, e.Last())
	if len(ids) != 0 {
		t.Errorf("company change in the contact feed: %+v", ids)
	}
}

func testTrashRestore(t *testing.T, open Open) {
	e := NewEnv(t, open)
	e.Group("all", crmsync.LevelAll, crmsync.LevelAll, crmsync.LevelAll, true)
	e.Group("nodelete", crmsync.LevelAll, crmsync.LevelAll, crmsync.LevelNone, true)
	alice := e.User("alice", false, "all")
	carol := e.User("carol", false, "nodelete")
	g := e.MustSave(alice, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "Gone", "Email1Address", "gone@example.com")}).GUID
	keep := e.MustSave(alice, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "Kept")}).GUID

	WantCode(t, e.Svc.Delete(carol, crmsync.Contacts, []string{g}), crmsync.EFORBIDDEN)
	base := e.Last()
	if err := e.Svc.Delete(alice, crmsync.Contacts, []string{g, g}); err != nil {
		t.Fatal(err)
	}
	if e.Last() != base+1 {
		t.Errorf("delete logged %d changes, want 1", e.Last()-base)
	}
	if e.Get(alice, crmsync.Contacts, g) != nil {
		t.Error("deleted item still readable")
	}
	ids, _ := e.Svc.Identifiers(alice, crmsync.Contacts)
	found, _ := e.Svc.Search(alice, crmsync.Contacts, set("LastName", "gone"), false)
	if len(ids) != 1 || ids[0].GUID != keep || len(found) != 0 {
		t.Errorf("deleted item listed: ids %v search %d", ids, len(found))
	}
	trash, err := e.Svc.Trash(alice, crmsync.Contacts)
	if err != nil {
		t.Fatal(err)
	}
	if len(trash) != 1 || trash[0].GUID != g || !trash[0].Trashed || trash[0].Version != 2 {
		t.Fatalf("trash %+v", trash)
	}
	feed, _ := e.Svc.ChangeIdentifiers(alice, crmsync.Contacts, base, e.Last())
	if len(feed) != 1 || !feed[0].Removed || feed[0].Version != 2 {
		t.Errorf("feed after delete %+v", feed)
	}
	WantCode(t, e.Save(alice, crmsync.Contacts, crmsync.Patch{GUID: g, Set: set("FirstName", "X")}, false).Err, crmsync.ENOTFOUND)
	WantCode(t, e.Svc.Delete(alice, crmsync.Contacts, []string{keep, g}), crmsync.ENOTFOUND)
	if e.Get(alice, crmsync.Contacts, keep) == nil {
		t.Error("a failed batch delete deleted an item")
	}
	WantCode(t, e.Svc.Restore(alice, crmsync.Contacts, keep), crmsync.ENOTFOUND)

	base = e.Last()
	if err := e.Svc.Restore(alice, crmsync.Contacts, strings.ToUpper(g)); err != nil {
		t.Fatal(err)
	}
	it := e.Get(alice, crmsync.Contacts, g)
	if it == nil || it.Version != 3 || it.Get("LastName") != "Gone" {
		t.Fatalf("restored %+v", it)
	}
	feed, _ = e.Svc.ChangeIdentifiers(alice, crmsync.Contacts, base, e.Last())
	if len(feed) != 1 || feed[0].Removed || feed[0].Version != 3 {
		t.Errorf("feed after restore %+v", feed)
	}
	if trash, _ := e.Svc.Trash(alice, crmsync.Contacts); len(trash) != 0 {
		t.Errorf("trash after restore %v", trash)
	}
}

func testDuplicity(t *testing.T, open Open) {
	e := NewEnv(t, open)
	e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "First", "Email1Address", "Petr@Example.com")})
	// Off by default.
	e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "Second", "Email1Address", "petr@example.com")})
	if err := e.Svc.SetGlobalSetting(e.Sys, crmsync.SettingDuplicityCheck, "true"); err != nil {
		t.Fatal(err)
	}
	before := e.Last()
	r := e.Save(e.Sys, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "Third", "Email1Address", "  PETR@example.COM ")}, false)
	WantCode(t, r.Err, crmsync.EDUPLICATE)
	if e.Last() != before {
		t.Error("refused duplicate logged a change")
	}
	// Email 2 and empty Email 1 are not checked.
	e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "Fourth", "Email2Address", "petr@example.com")})
	e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "Fifth")})
	// Within one batch the second new contact is the duplicate.
	res, err := e.Svc.Save(e.Sys, crmsync.Contacts, []crmsync.Patch{
		{Set: set("LastName", "A", "Email1Address", "new@example.com")},
		{Set: set("LastName", "B", "Email1Address", "New@Example.com")},
	}, crmsync.SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil {
		t.Errorf("first new contact refused: %v", res[0].Err)
	}
	WantCode(t, res[1].Err, crmsync.EDUPLICATE)
	// A contact in the trash does not count.
	if err := e.Svc.Delete(e.Sys, crmsync.Contacts, []string{res[0].GUID}); err != nil {
		t.Fatal(err)
	}
	e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "C", "Email1Address", "new@example.com")})
}

func testSystemJournal(t *testing.T, open Open) {
	e := NewEnv(t, open)
	e.Group("all", crmsync.LevelAll, crmsync.LevelAll, crmsync.LevelAll, true)
	alice := e.User("alice", false, "all")
	contact := e.MustSave(alice, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "X")}).GUID
	j, err := e.Svc.AddSystemJournal(alice, contact, "Item conflict", "FirstName: Petr")
	if err != nil {
		t.Fatal(err)
	}
	got := e.Get(alice, crmsync.Journal, j.GUID)
	if got == nil || got.Get(crmsync.FieldIsSystem) != "true" || got.Get(crmsync.FieldContactGUID) != contact ||
		got.Get(crmsync.FieldNote) != "FirstName: Petr" || got.Owner() != userGUID(alice) {
		t.Fatalf("system journal %+v", got)
	}
	types, _ := e.Svc.EnumValues(alice, crmsync.EnumJournalType)
	var typ string
	for _, v := range types {
		if v.GUID == got.Get(crmsync.FieldJournalType) {
			typ = v.En
		}
	}
	if !strings.EqualFold(typ, "Item conflict") {
		t.Errorf("journal type %q", typ)
	}
	WantCode(t, e.Save(alice, crmsync.Journal, crmsync.Patch{GUID: j.GUID, Set: set(crmsync.FieldNote, "edited")}, false).Err, crmsync.EFORBIDDEN)
	// Users cannot make system journals themselves: IsSystem is read-only.
	r := e.MustSave(alice, crmsync.Journal, crmsync.Patch{Set: set(crmsync.FieldFileAs, "Mine", crmsync.FieldIsSystem, "true")})
	if e.Get(alice, crmsync.Journal, r.GUID).Get(crmsync.FieldIsSystem) == "true" {
		t.Error("user created a system journal")
	}
	_, err = e.Svc.AddSystemJournal(alice, guid(404), "x", "y")
	WantCode(t, err, crmsync.ENOTFOUND)
}

func testSearch(t *testing.T, open Open) {
	e := NewEnv(t, open)
	e.Group("own", crmsync.LevelOwn, crmsync.LevelOwn, crmsync.LevelOwn, true)
	bob := e.User("bob", false, "own")
	a := e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{Set: set("FirstName", "Jana", "LastName", "Nováková", "OwnerGUID", userGUID(bob))}).GUID
	b := e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{Set: set("FirstName", "Petr", "LastName", "Novák", "OwnerGUID", userGUID(bob))}).GUID
	c := e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{Set: set("FirstName", "Jana", "LastName", "Novák")}).GUID
	guids := func(items []*crmsync.Item, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range items {
			out = append(out, it.GUID)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		example map[string]string
		any     bool
		want    []string
	}{
		{"all fields", e.Sys, set("FirstName", "jana", "LastName", "NOVÁK"), false, []string{c}},
		{"any field", e.Sys, set("FirstName", "Petr", "LastName", "Nováková"), true, sorted(a, b)},
		{"rights", bob, set("FirstName", "Jana"), false, []string{a}},
		{"by GUID", e.Sys, set("ItemGUID", strings.ToUpper(b)), false, []string{b}},
		{"no match", e.Sys, set("FirstName", "Nobody"), false, nil},
	} {
		if diff := cmp.Diff(tc.want, guids(e.Svc.Search(tc.ctx, crmsync.Contacts, tc.example, tc.any))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
	_, err := e.Svc.Search(e.Sys, crmsync.Contacts, set("Shoe", "42"), false)
	WantCode(t, err, crmsync.EINVALID)

	// Fields a store may index give the same answers as a scan.
	skoda := e.MustSave(e.Sys, crmsync.Companies, crmsync.Patch{Set: set("CompanyName", "ŠKODA Auto a.s.")}).GUID
	e.MustSave(e.Sys, crmsync.Companies, crmsync.Patch{Set: set("CompanyName", "Other")})
	gone := e.MustSave(e.Sys, crmsync.Companies, crmsync.Patch{Set: set("CompanyName", "škoda auto A.S.")}).GUID
	if err := e.Svc.Delete(e.Sys, crmsync.Companies, []string{gone}); err != nil {
		t.Fatal(err)
	}
	e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{GUID: a, Set: set(crmsync.FieldCompanyGUID, skoda, "Email1Address", "Jana@Example.com")})
	j1 := e.MustSave(e.Sys, crmsync.Journal, crmsync.Patch{Set: set(crmsync.FieldFileAs, "call", crmsync.FieldContactGUID, a)}).GUID
	j2 := e.MustSave(e.Sys, crmsync.Journal, crmsync.Patch{Set: set(crmsync.FieldFileAs, "meeting", crmsync.FieldContactGUID, a, crmsync.FieldCompanyGUID, skoda)}).GUID
	e.MustSave(e.Sys, crmsync.Journal, crmsync.Patch{Set: set(crmsync.FieldFileAs, "other", crmsync.FieldContactGUID, b)})
	for _, tc := range []struct {
		name    string
		folder  crmsync.Folder
		example map[string]string
		want    []string
	}{
		{"company by name", crmsync.Companies, set("CompanyName", "  škoda AUTO a.s. "), []string{skoda}},
		{"contacts of a company", crmsync.Contacts, set(crmsync.FieldCompanyGUID, strings.ToUpper(skoda)), []string{a}},
		{"contact by e-mail", crmsync.Contacts, set("Email1Address", "jana@example.COM"), []string{a}},
		{"journals of a contact", crmsync.Journal, set(crmsync.FieldContactGUID, a), sorted(j1, j2)},
		{"journals of a contact and company", crmsync.Journal, set(crmsync.FieldContactGUID, a, crmsync.FieldCompanyGUID, skoda), []string{j2}},
		{"indexed field and another", crmsync.Journal, set(crmsync.FieldContactGUID, a, crmsync.FieldFileAs, "CALL"), []string{j1}},
	} {
		if diff := cmp.Diff(tc.want, guids(e.Svc.Search(e.Sys, tc.folder, tc.example, false))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

func testPermissionsChanged(t *testing.T, open Open) {
	e := NewEnv(t, open)
	e.Group("a", crmsync.LevelAll, crmsync.LevelAll, crmsync.LevelAll, true)
	e.Group("b", crmsync.LevelOwn, crmsync.LevelOwn, crmsync.LevelOwn, true)
	alice := e.User("alice", false, "a")
	bob := e.User("bob", false, "b")
	changed := func(ctx context.Context, base int64) bool {
		t.Helper()
		ok, err := e.Svc.HavePermissionsChanged(ctx, base, e.Last())
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	base := e.Last()
	e.MustSave(alice, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "X")})
	if changed(alice, base) || changed(bob, base) {
		t.Error("an item change counted as a permission change")
	}
	base = e.Last()
	e.Group("a", crmsync.LevelOwn, crmsync.LevelOwn, crmsync.LevelOwn, true)
	if !changed(alice, base) || changed(bob, base) {
		t.Errorf("after editing group a: alice %v (want true), bob %v (want false)", changed(alice, base), changed(bob, base))
	}
	if e.Last() == base {
		t.Error("group edit not in the change log")
	}
	base = e.Last()
	if err := e.Svc.AddToGroup(e.Sys, "bob", "a"); err != nil {
		t.Fatal(err)
	}
	if !changed(bob, base) || changed(alice, base) {
		t.Error("membership change not reported to the member only")
	}
	base = e.Last()
	if err := e.Svc.RemoveFromGroup(e.Sys, "bob", "a"); err != nil {
		t.Fatal(err)
	}
	if !changed(bob, base) {
		t.Error("removal from a group not reported")
	}
	// Item feeds ignore permission entries.
	ids, _ := e.Svc.ChangeIdentifiers(alice, crmsync.Contacts, base, e.Last())
	if len(ids) != 0 {
		t.Errorf("permission change in the item feed: %v", ids)
	}
}

func testSettings(t *testing.T, open Open) {
	e := NewEnv(t, open)
	alice := e.User("alice", false)
	bob := e.User("bob", false)
	if err := e.Svc.SaveUserSetting(alice, crmsync.Setting{Path: "Contacts", Name: "Sync", Value: "on"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Svc.SaveUserSetting(alice, crmsync.Setting{Path: "Contacts", Name: "Sync", Value: "off"}); err != nil {
		t.Fatal(err)
	}
	got, _ := e.Svc.UserSettings(alice)
	if diff := cmp.Diff([]crmsync.Setting{{Path: "Contacts", Name: "Sync", Value: "off"}}, got); diff != "" {
		t.Errorf("alice's settings (-want +got):\n%s", diff)
	}
	if got, _ := e.Svc.UserSettings(bob); len(got) != 0 {
		t.Errorf("bob sees settings %v", got)
	}
	WantCode(t, e.Svc.SaveUserSetting(alice, crmsync.Setting{Path: "x"}), crmsync.EINVALID)
	must(t, e.Svc.SaveUserSetting(bob, crmsync.Setting{Path: "Contacts", Name: "Sync", Value: "bob's"}))
	must(t, e.Svc.DeleteUserSetting(alice, "Contacts", "Sync"))
	if got, _ := e.Svc.UserSettings(alice); len(got) != 0 {
		t.Errorf("alice's settings after the delete: %v", got)
	}
	if got, _ := e.Svc.UserSettings(bob); len(got) != 1 {
		t.Errorf("alice's delete touched bob's settings: %v", got)
	}
	must(t, e.Svc.DeleteUserSetting(alice, "Contacts", "Sync")) // already gone: no error

	// Additional field definitions: administrators define, everyone reads.
	root := e.User("root", true)
	af := crmsync.AdditionalField{Folder: crmsync.Companies, FieldID: 25, Name: "Rating", Type: 1, Rank: 2, Comment: "1 to 10"}
	must(t, e.Svc.SaveAdditionalField(root, af))
	must(t, e.Svc.SaveAdditionalField(root, crmsync.AdditionalField{Folder: crmsync.Contacts, FieldID: 3, Name: "Hobby"}))
	af.Name = "Score"
	must(t, e.Svc.SaveAdditionalField(root, af)) // replaces
	WantCode(t, e.Svc.SaveAdditionalField(alice, crmsync.AdditionalField{Folder: crmsync.Contacts, FieldID: 4, Name: "x"}), crmsync.EFORBIDDEN)
	WantCode(t, e.Svc.SaveAdditionalField(root, crmsync.AdditionalField{Folder: crmsync.Contacts, FieldID: 0, Name: "x"}), crmsync.EINVALID)
	fields, err := e.Svc.AdditionalFields(bob)
	must(t, err)
	want := []crmsync.AdditionalField{{Folder: crmsync.Companies, FieldID: 25, Name: "Score", Type: 1, Rank: 2, Comment: "1 to 10"},
		{Folder: crmsync.Contacts, FieldID: 3, Name: "Hobby"}}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("additional fields (-want +got):\n%s", diff)
	}

	g, err := e.Svc.GlobalSettings(alice)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(crmsync.DefaultGlobalSettings, g); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	WantCode(t, e.Svc.SetGlobalSetting(alice, crmsync.SettingDuplicityCheck, "true"), crmsync.EFORBIDDEN)
	WantCode(t, e.Svc.SetGlobalSetting(e.Sys, crmsync.SettingDuplicityCheck, "yes"), crmsync.EINVALID)
	if err := e.Svc.SetGlobalSetting(e.Sys, crmsync.SettingCreateCompany, "TRUE"); err != nil {
		t.Fatal(err)
	}
	g, _ = e.Svc.GlobalSettings(bob)
	if g[crmsync.SettingCreateCompany] != "true" || g[crmsync.SettingDuplicityCheck] != "false" {
		t.Errorf("globals %v", g)
	}
}

func testEnums(t *testing.T, open Open) {
	e := NewEnv(t, open)
	alice := e.User("alice", false)
	count := map[string]int{}
	all, err := e.Svc.EnumValues(alice, "")
	if err != nil {
		t.Fatal(err)
	}
	byEn := map[string]crmsync.EnumValue{}
	for _, v := range all {
		count[v.EnumType]++
		byEn[v.EnumType+"/"+v.En] = v
	}
	for typ, min := range map[string]int{crmsync.EnumCountry: 249, crmsync.EnumPrefix: 10, crmsync.EnumSuffix: 5, crmsync.EnumJournalType: 4} {
		if count[typ] < min {
			t.Errorf("%d %s values seeded, want at least %d", count[typ], typ, min)
		}
	}
	for _, k := range []string{"PrefixType/Ing.", "PrefixType/MUDr.", "PrefixType/Prof.", "SuffixType/Ph.D.", "SuffixType/CSc.",
		"CountryCode/Czech Republic", "CountryCode/Germany", "CountryCode/United States", "JournalType/Phone call", "JournalType/Item conflict"} {
		if _, ok := byEn[k]; !ok {
			t.Errorf("%s not seeded", k)
		}
	}
	cz := byEn["CountryCode/Czech Republic"]
	if cz.Cs != "Česká republika" || !cz.IsSystem {
		t.Errorf("Czech Republic %+v", cz)
	}
	if de := byEn["CountryCode/Germany"]; de.Cs != "Německo" {
		t.Errorf("Germany in Czech %q", de.Cs)
	}
	countries, _ := e.Svc.EnumValues(alice, crmsync.EnumCountry)
	if len(countries) != count[crmsync.EnumCountry] {
		t.Errorf("EnumValues(CountryCode) %d, want %d", len(countries), count[crmsync.EnumCountry])
	}
	for _, name := range []string{"česká REPUBLIKA", " Czech Republic "} {
		v, err := e.Svc.EnsureEnumValue(alice, crmsync.EnumCountry, name)
		if err != nil || v.GUID != cz.GUID {
			t.Errorf("EnsureEnumValue(%q) = %+v, %v", name, v, err)
		}
	}
	// Aliases and ISO codes find the built-in country (issue 14), both
	// for the CardDAV server and for Outlook's free-text country.
	us := byEn["CountryCode/United States"]
	for name, want := range map[string]crmsync.EnumValue{"Czechia": cz, "CZ": cz, "CZE": cz, "USA": us, "U.S.A.": us, "US": us, "United States of America": us} {
		v, err := e.Svc.EnsureEnumValue(alice, crmsync.EnumCountry, name)
		if err != nil || v.GUID != want.GUID {
			t.Errorf("EnsureEnumValue(%q) = %+v, %v, want %s", name, v, err, want.En)
		}
	}
	// A placeholder is no country: "NA" is not Namibia (alice may not add
	// values, so it is refused rather than looked up).
	for _, name := range []string{"NA", "N/A", "-"} {
		v, err := e.Svc.EnsureEnumValue(alice, crmsync.EnumCountry, name)
		WantCode(t, err, crmsync.EFORBIDDEN)
		if v.GUID != "" {
			t.Errorf("EnsureEnumValue(%q) = %s", name, v.En)
		}
	}
	// alice has no rights at all: she may look values up but not add any.
	_, err = e.Svc.EnsureEnumValue(alice, crmsync.EnumPrefix, "Ing. et Ing.")
	WantCode(t, err, crmsync.EFORBIDDEN)
	e.Group("writers", crmsync.LevelOwn, crmsync.LevelOwn, crmsync.LevelNone, false)
	if err := e.Svc.AddToGroup(e.Sys, "alice", "writers"); err != nil {
		t.Fatal(err)
	}
	v, err := e.Svc.EnsureEnumValue(alice, crmsync.EnumPrefix, "Ing. et Ing.")
	if err != nil || v.En != "Ing. et Ing." || !crmsync.IsGUID(v.GUID) {
		t.Fatalf("new value %+v %v", v, err)
	}
	again, _ := e.Svc.EnsureEnumValue(alice, crmsync.EnumPrefix, "ing. ET ing.")
	if again.GUID != v.GUID {
		t.Error("EnsureEnumValue created a second value")
	}
	e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "X", "PrefixEn", strings.ToUpper(v.GUID), "HomeAddressCountryEn", cz.GUID)})
	_, err = e.Svc.EnsureEnumValue(alice, "Shoes", "x")
	WantCode(t, err, crmsync.EINVALID)
	_, err = e.Svc.EnsureEnumValue(alice, crmsync.EnumPrefix, "  ")
	WantCode(t, err, crmsync.EINVALID)
}

func testWatch(t *testing.T, open Open) {
	e := NewEnv(t, open)
	ctx, cancel := context.WithCancel(context.Background())
	ch := e.Svc.WatchChanges(ctx)
	e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "A")})
	e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "B")})
	// The reader was slow: it gets the latest id, not a backlog.
	if got := <-ch; got != e.Last() {
		t.Errorf("watch got %d, want %d", got, e.Last())
	}
	cancel()
	for range ch {
	}
}

func testAdmin(t *testing.T, open Open) {
	e := NewEnv(t, open)
	alice := e.User("alice", false)
	root := e.User("root", true)
	_, err := e.Svc.AddUser(alice, "eve", "pw", true)
	WantCode(t, err, crmsync.EFORBIDDEN)
	_, err = e.Svc.AddUser(root, "ALICE", "pw", false)
	WantCode(t, err, crmsync.EEXISTS)
	_, err = e.Svc.AddUser(root, " bad", "pw", false)
	WantCode(t, err, crmsync.EINVALID)
	_, err = e.Svc.AddUser(root, "nopw", "", false)
	WantCode(t, err, crmsync.EINVALID)
	if _, err := e.Svc.AddUser(root, "dave", "pw", false); err != nil {
		t.Fatal(err)
	}
	users, err := e.Svc.Users(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
	}
	if diff := cmp.Diff([]string{"alice", "dave", "root"}, names); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
	_, err = e.Svc.Users(alice)
	WantCode(t, err, crmsync.EFORBIDDEN)
	_, err = e.Svc.UserByName(alice, "dave")
	WantCode(t, err, crmsync.ENOTFOUND)
	if u, err := e.Svc.UserByName(alice, "alice"); err != nil || u.GUID != userGUID(alice) {
		t.Errorf("own user %+v %v", u, err)
	}
	WantCode(t, e.Svc.SetPassword(alice, "dave", "x"), crmsync.EFORBIDDEN)
	if err := e.Svc.SetPassword(alice, "alice", "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.Authenticate(context.Background(), "alice", crmsync.PasswordMD5("new")); err != nil {
		t.Errorf("new password: %v", err)
	}
	WantCode(t, e.Svc.AddToGroup(root, "alice", "nosuch"), crmsync.ENOTFOUND)
	WantCode(t, e.Svc.AddToGroup(root, "nosuch", "nosuch"), crmsync.ENOTFOUND)
	WantCode(t, e.Svc.SaveGroup(alice, "x", nil), crmsync.EFORBIDDEN)
	WantCode(t, e.Svc.SaveGroup(root, "x", []crmsync.Rights{{Folder: "Tasks"}}), crmsync.EINVALID)

	// Rights combine: the highest level wins, any "no export" wins.
	if err := e.Svc.SaveGroup(root, "g1", []crmsync.Rights{{Folder: crmsync.Contacts, View: crmsync.LevelOwn, Edit: crmsync.LevelAll, CanExport: true}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Svc.SaveGroup(root, "g2", []crmsync.Rights{{Folder: crmsync.Contacts, View: crmsync.LevelAll, CanCreate: true, CanExport: false}}); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"g1", "g2"} {
		if err := e.Svc.AddToGroup(root, "alice", g); err != nil {
			t.Fatal(err)
		}
	}
	groups, _ := e.Svc.Groups(root)
	if len(groups) != 2 || len(groups["g1"]) != 1 {
		t.Errorf("groups %v", groups)
	}
	rights, err := e.Svc.MyRights(alice)
	if err != nil {
		t.Fatal(err)
	}
	want := []crmsync.Rights{
		{Folder: crmsync.Contacts, View: crmsync.LevelAll, Edit: crmsync.LevelAll, CanCreate: true},
		{Folder: crmsync.Companies},
		{Folder: crmsync.Journal},
	}
	if diff := cmp.Diff(want, rights); diff != "" {
		t.Errorf("rights (-want +got):\n%s", diff)
	}
	rights, _ = e.Svc.MyRights(root)
	if rights[0] != crmsync.FullRights(crmsync.Contacts) {
		t.Errorf("admin rights %+v", rights[0])
	}
}

// Concurrent writers are serialized: no update is lost, every write gets
// its own change id and version, and readers run alongside.
func testConcurrent(t *testing.T, open Open) {
	e := NewEnv(t, open)
	g := e.MustSave(e.Sys, crmsync.Contacts, crmsync.Patch{Set: set("LastName", "Counter")}).GUID
	base := e.Last()
	const writers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each*2)
	for w := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range each {
				res, err := e.Svc.Save(e.Sys, crmsync.Contacts, []crmsync.Patch{{GUID: g, Set: set("Note", strings.Repeat("x", w*each+i+1))}}, crmsync.SaveOptions{})
				if err == nil {
					err = res[0].Err
				}
				if err != nil {
					errs <- err
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range each {
				if _, err := e.Svc.Items(e.Sys, crmsync.Contacts, []string{g}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	it := e.Get(e.Sys, crmsync.Contacts, g)
	if it.Version != 1+writers*each {
		t.Errorf("version %d after %d writes, want %d", it.Version, writers*each, 1+writers*each)
	}
	if got := e.Last() - base; got != writers*each {
		t.Errorf("%d changes logged, want %d", got, writers*each)
	}
	ids, err := e.Svc.ChangeIdentifiers(e.Sys, crmsync.Contacts, base, e.Last())
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0].Version != it.Version {
		t.Errorf("feed %+v", ids)
	}
}

// A disabled user signs in like one with a wrong password, a session
// opened before is refused at its next call, the flag is kept by the
// store, and enabling lets them in again. Only administrators may do it,
// and never to the last enabled administrator.
func testDisable(t *testing.T, open Open) {
	e := NewEnv(t, open)
	alice := e.User("alice", false)
	root := e.User("root", true)
	session, err := e.Svc.Authenticate(context.Background(), "alice", crmsync.PasswordMD5("alice"))
	if err != nil {
		t.Fatal(err)
	}
	aliceSession := crmsync.WithUser(context.Background(), session)

	WantCode(t, e.Svc.SetDisabled(alice, "root", true), crmsync.EFORBIDDEN)
	WantCode(t, e.Svc.SetDisabled(root, "nobody", true), crmsync.ENOTFOUND)
	WantCode(t, e.Svc.SetDisabled(root, "root", true), crmsync.EPRECONDITION)
	WantCode(t, e.Svc.SetDisabled(e.Sys, "ROOT", true), crmsync.EPRECONDITION)
	if err := e.Svc.SetDisabled(root, "ALICE", true); err != nil {
		t.Fatal(err)
	}
	u, err := e.Svc.UserByName(root, "alice")
	if err != nil || !u.Disabled {
		t.Fatalf("alice after disabling: %+v %v", u, err)
	}
	_, wrong := e.Svc.Authenticate(context.Background(), "alice", crmsync.PasswordMD5("not her password"))
	_, disabled := e.Svc.Authenticate(context.Background(), "alice", crmsync.PasswordMD5("alice"))
	WantCode(t, disabled, crmsync.EUNAUTHORIZED)
	if crmsync.ErrorMessage(disabled) != crmsync.ErrorMessage(wrong) {
		t.Errorf("a disabled user's sign-in says %q, a wrong password %q", crmsync.ErrorMessage(disabled), crmsync.ErrorMessage(wrong))
	}
	for name, ctx := range map[string]context.Context{"session": aliceSession, "unstamped user": alice} {
		_, err := e.Svc.MyRights(ctx)
		WantCode(t, err, crmsync.EUNAUTHORIZED)
		_, err = e.Svc.Items(ctx, crmsync.Contacts, nil)
		if crmsync.ErrorCode(err) != crmsync.EUNAUTHORIZED {
			t.Errorf("%s of a disabled user lists contacts: %v", name, err)
		}
	}
	_, err = e.Svc.UserSettings(alice)
	WantCode(t, err, crmsync.EUNAUTHORIZED)

	// A second administrator may be disabled while root stays enabled,
	// and then root is the last one again.
	e.User("bob", true)
	if err := e.Svc.SetDisabled(root, "bob", true); err != nil {
		t.Fatal(err)
	}
	WantCode(t, e.Svc.SetDisabled(root, "root", true), crmsync.EPRECONDITION)

	if err := e.Svc.SetDisabled(e.Sys, "alice", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.Authenticate(context.Background(), "alice", crmsync.PasswordMD5("alice")); err != nil {
		t.Errorf("enabled again: %v", err)
	}
	if _, err := e.Svc.MyRights(aliceSession); err != nil {
		t.Errorf("the session after enabling again: %v", err)
	}
	users, err := e.Svc.Users(root)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, u := range users {
		got[u.Name] = u.Disabled
	}
	if diff := cmp.Diff(map[string]bool{"alice": false, "bob": true, "root": false}, got); diff != "" {
		t.Errorf("disabled per user (-want +got):\n%s", diff)
	}
}
