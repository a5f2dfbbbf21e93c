package service_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/crmsync/crmsync"
)

// BenchmarkJournalListing lists 20,000 journals, each linked to a contact
// of its own, as a user (so every journal's contact is checked for
// visibility) through Items and Identifiers.
func BenchmarkJournalListing(b *testing.B) {
	db := newServiceB(b)
	svc, sys := db, crmsync.System(context.Background())
	if err := svc.SaveGroup(sys, "all", []crmsync.Rights{crmsync.FullRights(crmsync.Contacts), crmsync.FullRights(crmsync.Journal)}); err != nil {
		b.Fatal(err)
	}
	u, err := svc.AddUser(sys, "ann", "pw", false)
	if err != nil {
		b.Fatal(err)
	}
	if err := svc.AddToGroup(sys, "ann", "all"); err != nil {
		b.Fatal(err)
	}
	ctx := crmsync.WithUser(context.Background(), u)
	const total = 20000
	for start := 0; start < total; start += 1000 {
		var contacts, journals []crmsync.Patch
		for i := range 1000 {
			g := fmt.Sprintf("00000000-0000-4000-8000-%012d", start+i)
			contacts = append(contacts, crmsync.Patch{GUID: g, Set: map[string]string{"LastName": g}})
			journals = append(journals, crmsync.Patch{Set: map[string]string{"FileAs": "call", "Contacts_ContactGuid": g}})
		}
		for _, p := range []struct {
			f  crmsync.Folder
			ps []crmsync.Patch
		}{{crmsync.Contacts, contacts}, {crmsync.Journal, journals}} {
			if _, err := svc.Save(ctx, p.f, p.ps, crmsync.SaveOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("Items", func(b *testing.B) {
		for range b.N {
			if items, err := svc.Items(ctx, crmsync.Journal, nil); err != nil || len(items) != total {
				b.Fatal(len(items), err)
			}
		}
	})
	b.Run("Identifiers", func(b *testing.B) {
		for range b.N {
			if ids, err := svc.Identifiers(ctx, crmsync.Journal); err != nil || len(ids) != total {
				b.Fatal(len(ids), err)
			}
		}
	})
}
