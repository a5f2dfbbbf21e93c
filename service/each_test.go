package service_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/service"
	"github.com/google/go-cmp/cmp"
)

// addUsers adds users in one group with rights and returns their contexts.
func addUsers(t *testing.T, svc *service.Service, rights []crmsync.Rights, names ...string) []context.Context {
	t.Helper()
	sys := crmsync.System(context.Background())
	if err := svc.SaveGroup(sys, "group", rights); err != nil {
		t.Fatal(err)
	}
	var users []context.Context
	for _, name := range names {
		u, err := svc.AddUser(sys, name, "pw", false)
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.AddToGroup(sys, name, "group"); err != nil {
			t.Fatal(err)
		}
		users = append(users, crmsync.WithUser(context.Background(), u))
	}
	return users
}

// EachItem walks, batch by batch, exactly the items Items(folder, nil)
// lists, in the same order: visible ones only, none from the trash.
func TestEachItemMatchesItems(t *testing.T) {
	svc := newService(t)
	sys := crmsync.System(context.Background())
	users := addUsers(t, svc, []crmsync.Rights{crmsync.FullRights(crmsync.Contacts)}, "ann", "ben")
	var patches [2][]crmsync.Patch
	for i := range 700 {
		p := crmsync.Patch{Set: map[string]string{"LastName": fmt.Sprintf("c%d", i)}}
		if i%3 == 0 {
			p.Set["IsPrivate"] = "true"
		}
		patches[i%2] = append(patches[i%2], p)
	}
	var trashed []string
	for i, ctx := range users {
		res, err := svc.Save(ctx, crmsync.Contacts, patches[i], crmsync.SaveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		trashed = append(trashed, res[0].GUID, res[1].GUID)
	}
	if err := svc.Delete(sys, crmsync.Contacts, trashed); err != nil {
		t.Fatal(err)
	}
	for _, ctx := range append(users, sys) {
		want, err := svc.Items(ctx, crmsync.Contacts, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []*crmsync.Item
		if err := svc.EachItem(ctx, crmsync.Contacts, func(it *crmsync.Item) error { got = append(got, it); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(want) < 400 {
			t.Fatalf("only %d items listed", len(want))
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("EachItem differs from Items (-Items +EachItem):\n%s", d)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := svc.EachItem(users[0], crmsync.Contacts, func(*crmsync.Item) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("EachItem after fn failed: %v, %d calls", err, n)
	}
	if err := svc.EachItem(context.Background(), crmsync.Contacts, func(*crmsync.Item) error { return nil }); crmsync.ErrorCode(err) != crmsync.EUNAUTHORIZED {
		t.Errorf("EachItem without a user: %v", err)
	}
}

// In a listing long enough that the links are checked from a scan of the
// contacts, the journals of another user's private contacts stay hidden,
// trashed contacts included.
func TestJournalVisibilityInLongListings(t *testing.T) {
	svc := newService(t)
	users := addUsers(t, svc, []crmsync.Rights{crmsync.FullRights(crmsync.Contacts), crmsync.FullRights(crmsync.Journal)}, "ann", "ben")
	ann, ben := users[0], users[1]
	save := func(ctx context.Context, folder crmsync.Folder, fields map[string]string) string {
		t.Helper()
		res, err := svc.Save(ctx, folder, []crmsync.Patch{{Set: fields}}, crmsync.SaveOptions{})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
		return res[0].GUID
	}
	hidden := map[string]bool{}
	for i := range 200 {
		owner, private := ann, i%10 == 9
		contact := save(owner, crmsync.Contacts, map[string]string{"LastName": fmt.Sprint(i), "IsPrivate": fmt.Sprint(private)})
		journal := save(owner, crmsync.Journal, map[string]string{"FileAs": "call", "Contacts_ContactGuid": contact})
		if private {
			hidden[journal] = true
			if i%20 == 19 {
				if err := svc.Delete(owner, crmsync.Contacts, []string{contact}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	items, err := svc.Items(ben, crmsync.Journal, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := svc.Identifiers(ben, crmsync.Journal)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 200-len(hidden) || len(ids) != len(items) {
		t.Errorf("ben lists %d journals and %d identifiers, want %d", len(items), len(ids), 200-len(hidden))
	}
	for _, it := range items {
		if hidden[it.GUID] {
			t.Errorf("ben sees journal %s of a private contact", it.GUID)
		}
	}
	if mine, err := svc.Items(ann, crmsync.Journal, nil); err != nil || len(mine) != 200 {
		t.Errorf("ann lists %d journals, %v", len(mine), err)
	}
}
