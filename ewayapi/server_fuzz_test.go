package ewayapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/ewayapi"
	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/sqlite"
	"golang.org/x/crypto/bcrypt"
)

// FuzzServer sends any method and body, with "$S" replaced by a live
// session, to the whole server on a real SQLite CRM. Every answer must be
// a JSON envelope with a ReturnCode, and a call that does not succeed must
// not have written anything (batch saves excepted: their other items are
// saved by design).
// Run with go test ./ewayapi -run '^$' -fuzz FuzzServer -fuzztime 1m
func FuzzServer(f *testing.F) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "crm.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	svc := service.New(db, service.Options{PasswordCost: bcrypt.MinCost})
	sys := crmsync.System(ctx)
	alice, err := svc.AddUser(sys, "alice", "pw", true)
	if err != nil {
		f.Fatal(err)
	}
	srv := ewayapi.NewServer(svc, ewayapi.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	session := func() string {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/API.svc/LogIn",
			bytes.NewReader([]byte(`{"userName":"alice","passwordHash":"`+crmsync.PasswordMD5("pw")+`"}`))))
		var r struct{ SessionId string }
		json.Unmarshal(rec.Body.Bytes(), &r)
		return r.SessionId
	}
	s := session()
	if s == "" {
		f.Fatal("LogIn failed")
	}

	f.Add("SaveContact", []byte(`{"sessionId":"$S","transmitObject":{"LastName":"A","ItemVersion":1}}`))
	f.Add("SaveContacts", []byte(`{"sessionId":"$S","transmitObjects":[{"LastName":"A"},{"ItemGUID":"x"}]}`))
	f.Add("DeleteContact", []byte(`{"sessionId":"$S","itemGuid":"0f8fad5b-d9cb-469f-a165-70867728950e"}`))
	f.Add("GetChangedItems", []byte(`{"sessionId":"$S","baseChangeId":0,"includeForeignKeys":true}`))
	f.Add("SaveJournal", []byte(`{"sessionId":"$S","transmitObject":{"FileAs":"x","EventStart":"2026-13-01 00:00:00"}}`))
	f.Add("LogOut", []byte(`{"sessionId":"$S"}`))
	f.Add("SaveRelation", []byte(`{"sessionId":"$S","transmitObject":{"ItemGUID1":"0f8fad5b-d9cb-469f-a165-70867728950e","ItemGUID2":"0f8fad5b-d9cb-469f-a165-70867728950f","FolderName1":"Companies","FolderName2":"Contacts"}}`))
	f.Add("DeleteRelation", []byte(`{"sessionId":"$S","relationDataGuid":"0f8fad5b-d9cb-469f-a165-70867728950e"}`))
	f.Add("SaveEnumValue", []byte(`{"sessionId":"$S","transmitObject":{"EnumTypeName":"NoSuchType","En":"x"}}`))
	f.Add("SaveGlobalSetting", []byte(`{"sessionId":"$S","transmitObject":{"Name":"NoSuchSetting","Value":"1"}}`))
	f.Add("DeleteUserSetting", []byte(`{"sessionId":"$S","itemGuid":"0f8fad5b-d9cb-469f-a165-70867728950e"}`))
	f.Add("savecompany", []byte(`{"sessionId":"$S","transmitObject":{"CompanyName":"A","EmployeesCount":"x","AdditionalFields":{"af_2":"v"}}}`))
	f.Add("SaveAdditionalField", []byte(`{"sessionId":"$S","transmitObject":{"ObjectTypeFolderName":"Companies","FieldId":0,"Name":"x"}}`))
	f.Add("GetUnifiedRelationsChangeIdentifiers", []byte(`{"sessionId":"$S","baseChangeId":99}`))
	// state is what a refused call must leave alone besides the change log:
	// enum values, global settings, the caller's settings and the
	// additional field definitions.
	state := func(t *testing.T) string {
		ev, err := svc.EnumValues(sys, "")
		if err != nil {
			t.Fatal(err)
		}
		gs, err := svc.GlobalSettings(sys)
		if err != nil {
			t.Fatal(err)
		}
		us, err := svc.UserSettings(crmsync.WithUser(ctx, alice))
		if err != nil {
			t.Fatal(err)
		}
		af, err := svc.AdditionalFields(sys)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal([]any{ev, gs, us, af})
		return string(b)
	}
	f.Fuzz(func(t *testing.T, method string, body []byte) {
		if !bytes.Contains(body, []byte("$S")) {
			return // without a session nothing can be written; the decoder fuzz covers it
		}
		s := s
		if method == "LogOut" {
			s = session() // keep the shared session alive
		}
		body = bytes.ReplaceAll(body, []byte("$S"), []byte(s))
		before, err := svc.LastChangeID(sys)
		if err != nil {
			t.Fatal(err)
		}
		stateBefore := state(t)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/API.svc/x", bytes.NewReader(body))
		req.URL.Path = "/API.svc/" + method
		srv.ServeHTTP(rec, req)
		var r struct {
			ReturnCode  string
			Description string
			Data        json.RawMessage
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || r.ReturnCode == "" {
			t.Fatalf("%s: answer %q is not an envelope (%v)", method, rec.Body.String(), err)
		}
		if r.ReturnCode == "rcSuccess" {
			return
		}
		if r.Description == "" {
			t.Errorf("%s: %s without a Description", method, r.ReturnCode)
		}
		after, err := svc.LastChangeID(sys)
		if err != nil {
			t.Fatal(err)
		}
		batch := len(r.Data) > 0 && string(r.Data) != "null"
		if after != before && !batch {
			t.Errorf("%s answered %s %q but wrote (change id %d → %d)", method, r.ReturnCode, r.Description, before, after)
		}
		if state(t) != stateBefore {
			t.Errorf("%s answered %s %q but changed enum values or settings", method, r.ReturnCode, r.Description)
		}
	})
}
