package sqlite_test

import (
	"context"
	"testing"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/service"
	"golang.org/x/crypto/bcrypt"
)

// FuzzSave sends arbitrary patches: Save must never panic, a refused patch
// must write nothing (no change logged), and an accepted one exactly one
// change.
func FuzzSave(f *testing.F) {
	f.Add("", 0, "FirstName", "Petr", "LastName", false)
	f.Add("11111111-2222-4333-8444-555555555555", 1, "IsPrivate", "maybe", "Note", true)
	f.Add("not-a-guid", 3, "EventStart", "2026-13-45 99:99:99", "", false)
	f.Add("11111111-2222-4333-8444-555555555555", 2, "ProfilePicture", "!!", "OwnerGUID", true)
	f.Add("", -1, "PrefixEn", "11111111-2222-4333-8444-000000000000", "Email1Address", false)
	f.Add("", 0, "Note", "bad \xff utf8", "ItemVersion", false)
	db := MustOpen(f)
	svc := service.New(db, service.Options{PasswordCost: bcrypt.MinCost})
	sys := crmsync.System(context.Background())
	folders := []crmsync.Folder{crmsync.Contacts, crmsync.Companies, crmsync.Journal}
	f.Fuzz(func(t *testing.T, guid string, version int, field, value, null string, die bool) {
		before, err := svc.LastChangeID(sys)
		if err != nil {
			t.Fatal(err)
		}
		folder := folders[uint(len(field))%3]
		p := crmsync.Patch{GUID: guid, Version: version, Set: map[string]string{field: value}, Null: []string{null}}
		res, err := svc.Save(sys, folder, []crmsync.Patch{p}, crmsync.SaveOptions{DieOnItemConflict: die})
		if err != nil {
			t.Fatalf("whole call failed: %v", err)
		}
		after, err := svc.LastChangeID(sys)
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Err != nil {
			if code := crmsync.ErrorCode(res[0].Err); code == crmsync.EINTERNAL {
				t.Fatalf("internal error for bad input: %v", res[0].Err)
			}
			if after != before {
				t.Fatalf("refused patch logged %d changes", after-before)
			}
			return
		}
		if after != before+1 {
			t.Fatalf("accepted patch logged %d changes, want 1", after-before)
		}
		items, err := svc.Items(sys, folder, []string{res[0].GUID})
		if err != nil || len(items) != 1 || items[0].Version != res[0].Version {
			t.Fatalf("saved item not readable as saved: %v %v", items, err)
		}
	})
}
