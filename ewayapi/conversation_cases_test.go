package ewayapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/crmsync/crmsync"
)

// The request bodies below are those eWay's PHP client sends for its
// published examples (eway-crm/php-lib, commit 00909be: eway.class.php
// postRequest, getItemsByItemGuids, deleteItem, getChangedItems and
// Examples/*/sample_code.php), with only the GUIDs crmsync gave.

// TestConversationCompanyExamples runs CreateNewCompany,
// EditDieOnConflictFalse, EditDieOnConflictTrue, SearchForCompany,
// ListAllCompanies and DeleteCompany.
func TestConversationCompanyExamples(t *testing.T) {
	c := newConversation(t)
	c.set("S", c.login("alice"))

	// Examples/CreateNewCompany: Purchaser sent as the string '1'.
	r := c.must(c.step("create", "/InsecureAPI.svc/SaveCompany", `{"sessionId":"$S","transmitObject":{"FileAs":"Monsters Inc.",
		"CompanyName":"Monsters Inc.","Purchaser":"1","Phone":"544 727 379","Email":"info@monsters.com"},
		"includeRelations":false,"dieOnItemConflict":false}`), "rcSuccess")
	c.set("G", r["Guid"].(string))
	get := func(step string) map[string]any {
		t.Helper()
		r := c.must(c.step(step, "/InsecureAPI.svc/GetCompaniesByItemGuids",
			`{"sessionId":"$S","itemGuids":["$G"],"includeForeignKeys":true,"includeRelations":false}`), "rcSuccess")
		if len(r.data()) != 1 {
			t.Fatalf("%s: %d companies", step, len(r.data()))
		}
		return r.data()[0].(map[string]any)
	}
	co := get("get-created")
	if co["Purchaser"] != true || co["Phone"] != "544 727 379" {
		t.Errorf("created company %v", co)
	}
	v := int(co["ItemVersion"].(float64))

	// Examples/EditDieOnConflictFalse: a stale version merges, nulls do not erase.
	c.set("V", itoa(v))
	c.must(c.step("merge-stale", "/InsecureAPI.svc/SaveCompany", `{"sessionId":"$S","transmitObject":{"ItemGUID":"$G",
		"ItemVersion":$V,"Phone":null,"Email":"support@monsters.com"},"includeRelations":false,"dieOnItemConflict":false}`), "rcSuccess")
	co = get("get-merged")
	if co["Phone"] != "544 727 379" || co["Email"] != "support@monsters.com" {
		t.Errorf("merged company %v", co)
	}
	c.set("V1", itoa(int(co["ItemVersion"].(float64))+1))
	c.must(c.step("clear-current", "/InsecureAPI.svc/SaveCompany", `{"sessionId":"$S","transmitObject":{"ItemGUID":"$G",
		"ItemVersion":$V1,"Phone":null},"includeRelations":false,"dieOnItemConflict":false}`), "rcSuccess")
	if co = get("get-cleared"); co["Phone"] != nil {
		t.Errorf("Phone not cleared with ItemVersion current+1: %v", co)
	}

	// Examples/EditDieOnConflictTrue: the stale save is refused and writes nothing.
	c.set("V", itoa(int(co["ItemVersion"].(float64))))
	c.must(c.step("die-stale", "/InsecureAPI.svc/SaveCompany", `{"sessionId":"$S","transmitObject":{"ItemGUID":"$G",
		"ItemVersion":$V,"Phone":null,"Email":"other@monsters.com"},"includeRelations":false,"dieOnItemConflict":true}`), "rcItemConflict")
	if co = get("get-after-conflict"); co["Email"] != "support@monsters.com" {
		t.Errorf("a refused save wrote: %v", co)
	}
	c.must(c.step("no-version", "/InsecureAPI.svc/SaveCompany", `{"sessionId":"$S","transmitObject":{"ItemGUID":"$G",
		"Phone":"+1 (123) 654-789","Email":null},"includeRelations":false,"dieOnItemConflict":true}`), "rcSuccess")

	// Examples/SearchForCompany and ListAllCompanies.
	found := c.must(c.step("search", "/InsecureAPI.svc/SearchCompanies",
		`{"sessionId":"$S","transmitObject":{"FileAs":"monsters inc."},"includeRelations":false,"dieOnItemConflict":false}`), "rcSuccess")
	if len(found.data()) != 1 {
		t.Errorf("SearchCompanies found %d", len(found.data()))
	}
	c.must(c.step("list", "/InsecureAPI.svc/GetCompanies", `{"sessionId":"$S","includeRelations":false}`), "rcSuccess")

	// Examples/DeleteCompany.
	c.must(c.step("delete", "/InsecureAPI.svc/DeleteCompany", `{"sessionId":"$S","itemGuid":"$G"}`), "rcSuccess")
	if r := c.step("list-after-delete", "/InsecureAPI.svc/GetCompanies", `{"sessionId":"$S","includeRelations":false}`); len(r.data()) != 0 {
		t.Errorf("deleted company still listed: %v", r.data())
	}
}

// TestConversationRelations runs AcquireContactsByCompany (relations of a
// company found by name) and LinkExistingItem, then SaveRelation,
// DeleteRelation and the relations' change feed.
func TestConversationRelations(t *testing.T) {
	c := newConversation(t)
	c.set("S", c.login("alice"))
	company := c.must(c.step("company", "/API.svc/SaveCompany", `{"sessionId":"$S","transmitObject":{"FileAs":"Chemel & Peterson LLC",
		"CompanyName":"Chemel & Peterson LLC"},"includeRelations":false,"dieOnItemConflict":false}`), "rcSuccess")["Guid"].(string)
	c.set("C", company)
	var contacts []string
	// Caller-chosen GUIDs (ItemVersion 1, as eWay's README says to create
	// them), so that the relations, listed by GUID, come in a fixed order.
	for i, n := range []string{"Ann", "Bob"} {
		c.set("NEW", fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", i+1))
		g := c.must(c.step("contact-"+n, "/API.svc/SaveContact", `{"sessionId":"$S","transmitObject":{"ItemGUID":"$NEW","ItemVersion":1,"FirstName":"`+n+`",
			"LastName":"Peterson","Companies_CompanyGuid":"$C","BusinessAddressCity":"Prague","TelephoneNumber1":"+420 1","Email1Address":"`+
			strings.ToLower(n)+`@cp.example"},"includeRelations":false,"dieOnItemConflict":false}`), "rcSuccess")["Guid"].(string)
		contacts = append(contacts, g)
	}
	c.set("A", contacts[0])
	c.set("B", contacts[1])
	journal := c.must(c.step("journal", "/API.svc/SaveJournal", `{"sessionId":"$S","transmitObject":{"ItemGUID":"00000000-0000-4000-8000-000000000009","ItemVersion":1,"FileAs":"Call",
		"Contacts_ContactGuid":"$A"},"includeRelations":false,"dieOnItemConflict":false}`), "rcSuccess")["Guid"].(string)
	c.set("J", journal)
	c.set("BASE", itoa(int(c.f.lastChange())))

	// Examples/AcquireContactsByCompany: searchCompanies(array('FileAs' => $company_name), true).
	r := c.must(c.step("search-with-relations", "/API.svc/SearchCompanies",
		`{"sessionId":"$S","transmitObject":{"FileAs":"Chemel & Peterson LLC"},"includeRelations":true,"dieOnItemConflict":false}`), "rcSuccess")
	var linked []string
	for _, rel := range r.data()[0].(map[string]any)["Relations"].([]any) {
		m := rel.(map[string]any)
		if (m["RelationType"] == "GENERAL" || m["RelationType"] == "COMPANY") && m["ForeignFolderName"] == "Contacts" {
			linked = append(linked, m["ForeignItemGUID"].(string))
		}
	}
	if len(linked) != 2 {
		t.Fatalf("company relations lead to %d contacts, want 2: %v", len(linked), r.data())
	}
	got := c.must(c.step("contacts-by-guids", "/API.svc/GetContactsByItemGuids", `{"sessionId":"$S","itemGuids":["`+
		strings.Join(linked, `","`)+`"],"includeForeignKeys":true,"includeRelations":false}`), "rcSuccess")
	if len(got.data()) != 2 {
		t.Errorf("GetContactsByItemGuids: %v", got.data())
	}
	c.must(c.step("contact-relations", "/API.svc/GetContactsByItemGuids",
		`{"sessionId":"$S","itemGuids":["$A"],"includeForeignKeys":false,"includeRelations":true}`), "rcSuccess")
	c.must(c.step("journal-relations", "/API.svc/GetJournals", `{"sessionId":"$S","includeRelations":true}`), "rcSuccess")

	// Examples/LinkExistingItem: a GENERAL link to a project is refused, naming the module.
	before := c.f.lastChange()
	r = c.step("link-project", "/API.svc/SaveRelation", `{"sessionId":"$S","transmitObject":{"ItemGUID1":"129641b8-3677-11e7-9e49-080027cbca76",
		"ItemGUID2":"$A","FolderName1":"Projects","FolderName2":"Contacts","RelationType":"GENERAL"},"includeRelations":false,"dieOnItemConflict":false}`)
	if r.code() != "rcParameterError" || !strings.Contains(r.desc(), `"Projects"`) || c.f.lastChange() != before {
		t.Errorf("LinkExistingItem to a project: %s %q, change id %d → %d", r.code(), r.desc(), before, c.f.lastChange())
	}
	c.must(c.step("link-general", "/API.svc/SaveRelation", `{"sessionId":"$S","transmitObject":{"ItemGUID1":"$C",
		"ItemGUID2":"$J","FolderName1":"Companies","FolderName2":"Journal","RelationType":"GENERAL"}}`), "rcParameterError")

	// The same example's shape for a link crmsync keeps: the journal to the company.
	rel := c.must(c.step("link-company-journal", "/API.svc/SaveRelation", `{"sessionId":"$S","transmitObject":{"ItemGUID1":"$C",
		"ItemGUID2":"$J","FolderName1":"Companies","FolderName2":"Journal","RelationType":"COMPANY"},"includeRelations":false,"dieOnItemConflict":false}`), "rcSuccess")
	if j := c.f.get(t, crmsync.Journal, journal); j.Get(crmsync.FieldCompanyGUID) != company {
		t.Errorf("SaveRelation did not set the journal's company: %v", j.Fields)
	}
	// Unlink Bob from the company through his relation's RelationDataGUID.
	var bobRel string
	for _, x := range c.f.post("GetContactsByItemGuids", map[string]any{"sessionId": c.values["S"], "itemGuids": []string{contacts[1]},
		"includeRelations": true}).data()[0].(map[string]any)["Relations"].([]any) {
		bobRel = x.(map[string]any)["RelationDataGUID"].(string)
	}
	c.set("R", bobRel)
	c.must(c.step("delete-relation", "/API.svc/DeleteRelation", `{"sessionId":"$S","relationDataGuid":"$R"}`), "rcSuccess")
	if b := c.f.get(t, crmsync.Contacts, contacts[1]); b.Get(crmsync.FieldCompanyGUID) != "" {
		t.Errorf("DeleteRelation left Bob's company: %v", b.Fields)
	}
	c.must(c.step("delete-relation-again", "/API.svc/DeleteRelation", `{"sessionId":"$S","relationDataGuid":"$R"}`), "rcGeneralError")

	feed := c.must(c.step("relation-changes", "/API.svc/GetUnifiedRelationsChangeIdentifiers",
		`{"sessionId":"$S","baseChangeId":$BASE,"targetChangeId":null}`), "rcSuccess")
	if len(feed.data()) != 2 {
		t.Errorf("relation changes since the links were made: %v", feed.data())
	}
	_ = rel
	// Bob (no View) sees none of it.
	c.set("S", c.login("bob"))
	if r := c.must(c.step("bob-relation-changes", "/API.svc/GetUnifiedRelationsChangeIdentifiers", `{"sessionId":"$S","baseChangeId":0}`), "rcSuccess"); len(r.data()) != 0 {
		t.Errorf("bob sees relation changes %v", r.data())
	}
	c.must(c.step("bob-save-relation", "/API.svc/SaveRelation", `{"sessionId":"$S","transmitObject":{"ItemGUID1":"$C",
		"ItemGUID2":"$B","FolderName1":"Companies","FolderName2":"Contacts"}}`), "rcGeneralError")
}

// TestConversationAdditionalFieldsAndEnums runs the AdditionalFields
// example (enum values searched by EnumTypeName, a company saved with
// AdditionalFields, read back by SearchCompanies({ItemGUID})) and the enum
// methods, SaveEnumValue for administrators only.
func TestConversationAdditionalFieldsAndEnums(t *testing.T) {
	c := newConversation(t)
	if _, err := c.f.crm.AddUser(crmsync.System(context.Background()), "root", "root-pw", true); err != nil {
		t.Fatal(err)
	}
	c.set("S", c.login("alice"))
	c.must(c.step("enum-af29", "/API.svc/SearchEnumValues", `{"sessionId":"$S","transmitObject":{"EnumTypeName":"AF_29"},"includeRelations":false,"dieOnItemConflict":false}`), "rcSuccess")
	saved := c.must(c.step("save-af", "/API.svc/SaveCompany", `{"sessionId":"$S","transmitObject":{"FileAs":"Company a.s.","CompanyName":"Company a.s.",
		"Purchaser":"1","Phone":"121 252 733","Email":"Email@company.com","AdditionalFields":{"af_25":"7","af_26":"1970-01-01",
		"af_27":null,"af_28":"10992e33-c0d6-4a2e-b565-5babc646fd48","af_29":[null,null,null]}},"includeRelations":false,"dieOnItemConflict":false}`), "rcSuccess")
	c.set("G", saved["Guid"].(string))
	r := c.must(c.step("search-by-guid", "/API.svc/SearchCompanies", `{"sessionId":"$S","transmitObject":{"ItemGUID":"$G"},"includeRelations":false,"dieOnItemConflict":false}`), "rcSuccess")
	af := r.data()[0].(map[string]any)["AdditionalFields"].(map[string]any)
	if af["af_25"] != "7" || af["af_28"] != "10992e33-c0d6-4a2e-b565-5babc646fd48" || len(af["af_29"].([]any)) != 3 {
		t.Errorf("AdditionalFields read back: %v", af)
	}
	c.must(c.step("additional-fields-none", "/API.svc/GetAdditionalFields", `{"sessionId":"$S","includeRelations":false}`), "rcSuccess")
	c.must(c.step("define-field-not-admin", "/API.svc/SaveAdditionalField", `{"sessionId":"$S","transmitObject":{"ObjectTypeFolderName":"Companies","FieldId":25,"Name":"Rating","Type":1}}`), "rcAccessDenied")

	c.must(c.step("enum-types", "/API.svc/GetEnumTypes", `{"sessionId":"$S","includeRelations":false,"omitEnumValues":true}`), "rcSuccess")
	prefixes := c.must(c.step("enum-prefix-ing", "/API.svc/SearchEnumValues", `{"sessionId":"$S","transmitObject":{"EnumTypeName":"PrefixType","En":"Ing."}}`), "rcSuccess")
	if len(prefixes.data()) != 1 {
		t.Fatalf("Ing. prefixes: %v", prefixes.data())
	}
	c.set("E", prefixes.data()[0].(map[string]any)["ItemGUID"].(string))
	c.must(c.step("enum-by-guid", "/API.svc/GetEnumValuesByItemGuids", `{"sessionId":"$S","itemGuids":["$E"]}`), "rcSuccess")
	ids := c.must(c.f.post("GetEnumValuesIdentifiers", map[string]any{"sessionId": c.values["S"]}), "rcSuccess")
	if len(ids.data()) < 10 {
		t.Errorf("GetEnumValuesIdentifiers: %d values", len(ids.data()))
	}

	values := func() int {
		vs, err := c.f.crm.EnumValues(crmsync.System(context.Background()), "")
		must(t, err)
		return len(vs)
	}
	n := values()
	c.must(c.step("enum-save-not-admin", "/API.svc/SaveEnumValue", `{"sessionId":"$S","transmitObject":{"EnumTypeName":"PrefixType","En":"Prof.","Cs":"Prof."}}`), "rcAccessDenied")
	if values() != n {
		t.Error("a refused SaveEnumValue wrote")
	}
	c.set("S", c.login("root"))
	c.must(c.step("enum-save-admin", "/API.svc/SaveEnumValue", `{"sessionId":"$S","transmitObject":{"EnumTypeName":"PrefixType","En":"Prof.","Cs":"Prof.","Rank":99}}`), "rcSuccess")
	c.must(c.step("enum-rename-admin", "/API.svc/SaveEnumValue", `{"sessionId":"$S","transmitObject":{"ItemGUID":"$E","Cs":"Ing. (cs)","En":"Ing."}}`), "rcSuccess")
	if values() != n+1 {
		t.Errorf("enum values %d → %d, want one more", n, values())
	}
	c.must(c.step("define-field", "/API.svc/SaveAdditionalField", `{"sessionId":"$S","transmitObject":{"ObjectTypeFolderName":"Companies","FieldId":25,"Name":"Rating","Type":1,"Rank":1,"Comment":"from 1 to 10"}}`), "rcSuccess")
	c.must(c.step("define-field-bad-folder", "/API.svc/SaveAdditionalField", `{"sessionId":"$S","transmitObject":{"ObjectTypeFolderName":"Projects","FieldId":1,"Name":"x"}}`), "rcParameterError")
	defs := c.must(c.step("additional-fields", "/API.svc/GetAdditionalFields", `{"sessionId":"$S","includeRelations":false}`), "rcSuccess")
	if len(defs.data()) != 1 || defs.data()[0].(map[string]any)["ColumnName"] != "af_25" {
		t.Errorf("GetAdditionalFields after the definition: %v", defs.data())
	}
}

// TestConversationUsersAndSettings: the users methods resolve LogIn's
// UserItemGuid and never carry a password; user settings are listed,
// found, and deleted by their ItemGUID, each user's own; global settings
// are saved by administrators only.
func TestConversationUsersAndSettings(t *testing.T) {
	c := newConversation(t)
	login := c.step("login-raw", "/API.svc/LogIn", `{"userName":"alice","passwordHash":"`+crmsync.PasswordMD5("alice-pw")+`"}`)
	c.set("S", login["SessionId"].(string))
	c.set("U", login["UserItemGuid"].(string))
	users := c.must(c.step("users", "/API.svc/GetUsers", `{"sessionId":"$S","includeRelations":false}`), "rcSuccess")
	for _, u := range users.data() {
		for k := range u.(map[string]any) {
			if strings.Contains(strings.ToLower(k), "password") {
				t.Errorf("GetUsers answers %s", k)
			}
		}
	}
	me := c.must(c.step("user-by-guid", "/API.svc/GetUsersByItemGuids", `{"sessionId":"$S","itemGuids":["$U"],"includeForeignKeys":true,"includeRelations":false}`), "rcSuccess")
	if len(me.data()) != 1 || me.data()[0].(map[string]any)["Username"] != "alice" {
		t.Errorf("GetUsersByItemGuids(UserItemGuid) = %v", me.data())
	}
	c.must(c.step("search-users", "/API.svc/SearchUsers", `{"sessionId":"$S","transmitObject":{"Username":"BOB"}}`), "rcSuccess")
	c.must(c.step("users-identifiers", "/API.svc/GetUsersIdentifiers", `{"sessionId":"$S"}`), "rcSuccess")

	// php-lib saveUserSetting: transmitObject {Path, Name, Value}.
	c.must(c.step("save-setting", "/API.svc/SaveUserSetting", `{"sessionId":"$S","transmitObject":{"Path":"Contacts","Name":"SyncMode","Value":"Manual"},"includeRelations":false,"dieOnItemConflict":false}`), "rcSuccess")
	ids := c.must(c.step("settings-identifiers", "/API.svc/GetUserSettingsIdentifiers", `{"sessionId":"$S"}`), "rcSuccess")
	c.set("ST", ids.data()[0].(map[string]any)["ItemGUID"].(string))
	c.must(c.step("settings-by-guid", "/API.svc/GetUserSettingsByItemGuids", `{"sessionId":"$S","itemGuids":["$ST"]}`), "rcSuccess")
	c.must(c.step("search-settings", "/API.svc/SearchUserSettings", `{"sessionId":"$S","transmitObject":{"Name":"syncmode"}}`), "rcSuccess")
	alice := c.values["S"]
	c.set("S", c.login("bob"))
	c.must(c.step("bob-deletes-alices-setting", "/API.svc/DeleteUserSetting", `{"sessionId":"$S","itemGuid":"$ST"}`), "rcGeneralError")
	c.must(c.step("bob-saves-global", "/API.svc/SaveGlobalSetting", `{"sessionId":"$S","transmitObject":{"Name":"ContactDuplicityCheckEnabled","Value":"true"}}`), "rcAccessDenied")
	c.set("S", alice)
	c.must(c.step("delete-setting", "/API.svc/DeleteUserSetting", `{"sessionId":"$S","itemGuid":"$ST"}`), "rcSuccess")
	if r := c.must(c.f.post("GetUserSettings", map[string]any{"sessionId": alice}), "rcSuccess"); len(r.data()) != 0 {
		t.Errorf("settings after DeleteUserSetting: %v", r.data())
	}
	c.must(c.step("globals", "/API.svc/SearchGlobalSettings", `{"sessionId":"$S","transmitObject":{"Name":"ContactDuplicityCheckEnabled"}}`), "rcSuccess")
}

// TestConversationChangeFeed runs ChangesOnContacts: its stored revision
// 3000 is beyond crmsync's last change, which answers
// rcBaseItemChangeIdNotFound with eWay's text; from GetBaseItemChangeId on
// it lists the contacts in two steps and in one.
func TestConversationChangeFeed(t *testing.T) {
	c := newConversation(t)
	c.set("S", c.login("alice"))
	c.must(c.step("save", "/API.svc/SaveContact", `{"sessionId":"$S","transmitObject":{"FirstName":"Jan","LastName":"Novák",
		"BusinessAddressCity":"Brno","TelephoneNumber1":"+420 5","Email1Address":"jan@example.com"},"includeRelations":false,"dieOnItemConflict":false}`), "rcSuccess")
	last := c.must(c.step("last", "/API.svc/GetLastItemChangeId", `{"sessionId":"$S"}`), "rcSuccess")
	c.set("LAST", itoa(int(last["Datum"].(float64))))
	c.must(c.step("beyond", "/API.svc/GetItemChangeIdentifiers", `{"sessionId":"$S","folderName":"Contacts","baseChangeId":3000,"targetChangeId":$LAST}`), "rcBaseItemChangeIdNotFound")
	c.must(c.step("beyond-changed-items", "/API.svc/GetChangedItems", `{"sessionId":"$S","folderNames":["Contacts"],"baseChangeId":3000,"targetChangeId":$LAST,"includeForeignKeys":false}`), "rcBaseItemChangeIdNotFound")
	base := c.must(c.step("base", "/API.svc/GetBaseItemChangeId", `{"sessionId":"$S"}`), "rcSuccess")
	c.set("BASE", itoa(int(base["Datum"].(float64))))
	ids := c.must(c.step("identifiers", "/API.svc/GetItemChangeIdentifiers", `{"sessionId":"$S","folderName":"Contacts","baseChangeId":$BASE,"targetChangeId":$LAST}`), "rcSuccess")
	if len(ids.data()) != 1 {
		t.Errorf("change identifiers: %v", ids.data())
	}
	ch := c.must(c.step("changed-items", "/API.svc/GetChangedItems", `{"sessionId":"$S","folderNames":["Contacts"],"baseChangeId":$BASE,"targetChangeId":$LAST,"includeForeignKeys":false}`), "rcSuccess")
	if items := ch.data()[0].(map[string]any)["ChangedItems"].([]any); len(items) != 1 || items[0].(map[string]any)["LastName"] != "Novák" {
		t.Errorf("ChangedItems: %v", ch.data())
	}
}

// TestConversationOtherModules: calls to eWay modules crmsync does not
// serve (php-lib getProjects, saveTask, getInvoicesByItemGuids,
// searchDocuments) answer an envelope naming the module and write nothing.
func TestConversationOtherModules(t *testing.T) {
	c := newConversation(t)
	c.set("S", c.login("alice"))
	before := c.f.lastChange()
	for _, m := range []struct{ method, body, module string }{
		{"GetProjects", `{"sessionId":"$S","includeRelations":false}`, "Projects"},
		{"SaveTask", `{"sessionId":"$S","transmitObject":{"FileAs":"t"},"includeRelations":false,"dieOnItemConflict":false}`, "Task"},
		{"GetInvoicesByItemGuids", `{"sessionId":"$S","itemGuids":[],"includeForeignKeys":true,"includeRelations":false}`, "Invoices"},
		{"SearchDocuments", `{"sessionId":"$S","transmitObject":{},"includeRelations":false}`, "Documents"},
	} {
		r := c.step("module-"+m.method, "/API.svc/"+m.method, m.body)
		if r.code() != "rcGeneralError" || !strings.Contains(r.desc(), `"`+m.module+`"`) {
			t.Errorf("%s: %s %q", m.method, r.code(), r.desc())
		}
	}
	if c.f.lastChange() != before {
		t.Error("a call to another module wrote")
	}
}

// TestRelationsHonourRights: includeRelations and the relations' feed
// never show a link to an item the caller may not see (another user's
// private company), and SaveRelation to such an item is refused like an
// unknown one.
func TestRelationsHonourRights(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	carol := f.addUser("carol")
	sc, sa := f.login("carol"), f.login("alice")
	private := f.ok(sc, "SaveCompany", map[string]any{"transmitObject": map[string]any{"CompanyName": "Secret", "IsPrivate": true, "OwnerGUID": carol}})["Guid"].(string)
	contact := f.ok(sc, "SaveContact", map[string]any{"transmitObject": map[string]any{"LastName": "Shared", "Companies_CompanyGuid": private}})["Guid"].(string)
	rels := func(s string) []any {
		r := f.ok(s, "GetContactsByItemGuids", map[string]any{"itemGuids": []string{contact}, "includeRelations": true})
		if len(r.data()) != 1 {
			t.Fatalf("contact not visible: %v", r.data())
		}
		return r.data()[0].(map[string]any)["Relations"].([]any)
	}
	if got := rels(sc); len(got) != 1 {
		t.Errorf("carol's relations of her contact: %v", got)
	}
	if got := rels(sa); len(got) != 0 {
		t.Errorf("alice sees a link to carol's private company: %v", got)
	}
	if r := f.ok(sc, "GetUnifiedRelationsChangeIdentifiers", map[string]any{"baseChangeId": 0}); len(r.data()) != 1 {
		t.Errorf("carol's relation feed: %v", r.data())
	}
	if r := f.ok(sa, "GetUnifiedRelationsChangeIdentifiers", map[string]any{"baseChangeId": 0}); len(r.data()) != 0 {
		t.Errorf("alice's relation feed names carol's private company: %v", r.data())
	}
	other := f.ok(sa, "SaveContact", map[string]any{"transmitObject": map[string]any{"LastName": "Mine"}})["Guid"].(string)
	before := f.lastChange()
	f.want("rcGeneralError", sa, "SaveRelation", map[string]any{"transmitObject": map[string]any{
		"ItemGUID1": private, "ItemGUID2": other, "FolderName1": "Companies", "FolderName2": "Contacts", "RelationType": "COMPANY"}})
	if f.lastChange() != before {
		t.Error("a refused SaveRelation wrote")
	}
}

// TestEnumTypesListTheirValues: GetEnumTypes lists each type with its
// values, every one of that type, and null instead with omitEnumValues.
func TestEnumTypesListTheirValues(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	s := f.login("alice")
	values := f.ok(s, "GetEnumValues", nil).data()
	for _, omit := range []bool{false, true} {
		types := f.ok(s, "GetEnumTypes", map[string]any{"omitEnumValues": omit}).data()
		if len(types) != len(crmsync.EnumTypes) {
			t.Fatalf("omitEnumValues %v: %d enum types, want %d", omit, len(types), len(crmsync.EnumTypes))
		}
		listed := 0
		for _, raw := range types {
			typ := raw.(map[string]any)
			vs, isList := typ["EnumValuesInEnumType"].([]any)
			if omit {
				if typ["EnumValuesInEnumType"] != nil {
					t.Errorf("%s with omitEnumValues: values %v, want null", typ["EnumName"], typ["EnumValuesInEnumType"])
				}
				continue
			}
			if !isList || len(vs) == 0 {
				t.Errorf("%s lists no values: %v", typ["EnumName"], typ["EnumValuesInEnumType"])
			}
			for _, v := range vs {
				if v := v.(map[string]any); v["EnumTypeName"] != typ["EnumName"] || v["EnumType"] != typ["ItemGUID"] {
					t.Errorf("%s lists a value of %s (%s)", typ["EnumName"], v["EnumTypeName"], v["EnumType"])
				}
			}
			listed += len(vs)
		}
		if !omit && listed != len(values) {
			t.Errorf("the enum types list %d values, GetEnumValues %d", listed, len(values))
		}
	}
}
