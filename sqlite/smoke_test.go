package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/sqlite"
	"golang.org/x/crypto/bcrypt"
)

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "crm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := service.New(db, service.Options{PasswordCost: bcrypt.MinCost})
	sys := crmsync.System(ctx)
	u, err := svc.AddUser(sys, "alice", "pw", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SaveGroup(sys, "sales", []crmsync.Rights{{Folder: crmsync.Contacts, View: crmsync.LevelAll, Edit: crmsync.LevelAll, CanCreate: true}}); err != nil {
		t.Fatal(err)
	}
	if err := svc.AddToGroup(sys, "alice", "sales"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, "alice", "3ba4df1c1e4e2ca3d5d2b1e6c2fd1eec"); err == nil {
		t.Fatal("wrong password accepted")
	}
	au, err := svc.Authenticate(ctx, "alice", "8fe4c11451281c094a6578e6ddbf5eed")
	if err != nil {
		t.Fatal(err)
	}
	uctx := crmsync.WithUser(ctx, au)
	res, err := svc.Save(uctx, crmsync.Contacts, []crmsync.Patch{{Set: map[string]string{"FirstName": "Petr", "LastName": "Novák"}}}, crmsync.SaveOptions{})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	items, err := svc.Items(uctx, crmsync.Contacts, nil)
	if err != nil || len(items) != 1 {
		t.Fatal(err, items)
	}
	t.Logf("%+v %v", items[0], u)
	ch, err := svc.ChangedItems(uctx, []crmsync.Folder{crmsync.Contacts}, 0, 100)
	t.Logf("%+v %v", ch, err)
}
