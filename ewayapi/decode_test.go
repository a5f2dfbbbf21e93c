package ewayapi

// Internal test: the decoder is unexported; everything else is tested
// over HTTP in package ewayapi_test.

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/crmsync/crmsync"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const guidA = "0F8FAD5B-D9CB-469F-A165-70867728950E"

func TestDecodeRequestErrors(t *testing.T) {
	cases := []struct {
		name, method, body string
		code, want         string // want: a substring of the Description
	}{
		{"unknown method", "GetSpaceships", `{}`, rcGeneralError, `unknown method "GetSpaceships"`},
		{"malformed JSON", "GetContacts", `{"sessionId":`, rcParameterError, "malformed JSON"},
		{"not an object", "GetContacts", `["x"]`, rcParameterError, "must be a JSON object"},
		{"trailing data", "GetContacts", `{} {}`, rcParameterError, "data after"},
		{"invalid UTF-8", "GetContacts", "{\"sessionId\":\"\xff\"}", rcParameterError, "not valid UTF-8"},
		{"unknown module", "GetProjectsByItemGuids", `{}`, rcGeneralError, `does not serve the eWay module "Projects"`},
		{"used bool of wrong type", "GetContacts", `{"includeRelations":"9.1"}`, rcParameterError, `parameter "includeRelations" must be true or false`},
		{"duplicate parameter", "GetContacts", `{"sessionId":"a","sessionId":"b"}`, rcParameterError, "sent twice"},
		{"wrong type string", "GetContacts", `{"sessionId":5}`, rcParameterError, "sessionId must be a string, got number"},
		{"wrong type bool", "GetContacts", `{"includeForeignKeys":"yes"}`, rcParameterError, "must be true or false, got string"},
		{"missing required", "GetContactsByItemGuids", `{"sessionId":"s"}`, rcParameterError, `missing parameter "itemGuids"`},
		{"non-GUID in list", "GetContactsByItemGuids", `{"itemGuids":["nope"]}`, rcParameterError, `itemGuids[0] is not a GUID: "nope"`},
		{"non-GUID itemGuid", "DeleteContact", `{"itemGuid":"123"}`, rcParameterError, `itemGuid is not a GUID`},
		{"non-GUID ItemGUID", "SaveContact", `{"transmitObject":{"ItemGUID":"x"}}`, rcParameterError, "transmitObject.ItemGUID is not a GUID"},
		{"non-GUID FK", "SaveContact", `{"transmitObject":{"Companies_CompanyGuid":"x"}}`, rcParameterError, "Companies_CompanyGuid is not a GUID"},
		{"non-GUID enum", "SaveContact", `{"transmitObject":{"PrefixEn":"Ing."}}`, rcParameterError, "PrefixEn is not a GUID"},
		{"field wrong type", "SaveContact", `{"transmitObject":{"FirstName":3}}`, rcParameterError, "transmitObject.FirstName must be a string, got number"},
		{"bool field not a bool", "SaveContact", `{"transmitObject":{"IsPrivate":"yes"}}`, rcParameterError, "IsPrivate must be true or false"},
		{"number field not a number", "SaveCompany", `{"transmitObject":{"EmployeesCount":"many"}}`, rcParameterError, "EmployeesCount is not a whole number"},
		{"multi-select not strings", "SaveCompany", `{"transmitObject":{"AdditionalFields":{"af_29":[1,2]}}}`, rcParameterError, "AdditionalFields.af_29 must be an array of strings"},
		{"relation without GUID", "SaveRelation", `{"transmitObject":{"ItemGUID1":"` + guidA + `","FolderName1":"Companies","FolderName2":"Contacts"}}`, rcParameterError, "transmitObject.ItemGUID2 is required"},
		{"relation to another module", "SaveRelation", `{"transmitObject":{"ItemGUID1":"` + guidA + `","ItemGUID2":"` + guidA + `","FolderName1":"Projects","FolderName2":"Contacts","RelationType":"GENERAL"}}`, rcParameterError, `eWay module "Projects"`},
		{"enum value without type", "SaveEnumValue", `{"transmitObject":{"En":"x"}}`, rcParameterError, "EnumTypeName"},
		{"bad date", "SaveJournal", `{"transmitObject":{"EventStart":"tomorrow"}}`, rcParameterError, "EventStart is not a date"},
		{"bad base64", "SaveContact", `{"transmitObject":{"ProfilePicture":"***"}}`, rcParameterError, "ProfilePicture is not base64"},
		{"version string", "SaveContact", `{"transmitObject":{"ItemVersion":"2"}}`, rcParameterError, "ItemVersion must be a number"},
		{"version negative", "SaveContact", `{"transmitObject":{"ItemVersion":-1}}`, rcParameterError, "whole number"},
		{"version fraction", "SaveContact", `{"transmitObject":{"ItemVersion":1.5}}`, rcParameterError, "whole number"},
		{"transmitObject not object", "SaveContact", `{"transmitObject":[1]}`, rcParameterError, "transmitObject must be an object, got array"},
		{"second object bad", "SaveContacts", `{"transmitObjects":[{},{"ItemGUID":1}]}`, rcParameterError, "transmitObjects[1].ItemGUID must be a string"},
		{"objects not array", "SaveContacts", `{"transmitObjects":{}}`, rcParameterError, "array of objects"},
		{"unknown folder", "GetItemChangeIdentifiers", `{"folderName":"Leads","baseChangeId":0}`, rcParameterError, `unknown folder "Leads"`},
		{"change id string", "GetItemChangeIdentifiers", `{"folderName":"Contacts","baseChangeId":"0"}`, rcParameterError, "baseChangeId must be a number"},
		{"bad operator", "SearchContacts", `{"binaryLogicalOperator":"Xor"}`, rcParameterError, "binaryLogicalOperator"},
		{"setting without name", "SaveUserSetting", `{"transmitObject":{"Value":"1"}}`, rcParameterError, "transmitObject.Name is required"},
		{"LogIn without user", "LogIn", `{"passwordHash":"a"}`, rcParameterError, `missing parameter "userName"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := decodeRequest(c.method, []byte(c.body))
			if err == nil {
				t.Fatalf("decodeRequest(%s, %s) = %+v, want an error", c.method, c.body, req)
			}
			var de *decodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is %T, want *decodeError", err, err)
			}
			if de.code != c.code || !strings.Contains(de.msg, c.want) {
				t.Errorf("got %s %q, want %s containing %q", de.code, de.msg, c.code, c.want)
			}
		})
	}
}

// TestDecodeIgnoresUnusedParameters: parameters a method does not use are
// ignored whatever their type, method names in any case. The body is
// eWay's PHP client's Login (php-lib eway.class.php reLogin: appVersion
// 'PHP2.5.1', clientMachineIdentifier from $_SERVER, null on the command
// line) plus values of odd types other clients send.
func TestDecodeIgnoresUnusedParameters(t *testing.T) {
	req, err := decodeRequest("Login", []byte(`{"userName":"api","passwordHash":"5f4dcc3b5aa765d61d8327deb882cf99",
		"appVersion":"PHP2.5.1","clientMachineIdentifier":null,"createSessionCookie":"9.1","isFullSync":{"x":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if req.method.name != "LogIn" || req.UserName != "api" {
		t.Errorf("decoded %s as %+v", req.method.name, req.args)
	}
	req, err = decodeRequest("savecompany", []byte(`{"sessionId":"s","transmitObject":{"CompanyName":"A","Purchaser":"1"},
		"includeRelations":false,"dieOnItemConflict":false,"ignoredUserErrorMessages":"none","SessionId":3}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []crmsync.Patch{{Set: map[string]string{"CompanyName": "A", "Purchaser": "true"}}}
	if diff := cmp.Diff(want, req.patches, cmpopts.EquateEmpty()); diff != "" || req.method.name != "SaveCompany" {
		t.Errorf("%s patches (-want +got):\n%s", req.method.name, diff)
	}
}

func TestDecodePatch(t *testing.T) {
	body := `{"sessionId":"s","dieOnItemConflict":true,"transmitObject":{
		"ItemGUID":"` + guidA + `","ItemVersion":3,"FirstName":"Jan","LastName":null,
		"Companies_CompanyGuid":"` + guidA + `","IsPrivate":true,"ItemCreated":"2020-01-01 00:00:00",
		"NoSuchField":"ignored","ProfilePicture":"aGVsbG8=","Note":""}}`
	req, err := decodeRequest("SaveContact", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []crmsync.Patch{{
		GUID:    strings.ToLower(guidA),
		Version: 3,
		Set: map[string]string{
			"FirstName": "Jan", "Companies_CompanyGuid": strings.ToLower(guidA), "IsPrivate": "true",
			"ProfilePicture": "aGVsbG8=", "Note": "",
		},
		Null: []string{"LastName"},
	}}
	if diff := cmp.Diff(want, req.patches); diff != "" {
		t.Errorf("patches (-want +got):\n%s", diff)
	}
	if !req.DieOnItemConflict || req.SessionID != "s" {
		t.Errorf("args = %+v", req.args)
	}
}

func TestDecodePatchWithoutVersionOrGUID(t *testing.T) {
	req, err := decodeRequest("SaveJournals", []byte(`{"transmitObjects":[{"FileAs":"Call","EventStart":"2026-01-02T03:04:05+01:00","ItemVersion":null}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []crmsync.Patch{{Set: map[string]string{"FileAs": "Call", "EventStart": "2026-01-02 02:04:05"}}}
	if diff := cmp.Diff(want, req.patches); diff != "" {
		t.Errorf("patches (-want +got):\n%s", diff)
	}
}

func TestDecodeSearchExample(t *testing.T) {
	req, err := decodeRequest("SearchCompanies", []byte(`{"sessionId":"s","binaryLogicalOperator":"Or","transmitObject":{"CompanyName":"Acme","Email":null,"Bogus":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"CompanyName": "Acme"}, req.example); diff != "" {
		t.Errorf("example (-want +got):\n%s", diff)
	}
	if req.Operator != "Or" {
		t.Errorf("operator = %q", req.Operator)
	}
}

func TestDecodeEmptyBodyAndNulls(t *testing.T) {
	req, err := decodeRequest("GetContacts", nil)
	if err != nil {
		t.Fatal(err)
	}
	if req.SessionID != "" {
		t.Errorf("session = %q", req.SessionID)
	}
	req, err = decodeRequest("GetChangedItems", []byte(`{"sessionId":null,"baseChangeId":7,"targetChangeId":null,"folderNames":["Journal","Journal"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if req.BaseChangeID != 7 || req.has["targetChangeId"] || !slices.Equal(req.FolderNames, []crmsync.Folder{crmsync.Journal}) {
		t.Errorf("args = %+v", req.args)
	}
}

// TestMethodTable checks the table against the methods the brief and SPEC
// M6 require, so a renamed or dropped method fails here.
func TestMethodTable(t *testing.T) {
	want := []string{"LogIn", "LogOut", "GetLastItemChangeId", "GetItemChangeIdentifiers", "GetChangedItems",
		"HaveItemsChanged", "HaveMyPermissionsChanged", "GetMyModulePermissions", "GetUserSettings",
		"SaveUserSetting", "GetGlobalSettings", "GetEnumValues"}
	for _, f := range []struct{ p, s string }{{"Contacts", "Contact"}, {"Companies", "Company"}, {"Journals", "Journal"}} {
		want = append(want, "Get"+f.p, "Get"+f.p+"ByItemGuids", "Get"+f.p+"Identifiers", "Search"+f.p,
			"Save"+f.s, "Save"+f.p, "Delete"+f.s, "Delete"+f.p, "GetDeleted"+f.p, "Restore"+f.s)
	}
	for _, name := range want {
		m := lookupMethod(name)
		if m == nil || m.name != name {
			t.Errorf("method %s missing", name)
			continue
		}
		for _, p := range m.params {
			if _, ok := params[p]; !ok {
				t.Errorf("%s takes parameter %q that has no kind", name, p)
			}
		}
	}
}
