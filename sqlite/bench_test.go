package sqlite_test

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/storetest"
	"golang.org/x/crypto/bcrypt"
)

// cpuTime is the user and system CPU time of the process so far. The
// benchmarks report throughput per CPU second beside wall time, because the
// shared 2-core build machine is often busy with other work.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchEnv is a service on a fresh database with a user who may see and
// edit everything through a group (so rights are evaluated, not bypassed).
func benchEnv(b *testing.B) (*service.Service, context.Context) {
	b.Helper()
	db := MustOpen(b)
	svc := service.New(db, service.Options{PasswordCost: bcrypt.MinCost})
	sys := crmsync.System(context.Background())
	var rs []crmsync.Rights
	for _, f := range crmsync.Folders {
		rs = append(rs, crmsync.Rights{Folder: f, View: crmsync.LevelAll, Edit: crmsync.LevelAll, Delete: crmsync.LevelAll, CanCreate: true, CanExport: true})
	}
	if err := svc.SaveGroup(sys, "all", rs); err != nil {
		b.Fatal(err)
	}
	u, err := svc.AddUser(sys, "bench", "bench", false)
	if err != nil {
		b.Fatal(err)
	}
	if err := svc.AddToGroup(sys, "bench", "all"); err != nil {
		b.Fatal(err)
	}
	return svc, crmsync.WithUser(context.Background(), u)
}

func saveBatch(b *testing.B, svc *service.Service, ctx context.Context, patches []crmsync.Patch) []crmsync.SaveResult {
	b.Helper()
	res, err := svc.Save(ctx, crmsync.Contacts, patches, crmsync.SaveOptions{DieOnItemConflict: true})
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	return res
}

// BenchmarkSaveContactsBatch creates contacts in batches of 1,000 (one
// SaveContacts call, one transaction each). Target: >= 5,000 contacts/s.
func BenchmarkSaveContactsBatch(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchSave(b, false) })
	// With ContactDuplicityCheckEnabled every new contact looks up its e-mail.
	b.Run("duplicity-check", func(b *testing.B) { benchSave(b, true) })
}

func benchSave(b *testing.B, duplicityCheck bool) {
	const batch = 1000
	svc, ctx := benchEnv(b)
	if duplicityCheck {
		if err := svc.SetGlobalSetting(crmsync.System(context.Background()), crmsync.SettingDuplicityCheck, "true"); err != nil {
			b.Fatal(err)
		}
	}
	n := 0
	runtime.GC() // the set-up's garbage must not be collected on the clock
	cpu0 := cpuTime()
	for b.Loop() {
		patches := make([]crmsync.Patch, batch)
		for i := range patches {
			patches[i] = storetest.BenchContact(n)
			n++
		}
		saveBatch(b, svc, ctx, patches)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "contacts/s")
	b.ReportMetric(float64(n)/(cpuTime()-cpu0).Seconds(), "contacts/cpu-s")
}

// BenchmarkChangedItems reads 1,000 changed contacts out of 10k and 100k:
// the cost must not grow with the total. Target: < 20 ms per call.
func BenchmarkChangedItems(b *testing.B) {
	for _, total := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("contacts=%d", total), func(b *testing.B) {
			svc, ctx := benchEnv(b)
			var guids []string
			for start := 0; start < total; start += 5000 {
				patches := make([]crmsync.Patch, 0, 5000)
				for i := start; i < min(start+5000, total); i++ {
					patches = append(patches, storetest.BenchContact(i))
				}
				for _, r := range saveBatch(b, svc, ctx, patches) {
					guids = append(guids, r.GUID)
				}
			}
			base, err := svc.LastChangeID(ctx)
			if err != nil {
				b.Fatal(err)
			}
			patches := make([]crmsync.Patch, 1000)
			for i := range patches {
				patches[i] = crmsync.Patch{GUID: guids[i*(total/1000)], Set: map[string]string{"Note": "changed"}}
			}
			saveBatch(b, svc, ctx, patches)
			target, _ := svc.LastChangeID(ctx)
			// "all": a user who sees every changed contact. "own": a user
			// who owns none of them, so the feed checks who could see each
			// one before (and reports nothing).
			sys := crmsync.System(context.Background())
			if err := svc.SaveGroup(sys, "own", []crmsync.Rights{{Folder: crmsync.Contacts, View: crmsync.LevelOwn}}); err != nil {
				b.Fatal(err)
			}
			u, err := svc.AddUser(sys, "owner-of-nothing", "x", false)
			if err != nil {
				b.Fatal(err)
			}
			if err := svc.AddToGroup(sys, u.Name, "own"); err != nil {
				b.Fatal(err)
			}
			for _, c := range []struct {
				name  string
				ctx   context.Context
				items int
			}{{"all", ctx, 1000}, {"own", crmsync.WithUser(context.Background(), u), 0}} {
				b.Run(c.name, func(b *testing.B) {
					benchChangedItems(b, svc, c.ctx, base, target, c.items)
				})
			}
		})
	}
}

func benchChangedItems(b *testing.B, svc *service.Service, ctx context.Context, base, target int64, want int) {
	folders := []crmsync.Folder{crmsync.Contacts}
	runtime.GC() // the set-up's garbage must not be collected on the clock
	cpu0 := cpuTime()
	for b.Loop() {
		cs, err := svc.ChangedItems(ctx, folders, base, target)
		if err != nil {
			b.Fatal(err)
		}
		if len(cs[0].Items) != want || len(cs[0].Removed) != 0 {
			b.Fatalf("%d changed items and %d removed, want %d and 0", len(cs[0].Items), len(cs[0].Removed), want)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/call")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/call")
}

// BenchmarkIdentifiers lists 100,000 contacts' GUIDs and versions, the
// full-reconcile path of a sync (GetContactsIdentifiers).
func BenchmarkIdentifiers(b *testing.B) {
	const total = 100_000
	svc, ctx := benchEnv(b)
	for start := 0; start < total; start += 5000 {
		patches := make([]crmsync.Patch, 0, 5000)
		for i := start; i < start+5000; i++ {
			patches = append(patches, storetest.BenchContact(i))
		}
		saveBatch(b, svc, ctx, patches)
	}
	runtime.GC() // the set-up's garbage must not be collected on the clock
	cpu0 := cpuTime()
	for b.Loop() {
		ids, err := svc.Identifiers(ctx, crmsync.Contacts)
		if err != nil {
			b.Fatal(err)
		}
		if len(ids) != total {
			b.Fatalf("%d identifiers, want %d", len(ids), total)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/call")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/call")
}

// BenchmarkSaveOneContact is SaveContact over the API: one contact per
// transaction, so each commit pays the WAL's fsync (synchronous=FULL).
func BenchmarkSaveOneContact(b *testing.B) {
	svc, ctx := benchEnv(b)
	n := 0
	for b.Loop() {
		saveBatch(b, svc, ctx, []crmsync.Patch{storetest.BenchContact(n)})
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "commits/s")
}
