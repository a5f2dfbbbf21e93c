package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/internal/crmtest"
	"github.com/crmsync/crmsync/service"
	"golang.org/x/crypto/bcrypt"
)

// OpenB returns a fresh, empty store for a benchmark, closed when tb ends.
type OpenB func(tb testing.TB) service.Store

// Bench measures what a store's speed shows in: bulk loading n contacts
// (batches of 1,000, as an import or a first sync writes them), reading
// 1,000 of them by GUID (GetContactsByItemGuids), and the change feed over
// the last 1,000 changes (GetChangedItems). Run it for each store in one
// benchmark run to compare them side by side.
func Bench(b *testing.B, open OpenB, n int) {
	outer := b // the stores outlive the loading sub-benchmark
	var (
		svc   *service.Service
		ctx   context.Context
		guids []string
	)
	b.Run(fmt.Sprintf("bulk-load-%d", n), func(b *testing.B) {
		for range b.N {
			svc = service.New(open(outer), service.Options{PasswordCost: bcrypt.MinCost})
			ctx = benchUser(b, svc)
			guids = guids[:0]
			for start := 0; start < n; start += 1000 {
				patches := make([]crmsync.Patch, 0, 1000)
				for i := start; i < min(start+1000, n); i++ {
					patches = append(patches, BenchContact(i))
				}
				res, err := svc.Save(ctx, crmsync.Contacts, patches, crmsync.SaveOptions{})
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range res {
					if r.Err != nil {
						b.Fatal(r.Err)
					}
					guids = append(guids, r.GUID)
				}
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "contacts/s")
	})
	if svc == nil {
		b.Fatal("nothing loaded")
	}
	b.Run("get-1000-by-guid", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 2))
		pick := make([]string, 1000)
		for range b.N {
			for i := range pick {
				pick[i] = guids[r.IntN(len(guids))]
			}
			items, err := svc.Items(ctx, crmsync.Contacts, pick)
			if err != nil || len(items) == 0 {
				b.Fatal(len(items), err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/call")
	})
	b.Run("feed-last-1000", func(b *testing.B) {
		last, err := svc.LastChangeID(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for range b.N {
			sets, err := svc.ChangedItems(ctx, []crmsync.Folder{crmsync.Contacts}, last-1000, last)
			if err != nil || len(sets) != 1 || len(sets[0].Items) != 1000 {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/call")
	})
}

// benchUser creates a user who sees and edits everything through a group,
// so that rights are evaluated, not bypassed.
func benchUser(b *testing.B, svc *service.Service) context.Context {
	sys := crmsync.System(context.Background())
	if err := svc.SaveGroup(sys, "all", crmtest.AllRights()); err != nil {
		b.Fatal(err)
	}
	u, err := svc.AddUser(sys, "bench", "bench", false)
	if err != nil {
		b.Fatal(err)
	}
	if err := svc.AddToGroup(sys, "bench", "all"); err != nil {
		b.Fatal(err)
	}
	return crmsync.WithUser(context.Background(), u)
}

// BenchContact is contact number i of a benchmark, a contact with the fields a synced Outlook contact
// typically has.
func BenchContact(i int) crmsync.Patch {
	return crmsync.Patch{Set: map[string]string{
		"FirstName": fmt.Sprintf("First%d", i), "LastName": fmt.Sprintf("Last%d", i),
		"Company": "ACME s.r.o.", "Title": "Sales manager", "Department": "Sales",
		"Email1Address": fmt.Sprintf("person%d@example.com", i), "Email2Address": fmt.Sprintf("p%d@home.example", i),
		"TelephoneNumber1": "+420 123 456 789", "TelephoneNumber3": "+420 777 123 456",
		"BusinessAddressStreet": "Václavské náměstí 1", "BusinessAddressCity": "Praha",
		"BusinessAddressPostalCode": "110 00", "Note": "Met at the fair; interested in the premium plan.",
	}}
}
