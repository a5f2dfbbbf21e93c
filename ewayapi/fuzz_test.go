package ewayapi

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/crmsync/crmsync"
)

// FuzzDecodeRequest feeds any method name and body to the decoder. It
// must never panic; a refusal must be a *decodeError with a non-success
// code and a message; an accepted request must hold only what the
// decoder promises: GUIDs in lower-case GUID form, known writable fields,
// no field both set and null.
// Seed corpus: testdata/fuzz/FuzzDecodeRequest. Run with
// go test ./ewayapi -run '^$' -fuzz FuzzDecodeRequest -fuzztime 30s
func FuzzDecodeRequest(f *testing.F) {
	f.Add("LogIn", []byte(`{"userName":"admin","passwordHash":"5f4dcc3b5aa765d61d8327deb882cf99"}`))
	f.Add("SaveContact", []byte(`{"sessionId":"s","transmitObject":{"ItemGUID":"`+guidA+`","ItemVersion":2,"FirstName":"A","LastName":null}}`))
	f.Add("GetChangedItems", []byte(`{"sessionId":"s","folderNames":["Contacts"],"baseChangeId":0,"targetChangeId":5}`))
	f.Add("savecompany", []byte(`{"sessionId":"s","transmitObject":{"Purchaser":"1","EmployeesCount":12,"AdditionalFields":{"af_29":["a"],"af_1":3}},"includeRelations":"9.1"}`))
	f.Add("SaveRelation", []byte(`{"transmitObject":{"ItemGUID1":"`+guidA+`","ItemGUID2":"`+guidA+`","FolderName1":"Companies","FolderName2":"Contacts","RelationType":"COMPANY"}}`))
	f.Add("SaveEnumValue", []byte(`{"transmitObject":{"EnumTypeName":"PrefixType","En":"Prof.","Rank":3}}`))
	f.Add("SearchUsers", []byte(`{"transmitObject":{"Username":"a","ItemGUID":"`+guidA+`"},"binaryLogicalOperator":"Or"}`))
	f.Add("SaveGlobalSetting", []byte(`{"transmitObject":{"Name":"x","Value":true}}`))
	f.Fuzz(func(t *testing.T, name string, body []byte) {
		req, err := decodeRequest(name, body)
		if err != nil {
			var de *decodeError
			if !errors.As(err, &de) || de.code == "" || de.code == rcSuccess || de.msg == "" {
				t.Fatalf("refusal %#v is not a proper decodeError", err)
			}
			return
		}
		if req.method == nil || !strings.EqualFold(req.method.name, name) {
			t.Fatalf("decoded %q as method %+v", name, req.method)
		}
		for _, g := range append(slices.Clone(req.ItemGUIDs), req.ItemGUID) {
			if g != "" && (!crmsync.IsGUID(g) || g != crmsync.NormalizeGUID(g)) {
				t.Fatalf("GUID %q passed the decoder", g)
			}
		}
		for _, p := range req.patches {
			if p.GUID != "" && (!crmsync.IsGUID(p.GUID) || p.GUID != crmsync.NormalizeGUID(p.GUID)) {
				t.Fatalf("patch GUID %q passed the decoder", p.GUID)
			}
			if p.Version < 0 {
				t.Fatalf("negative version %d", p.Version)
			}
			for k := range p.Set {
				def, ok := crmsync.LookupField(req.method.folder, k)
				if !ok || def.ReadOnly {
					t.Fatalf("field %q set in %s", k, req.method.folder)
				}
				if slices.Contains(p.Null, k) {
					t.Fatalf("field %q both set and null", k)
				}
			}
		}
		for _, f := range req.FolderNames {
			if !f.Valid() {
				t.Fatalf("folder %q passed the decoder", f)
			}
		}
	})
}
