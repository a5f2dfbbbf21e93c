package service_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/service"
)

// listAll walks every page of a listing and returns the names in order.
func listAll(t *testing.T, l crmsync.Lister, ctx context.Context, q crmsync.ListQuery) []string {
	t.Helper()
	var names []string
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("listing does not end")
		}
		p, err := l.List(ctx, crmsync.Contacts, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range p.Items {
			names = append(names, it.Get(crmsync.FieldLastName))
		}
		if p.Next == "" {
			return names
		}
		q.After = p.Next
	}
}

// The listing pages by name, searches names, e-mails and phone digits,
// hides others' private contacts and lists the trash apart.
func TestListPagesSearchesAndHides(t *testing.T) {
	t.Run("pager", func(t *testing.T) { testList(t, newService(t)) })
	t.Run("scan", func(t *testing.T) { testList(t, service.New(noPager{newStore(t)}, service.Options{})) })
}

func testList(t *testing.T, svc *service.Service) {
	sys := crmsync.System(context.Background())
	alice, err := svc.AddUser(sys, "alice", "pw-alice", false)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := svc.AddUser(sys, "bob", "pw-bob", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SaveGroup(sys, "staff", []crmsync.Rights{{Folder: crmsync.Contacts, View: crmsync.LevelAll, Edit: crmsync.LevelOwn, Delete: crmsync.LevelOwn, CanCreate: true}}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if err := svc.AddToGroup(sys, u, "staff"); err != nil {
			t.Fatal(err)
		}
	}
	actx, bctx := crmsync.WithUser(context.Background(), alice), crmsync.WithUser(context.Background(), bob)
	var patches []crmsync.Patch
	for i := 0; i < 25; i++ {
		patches = append(patches, crmsync.Patch{Set: map[string]string{
			crmsync.FieldFirstName: "Jan", crmsync.FieldLastName: fmt.Sprintf("N%02d", 24-i),
			crmsync.FieldEmail1: fmt.Sprintf("n%d@example.com", i), crmsync.FieldPhoneMobile: fmt.Sprintf("+420 777 000 %03d", i)}})
	}
	patches = append(patches, crmsync.Patch{Set: map[string]string{crmsync.FieldFirstName: "Secret", crmsync.FieldLastName: "Private", crmsync.FieldIsPrivate: "true"}})
	res, err := svc.Save(actx, crmsync.Contacts, patches, crmsync.SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}

	got := listAll(t, svc, bctx, crmsync.ListQuery{Limit: 7})
	if len(got) != 25 || got[0] != "N00" || got[24] != "N24" {
		t.Fatalf("bob's listing: %v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i-1] >= got[i] {
			t.Fatalf("not ordered by name: %v", got)
		}
	}
	if got := listAll(t, svc, actx, crmsync.ListQuery{Search: "secret"}); len(got) != 1 {
		t.Errorf("alice finds her private contact %v times", got)
	}
	if got := listAll(t, svc, bctx, crmsync.ListQuery{Search: "secret"}); len(got) != 0 {
		t.Errorf("bob finds alice's private contact: %v", got)
	}
	if got := listAll(t, svc, bctx, crmsync.ListQuery{Search: "N7@EXAMPLE"}); len(got) != 1 || got[0] != "N17" {
		t.Errorf("search by e-mail: %v", got)
	}
	if got := listAll(t, svc, bctx, crmsync.ListQuery{Search: "777000012"}); len(got) != 1 || got[0] != "N12" {
		t.Errorf("search by phone digits: %v", got)
	}

	if err := svc.Delete(actx, crmsync.Contacts, []string{res[0].GUID}); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, svc, bctx, crmsync.ListQuery{}); len(got) != 24 {
		t.Errorf("after a delete %d listed", len(got))
	}
	if got := listAll(t, svc, actx, crmsync.ListQuery{Trashed: true}); len(got) != 1 || got[0] != "N24" {
		t.Errorf("trash: %v", got)
	}

	acc, err := svc.Access(bctx, crmsync.Contacts, []string{res[1].GUID, res[25].GUID})
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := acc[res[1].GUID]; !ok || a.Edit || a.Delete {
		t.Errorf("bob's access to alice's contact: %+v %v", a, ok)
	}
	if _, ok := acc[res[25].GUID]; ok {
		t.Error("Access reveals alice's private contact to bob")
	}
	if acc, _ := svc.Access(actx, crmsync.Contacts, []string{res[1].GUID}); !acc[res[1].GUID].Edit || !acc[res[1].GUID].Delete {
		t.Errorf("alice's access to her contact: %+v", acc)
	}

	if _, err := svc.List(bctx, crmsync.Contacts, crmsync.ListQuery{After: "%%"}); crmsync.ErrorCode(err) != crmsync.EINVALID {
		t.Errorf("bad cursor: %v", err)
	}
	if _, err := svc.List(bctx, crmsync.Contacts, crmsync.ListQuery{Limit: 101}); crmsync.ErrorCode(err) != crmsync.EFORBIDDEN {
		t.Errorf("a page over 100 without the Export right: %v", err)
	}
	if _, err := svc.List(bctx, crmsync.Contacts, crmsync.ListQuery{Limit: 501}); crmsync.ErrorCode(err) != crmsync.EINVALID {
		t.Errorf("page too large: %v", err)
	}
}

// noPager hides the store's ItemPager, so that List falls back to a scan.
type noPager struct{ service.Store }

type plainTx struct{ service.Tx }

func (s noPager) Read(ctx context.Context, fn func(service.Tx) error) error {
	return s.Store.Read(ctx, func(tx service.Tx) error { return fn(plainTx{tx}) })
}

func (s noPager) Write(ctx context.Context, fn func(service.Tx) error) error {
	return s.Store.Write(ctx, func(tx service.Tx) error { return fn(plainTx{tx}) })
}
