package carddav_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/internal/crmtest"
	"github.com/crmsync/crmsync/service"
)

// Without the Export right a user cannot download a book larger than
// service.ExportFreeItems over CardDAV, by listing or by sync-collection,
// while one with it can.
func TestBookNeedsExportRight(t *testing.T) {
	f := newFixture(t)
	must(t, f.crm.SaveGroup(f.ctx, "no-export", crmtest.NoExport()))
	_, err := f.crm.AddUser(f.ctx, "dora", "dora-pw", false)
	must(t, err)
	must(t, f.crm.AddToGroup(f.ctx, "dora", "no-export"))
	var patches []crm.Patch
	for i := range service.ExportFreeItems + 1 {
		patches = append(patches, crm.Patch{Set: map[string]string{crm.FieldLastName: fmt.Sprintf("Contact %d", i)}})
	}
	_, err = f.crm.Save(crm.System(context.Background()), crm.Contacts, patches, crm.SaveOptions{})
	must(t, err)

	list := `<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>`
	sync := `<d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`
	for _, c := range []struct{ method, body string }{{"PROPFIND", list}, {"REPORT", sync}} {
		if r := f.do(c.method, "/dav/addressbooks/dora/contacts/", "dora", c.body, "Depth", "1"); r.code != http.StatusForbidden {
			t.Errorf("dora: %s of the book: %d, want 403", c.method, r.code)
		}
		m := parseMS(t, f.do(c.method, "/dav/addressbooks/alice/contacts/", "alice", c.body, "Depth", "1"))
		if len(m.Responses) < service.ExportFreeItems+1 {
			t.Errorf("alice: %s of the book: %d responses", c.method, len(m.Responses))
		}
	}
}
