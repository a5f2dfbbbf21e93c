package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/internal/crmtest"
	"github.com/crmsync/crmsync/service"
)

// The journal block of the synced note leaves out a journal linked to a
// company the user may not see, in the full listing and in the changes
// after it, and keeps the contact's other journals.
func TestJournalBlockHidesJournalsOfPrivateItems(t *testing.T) {
	w := newWorld(t)
	sys := crm.System(context.Background())
	carol, err := w.crm.AddUser(sys, "carol", "secret", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.crm.AddToGroup(sys, "carol", "sales"); err != nil {
		t.Fatal(err)
	}
	asCarol := crm.WithUser(w.ctx, carol)
	save := func(folder crm.Folder, fields map[string]string) string {
		t.Helper()
		res, err := w.crm.Save(asCarol, folder, []crm.Patch{{Set: fields}}, crm.SaveOptions{})
		if err != nil || res[0].Err != nil {
			t.Fatalf("saving %s: %v %v", folder, err, res)
		}
		return res[0].GUID
	}
	company := save(crm.Companies, map[string]string{crm.FieldCompanyName: "Hidden s.r.o.", crm.FieldIsPrivate: "true"})
	contact := save(crm.Contacts, map[string]string{crm.FieldLastName: "Shared"})
	save(crm.Journal, map[string]string{crm.FieldFileAs: "open call", crm.FieldContactGUID: contact})
	save(crm.Journal, map[string]string{crm.FieldFileAs: "secret deal", crm.FieldContactGUID: contact, crm.FieldCompanyGUID: company})

	block := func(cs engine.ChangeSet) string {
		t.Helper()
		for _, r := range cs.Records {
			if r.ID == contact {
				return r.Fields[engine.FieldJournals]
			}
		}
		t.Fatalf("no record of contact %s in %d records", contact, len(cs.Records))
		return ""
	}
	full, err := w.crmSide.Changes(w.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if b := block(full); !strings.Contains(b, "open call") || strings.Contains(b, "secret deal") {
		t.Errorf("full listing: journal block %q, want the open call and not the secret deal", b)
	}
	save(crm.Journal, map[string]string{crm.FieldFileAs: "second secret", crm.FieldContactGUID: contact, crm.FieldCompanyGUID: company})
	save(crm.Journal, map[string]string{crm.FieldFileAs: "second call", crm.FieldContactGUID: contact})
	next, err := w.crmSide.Changes(w.ctx, full.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if b := block(next); !strings.Contains(b, "second call") || strings.Contains(b, "secret") {
		t.Errorf("changes: journal block %q, want both calls and no secret", b)
	}
}

// Without the Export right the CRM side of a sync cannot list a book larger
// than service.ExportFreeItems, so revoking Export stops a running sync.
func TestSyncListingNeedsExportRight(t *testing.T) {
	w := newWorld(t)
	var patches []crm.Patch
	for i := range service.ExportFreeItems + 1 {
		patches = append(patches, crm.Patch{Set: map[string]string{crm.FieldLastName: fmt.Sprintf("Contact %d", i)}})
	}
	if _, err := w.crm.Save(w.ctx, crm.Contacts, patches, crm.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.crmSide.Changes(w.ctx, ""); err != nil {
		t.Fatalf("with Export: %v", err)
	}
	sys := crm.System(context.Background())
	if err := w.crm.SaveGroup(sys, "sales", crmtest.NoExport()); err != nil {
		t.Fatal(err)
	}
	_, err := w.crmSide.Changes(w.ctx, "")
	if crm.ErrorCode(err) != crm.EFORBIDDEN {
		t.Errorf("without Export: listing answered %v, want EFORBIDDEN", err)
	}
}
