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
