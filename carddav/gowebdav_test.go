package carddav_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	crm "github.com/crmsync/crmsync"
	"github.com/emersion/go-webdav"
	gocarddav "github.com/emersion/go-webdav/carddav"
)

// TestGoWebDAVClient drives the server with go-webdav's CardDAV client, an
// implementation nobody here wrote: discovery, listing, multiget and
// sync-collection.
func TestGoWebDAVClient(t *testing.T) {
	f := newFixture(t)
	a := f.create("alice", map[string]string{crm.FieldFirstName: "Ann", crm.FieldLastName: "Example", crm.FieldEmail1: "ann@example.com"})
	b := f.create("alice", map[string]string{crm.FieldLastName: "Second"})
	ctx := context.Background()
	hc := webdav.HTTPClientWithBasicAuth(http.DefaultClient, "alice", "alice-pw")
	c, err := gocarddav.NewClient(hc, f.url+"/dav/")
	must(t, err)
	principal, err := c.FindCurrentUserPrincipal(ctx)
	must(t, err)
	home, err := c.FindAddressBookHomeSet(ctx, principal)
	must(t, err)
	books, err := c.FindAddressBooks(ctx, home)
	must(t, err)
	if len(books) != 1 || books[0].Path != "/dav/addressbooks/alice/contacts/" || books[0].MaxResourceSize == 0 {
		t.Fatalf("books = %+v", books)
	}
	book := books[0].Path
	objs, err := c.QueryAddressBook(ctx, book, &gocarddav.AddressBookQuery{DataRequest: gocarddav.AddressDataRequest{AllProp: true}})
	must(t, err)
	if len(objs) != 2 {
		t.Fatalf("query: %d objects", len(objs))
	}
	mg, err := c.MultiGetAddressBook(ctx, book, &gocarddav.AddressBookMultiGet{Paths: []string{book + a + ".vcf"}, DataRequest: gocarddav.AddressDataRequest{AllProp: true}})
	must(t, err)
	if len(mg) != 1 || mg[0].Card.PreferredValue("EMAIL") != "ann@example.com" || mg[0].ETag == "" {
		t.Fatalf("multiget = %+v", mg)
	}
	first, err := c.SyncCollection(ctx, book, &gocarddav.SyncQuery{})
	must(t, err)
	if len(first.Updated) != 2 || first.SyncToken == "" {
		t.Fatalf("first sync = %+v", first)
	}
	// A change since the token comes back alone. (A delete would come
	// back as the RFC 6578 bare 404 response, which go-webdav's client at
	// this version turns into an error whose Error method panics; deletes
	// are covered by TestReports and the vdirsyncer test instead.)
	res, err := f.crm.Save(f.ctx, crm.Contacts, []crm.Patch{{GUID: b, Set: map[string]string{crm.FieldFirstName: "Bea"}}}, crm.SaveOptions{})
	must(t, err)
	must(t, res[0].Err)
	next, err := c.SyncCollection(ctx, book, &gocarddav.SyncQuery{SyncToken: first.SyncToken})
	must(t, err)
	if len(next.Updated) != 1 || !strings.HasSuffix(next.Updated[0].Path, b+".vcf") || next.SyncToken == first.SyncToken {
		t.Errorf("delta = %+v", next)
	}
	obj, err := c.GetAddressObject(ctx, book+a+".vcf")
	must(t, err)
	if n := obj.Card.Name(); n == nil || n.GivenName != "Ann" {
		t.Errorf("GET card name = %+v", n)
	}
}
