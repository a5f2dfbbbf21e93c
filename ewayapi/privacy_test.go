package ewayapi_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/crmsync/crmsync"
)

// addUser adds a user with full rights (group "sales") to the fixture.
func (f *fixture) addUser(name string) string {
	f.tb.Helper()
	sys := crmsync.System(context.Background())
	u, err := f.crm.AddUser(sys, name, name+"-pw", false)
	must(f.tb, err)
	must(f.tb, f.crm.AddToGroup(sys, name, "sales"))
	return u.GUID
}

// changedGUIDs returns every GUID, changed or removed, that GetChangedItems
// answers for folder from change 0.
func (f *fixture) changedGUIDs(session string, folder crmsync.Folder) []string {
	f.tb.Helper()
	var out []string
	for _, d := range f.ok(session, "GetChangedItems", map[string]any{"baseChangeId": 0}).data() {
		set := d.(map[string]any)
		if set["FolderName"] != string(folder) {
			continue
		}
		out = append(out, guids(set["ChangedItems"].([]any))...)
		for _, g := range set["RemovedItemGuids"].([]any) {
			out = append(out, g.(string))
		}
	}
	return out
}

// A journal linked to a contact or company the reader may not see is
// invisible on every read path of the API, even to a reader whose Journal
// rights reach it, and even in the trash.
func TestJournalsOfPrivateItemsAreInvisible(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.addUser("carol")
	alice, carol := f.login("alice"), f.login("carol")
	save := func(method string, fields map[string]any) string {
		return f.ok(alice, method, map[string]any{"transmitObject": fields})["Guid"].(string)
	}
	private := save("SaveContact", map[string]any{"LastName": "Secret", "IsPrivate": true})
	public := save("SaveContact", map[string]any{"LastName": "Open"})
	privateCo := save("SaveCompany", map[string]any{"CompanyName": "Hidden s.r.o.", "IsPrivate": true})
	onPrivate := save("SaveJournal", map[string]any{"FileAs": "about the secret", "Contacts_ContactGuid": private})
	onPrivateCo := save("SaveJournal", map[string]any{"FileAs": "about the hidden company",
		"Contacts_ContactGuid": public, "Companies_CompanyGuid": privateCo})
	onPublic := save("SaveJournal", map[string]any{"FileAs": "about the open one", "Contacts_ContactGuid": public})
	trashed := save("SaveJournal", map[string]any{"FileAs": "deleted secret", "Contacts_ContactGuid": private})
	f.ok(alice, "DeleteJournal", map[string]any{"itemGuid": trashed})
	hidden := []string{onPrivate, onPrivateCo, trashed}

	// The owner sees them all.
	if got := guids(f.ok(alice, "GetJournals", nil).data()); !slices.Equal(got, sortedOf(onPrivate, onPrivateCo, onPublic)) {
		t.Fatalf("alice: GetJournals = %v", got)
	}

	seen := map[string][]string{
		"GetJournals":            guids(f.ok(carol, "GetJournals", nil).data()),
		"GetJournalsByItemGuids": guids(f.ok(carol, "GetJournalsByItemGuids", map[string]any{"itemGuids": append([]string{onPublic}, hidden...)}).data()),
		"GetJournalsIdentifiers": guids(f.ok(carol, "GetJournalsIdentifiers", nil).data()),
		"SearchJournals":         guids(f.ok(carol, "SearchJournals", map[string]any{"transmitObject": map[string]any{}}).data()),
		"SearchJournals by contact": guids(f.ok(carol, "SearchJournals", map[string]any{
			"transmitObject": map[string]any{"Contacts_ContactGuid": private}}).data()),
		"SearchJournalsIdentifiers": guids(f.ok(carol, "SearchJournalsIdentifiers", map[string]any{"transmitObject": map[string]any{}}).data()),
		"GetDeletedJournals":        guids(f.ok(carol, "GetDeletedJournals", nil).data()),
		"GetItemChangeIdentifiers": guids(f.ok(carol, "GetItemChangeIdentifiers", map[string]any{
			"folderName": "Journal", "baseChangeId": 0}).data()),
		"GetChangedItems": f.changedGUIDs(carol, crmsync.Journal),
	}
	for method, got := range seen {
		for _, g := range hidden {
			if slices.Contains(got, g) {
				t.Errorf("carol: %s shows journal %s of a private item", method, g)
			}
		}
	}
	for _, method := range []string{"GetJournals", "GetJournalsByItemGuids", "GetJournalsIdentifiers", "SearchJournals", "GetItemChangeIdentifiers", "GetChangedItems"} {
		if !slices.Contains(seen[method], onPublic) {
			t.Errorf("carol: %s = %v lacks the journal %s of a public contact", method, seen[method], onPublic)
		}
	}
	if r := f.call(carol, "HaveItemsChanged", map[string]any{"folderNames": []string{"Journal"}, "baseChangeId": f.lastChange() - 1}); r["Datum"] != false {
		t.Errorf("carol: HaveItemsChanged after the deletion of a journal she never saw = %v", r["Datum"])
	}

	// When the contact goes public, its journals appear.
	f.ok(alice, "SaveContact", map[string]any{"transmitObject": map[string]any{"ItemGUID": private, "IsPrivate": false}})
	if got := guids(f.ok(carol, "GetJournals", nil).data()); !slices.Contains(got, onPrivate) {
		t.Errorf("carol: GetJournals = %v after the contact went public, want %s in it", got, onPrivate)
	}
}

// Nobody plants an item into another user's private scope: an item
// private to someone else, or a journal or contact linked to a contact or
// company the writer may not see. A refused write changes nothing.
func TestNoItemsPlantedInPrivateScope(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	carolGUID := f.addUser("carol")
	alice, carol := f.login("alice"), f.login("carol")
	private := f.ok(carol, "SaveContact", map[string]any{"transmitObject": map[string]any{"LastName": "Mine", "IsPrivate": true}})["Guid"].(string)
	privateCo := f.ok(carol, "SaveCompany", map[string]any{"transmitObject": map[string]any{"CompanyName": "Mine Ltd", "IsPrivate": true}})["Guid"].(string)
	last := f.lastChange()

	for _, c := range []struct {
		method string
		fields map[string]any
	}{
		{"SaveContact", map[string]any{"LastName": "Planted", "OwnerGUID": carolGUID, "IsPrivate": true}},
		{"SaveJournal", map[string]any{"FileAs": "planted", "OwnerGUID": carolGUID, "IsPrivate": true}},
		{"SaveJournal", map[string]any{"FileAs": "planted", "Contacts_ContactGuid": private}},
		{"SaveJournal", map[string]any{"FileAs": "planted", "Companies_CompanyGuid": privateCo}},
		{"SaveContact", map[string]any{"LastName": "Planted", "Companies_CompanyGuid": privateCo}},
	} {
		r := f.call(alice, c.method, map[string]any{"transmitObject": c.fields})
		if r.code() == "rcSuccess" {
			t.Errorf("alice: %s %v succeeded", c.method, c.fields)
		}
		if r.desc() == "" {
			t.Errorf("alice: %s %v: %s without a Description", c.method, c.fields, r.code())
		}
	}
	// An own item cannot be handed over while private either.
	mine := f.ok(alice, "SaveContact", map[string]any{"transmitObject": map[string]any{"LastName": "Alice's", "IsPrivate": true}})["Guid"].(string)
	last++
	f.want("rcAccessDenied", alice, "SaveContact", map[string]any{"transmitObject": map[string]any{"ItemGUID": mine, "OwnerGUID": carolGUID}})
	if got := f.lastChange(); got != last {
		t.Errorf("refused saves wrote %d changes", got-last)
	}
	// The owner herself may link and make private.
	f.ok(carol, "SaveJournal", map[string]any{"transmitObject": map[string]any{"FileAs": "own", "Contacts_ContactGuid": private, "IsPrivate": true}})
}

// SaveContact answers alike for a GUID nobody uses (when the caller may
// not create) and for an item the caller may not see, trashed or not, so
// that it tells nothing about items the caller may not see.
func TestSaveIsNoExistenceOracle(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.addUser("carol")
	alice, carol, bob := f.login("alice"), f.login("carol"), f.login("bob")
	hidden := f.ok(carol, "SaveContact", map[string]any{"transmitObject": map[string]any{"LastName": "Mine", "IsPrivate": true}})["Guid"].(string)
	trashed := f.ok(carol, "SaveContact", map[string]any{"transmitObject": map[string]any{"LastName": "Gone", "IsPrivate": true}})["Guid"].(string)
	f.ok(carol, "DeleteContact", map[string]any{"itemGuid": trashed})
	unknown := "0badc0de-0000-4000-8000-000000000001"

	answer := func(session, g string) string {
		r := f.call(session, "SaveContact", map[string]any{"transmitObject": map[string]any{"ItemGUID": g, "ItemVersion": 5, "LastName": "probe"}})
		return r.code() + " " + strings.ReplaceAll(r.desc(), g, "{guid}")
	}
	// bob may not create: an unknown GUID, a hidden item and a trashed one
	// must look the same to him.
	want := answer(bob, unknown)
	for _, g := range []string{hidden, trashed} {
		if got := answer(bob, g); got != want {
			t.Errorf("bob: SaveContact of an invisible item answers %q, of an unknown GUID %q", got, want)
		}
	}
	// alice may create, so an unknown GUID is created; an invisible one
	// answers as bob's unknown GUID did, trashed or not.
	for _, g := range []string{hidden, trashed} {
		if got := answer(alice, g); got != want {
			t.Errorf("alice: SaveContact of an invisible item answers %q, want %q", got, want)
		}
	}
	f.want("rcAccessDenied", alice, "SaveContact", map[string]any{"transmitObject": map[string]any{"ItemGUID": hidden}})
}
