package ewayapi_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/internal/crmtest"
	"github.com/crmsync/crmsync/service"
)

// Without the Export right a user reads contacts one by one or a page at
// a time, but no call lists more than service.ExportFreeItems of them.
func TestExportRightBoundsBulkReads(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	sys := crmsync.System(context.Background())
	must(t, f.crm.SaveGroup(sys, "no-export", crmtest.NoExport()))
	_, err := f.crm.AddUser(sys, "dora", "dora-pw", false)
	must(t, err)
	must(t, f.crm.AddToGroup(sys, "dora", "no-export"))
	alice, dora := f.login("alice"), f.login("dora")

	var objs []any
	for i := range service.ExportFreeItems {
		objs = append(objs, map[string]any{"LastName": fmt.Sprintf("Contact %d", i)})
	}
	var saved []string
	for _, r := range f.ok(alice, "SaveContacts", map[string]any{"transmitObjects": objs}).data() {
		saved = append(saved, r.(map[string]any)["Guid"].(string))
	}
	if len(saved) != service.ExportFreeItems {
		t.Fatalf("saved %d contacts", len(saved))
	}
	bulk := []struct {
		method string
		params map[string]any
	}{
		{"GetContacts", nil},
		{"GetContactsIdentifiers", nil},
		{"SearchContacts", map[string]any{"transmitObject": map[string]any{}}},
		{"SearchContactsIdentifiers", map[string]any{"transmitObject": map[string]any{}}},
		{"GetItemChangeIdentifiers", map[string]any{"folderName": "Contacts", "baseChangeId": 0}},
		{"GetChangedItems", map[string]any{"folderNames": []string{"Contacts"}, "baseChangeId": 0}},
	}
	// A page's worth is readable.
	for _, c := range bulk {
		f.ok(dora, c.method, c.params)
	}
	one := f.ok(alice, "SaveContact", map[string]any{"transmitObject": map[string]any{"LastName": "One too many"}})["Guid"].(string)
	for _, c := range bulk {
		f.want("rcAccessDenied", dora, c.method, c.params)
		f.ok(alice, c.method, c.params)
	}
	f.want("rcAccessDenied", dora, "GetContactsByItemGuids", map[string]any{"itemGuids": append(saved, one)})
	// One by one, and a page of a search, still work.
	item(t, f.ok(dora, "GetContactsByItemGuids", map[string]any{"itemGuids": []string{one}}))
	item(t, f.ok(dora, "SearchContacts", map[string]any{"transmitObject": map[string]any{"LastName": "One too many"}}))
	f.ok(dora, "SaveContact", map[string]any{"transmitObject": map[string]any{"ItemGUID": one, "FirstName": "Edited"}})
	f.ok(dora, "GetItemChangeIdentifiers", map[string]any{"folderName": "Contacts", "baseChangeId": f.lastChange() - 1})
}

// GetChangedItems over more change ids than one window reads answers what
// the CRM's ChangedItems answers for the whole range: every changed item
// once, in its current state, and every removed one.
func TestChangedItemsAcrossWindows(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	alice := f.login("alice")
	var all []string
	for range 3 {
		var objs []any
		for i := range 500 {
			objs = append(objs, map[string]any{"LastName": fmt.Sprintf("Contact %d", i)})
		}
		for _, r := range f.ok(alice, "SaveContacts", map[string]any{"transmitObjects": objs}).data() {
			all = append(all, r.(map[string]any)["Guid"].(string))
		}
	}
	f.ok(alice, "SaveContact", map[string]any{"transmitObject": map[string]any{"ItemGUID": all[0], "FirstName": "Edited"}})
	f.ok(alice, "DeleteContact", map[string]any{"itemGuid": all[1]})
	f.ok(alice, "SaveCompany", map[string]any{"transmitObject": map[string]any{"CompanyName": "Acme"}})

	u, err := f.crm.UserByName(crmsync.System(context.Background()), "alice")
	must(t, err)
	want, err := f.crm.ChangedItems(crmsync.WithUser(context.Background(), u), []crmsync.Folder{crmsync.Contacts, crmsync.Companies}, 0, f.lastChange())
	must(t, err)
	sets := f.ok(alice, "GetChangedItems", map[string]any{"folderNames": []string{"Contacts", "Companies", "Contacts"}, "baseChangeId": 0}).data()
	if len(sets) != len(want) {
		t.Fatalf("%d folder sets, want %d", len(sets), len(want))
	}
	for i, w := range want {
		set := sets[i].(map[string]any)
		if set["FolderName"] != string(w.Folder) {
			t.Errorf("set %d is %v, want %s", i, set["FolderName"], w.Folder)
		}
		got := map[string]float64{}
		for _, d := range set["ChangedItems"].([]any) {
			it := d.(map[string]any)
			if _, dup := got[it["ItemGUID"].(string)]; dup {
				t.Errorf("%s: item %s twice", w.Folder, it["ItemGUID"])
			}
			got[it["ItemGUID"].(string)] = it["ItemVersion"].(float64)
		}
		if len(got) != len(w.Items) {
			t.Errorf("%s: %d changed items, want %d", w.Folder, len(got), len(w.Items))
		}
		for _, it := range w.Items {
			if got[it.GUID] != float64(it.Version) {
				t.Errorf("%s: item %s at version %v, want %d", w.Folder, it.GUID, got[it.GUID], it.Version)
			}
		}
		var removed []string
		for _, g := range set["RemovedItemGuids"].([]any) {
			removed = append(removed, g.(string))
		}
		if fmt.Sprint(removed) != fmt.Sprint(w.Removed) {
			t.Errorf("%s: removed %v, want %v", w.Folder, removed, w.Removed)
		}
	}
	if len(want[0].Removed) != 1 || len(want[0].Items) != 1499 {
		t.Errorf("the CRM's own answer: %d items, %d removed", len(want[0].Items), len(want[0].Removed))
	}
}
