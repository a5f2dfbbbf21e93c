package engine_test

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/outlook"
)

// seedCRM creates n contacts in batches, as an import would.
func (w *world) seedCRM(n int) {
	w.t.Helper()
	const batch = 1000
	for start := 0; start < n; start += batch {
		var patches []crm.Patch
		for i := start; i < min(n, start+batch); i++ {
			patches = append(patches, crm.Patch{Set: map[string]string{
				crm.FieldFirstName: fmt.Sprintf("First%d", i), crm.FieldLastName: fmt.Sprintf("Last%d", i),
				crm.FieldEmail1: fmt.Sprintf("c%d@example.cz", i), crm.FieldPhoneBusiness: "+420 222 333 444",
				crm.FieldPhoneMobile: fmt.Sprintf("+420 777 %06d", i), crm.FieldCompany: "Firma s.r.o.",
				crm.AddressBusiness + "Street": "Václavské náměstí 1", crm.AddressBusiness + "City": "Praha",
				crm.FieldNote: "Met at the fair.",
			}})
		}
		res, err := w.crm.Save(w.ctx, crm.Contacts, patches, crm.SaveOptions{})
		if err != nil {
			w.t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				w.t.Fatal(r.Err)
			}
		}
	}
}

// peakHeap samples the heap until stop is called and returns the peak.
func peakHeap() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); return peak.Load() }
}

// BenchmarkFirstSync is the first sync of n CRM contacts to an empty
// in-memory Outlook folder, end to end through the engine (SPEC M14). The
// heap limit is the one the crmsync binary sets by default; the peak heap
// includes the in-memory Outlook mailbox (about 150 MB at 100,000).
func BenchmarkFirstSync(b *testing.B) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(400 << 20))
	for _, n := range []int{3000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			if n > 3000 && testing.Short() {
				b.Skip("large")
			}
			for range b.N {
				b.StopTimer()
				// Each run's world is closed at its end, so that the peak
				// heap is one world's.
				w := newWorldIn(b, b.TempDir())
				w.seedCRM(n)
				runtime.GC()
				stop := peakHeap()
				b.StartTimer()
				start := time.Now()
				run := w.cycle()
				elapsed := time.Since(start)
				b.StopTimer()
				peak := stop()
				if run.Counts.CreatedInRemote != n {
					b.Fatalf("created %d, want %d", run.Counts.CreatedInRemote, n)
				}
				b.ReportMetric(float64(n)/elapsed.Seconds(), "contacts/s")
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
				w.db.Close()
			}
		})
	}
}

// BenchmarkFirstSyncFromOutlook is the first sync of 3,000 Outlook
// contacts, each with a title, a suffix and two countries, into an empty
// CRM: the other direction, where enum names become CRM enum values.
func BenchmarkFirstSyncFromOutlook(b *testing.B) {
	const n = 3000
	for range b.N {
		b.StopTimer()
		w := newWorldIn(b, b.TempDir())
		for i := range n {
			c := &outlook.Contact{GivenName: fmt.Sprint("First", i), Surname: "Last",
				Title: []string{"Mr.", "Ms.", "Dr."}[i%3], Generation: []string{"Jr.", "III"}[i%2],
				EmailAddresses:  []outlook.EmailAddress{{Address: fmt.Sprintf("o%d@example.com", i)}},
				BusinessAddress: &outlook.PhysicalAddress{City: "Praha", CountryOrRegion: []string{"Czech Republic", "Germany", "United States"}[i%3]},
				HomeAddress:     &outlook.PhysicalAddress{City: "Wien", CountryOrRegion: "Austria"}}
			if _, err := w.mb.Create("", c); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		b.StartTimer()
		start := time.Now()
		run := w.cycle()
		elapsed := time.Since(start)
		b.StopTimer()
		if run.Counts.CreatedInCRM != n {
			b.Fatalf("created %d in the CRM, want %d", run.Counts.CreatedInCRM, n)
		}
		b.ReportMetric(float64(n)/elapsed.Seconds(), "contacts/s")
		w.db.Close()
	}
}

// BenchmarkNoChangeCycle is a cycle with nothing to do at n pairs: it must
// cost the same at any n (change feed and delta only).
func BenchmarkNoChangeCycle(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			if n > 1000 && testing.Short() {
				b.Skip("large")
			}
			w := newWorld(b)
			w.seedCRM(n)
			w.cycle()
			b.ResetTimer()
			for range b.N {
				run := w.cycle()
				if run.Counts != (engine.Counts{}) {
					b.Fatalf("no-change cycle wrote %+v", run.Counts)
				}
			}
		})
	}
}

// BenchmarkContinuousEdit measures how long one CRM edit takes to reach
// the Outlook mailbox with the runner in continuous mode.
func BenchmarkContinuousEdit(b *testing.B) {
	w := newWorld(b)
	w.seedCRM(1000)
	w.cycle()
	pairs, _ := w.state.AllPairs(context.Background(), w.eng.Partnership.ID)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runner := &engine.Runner{Engine: w.eng, Changes: w.crm.WatchChanges(ctx), PollInterval: time.Hour}
	go runner.Run(ctx)
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		p := pairs[i%len(pairs)]
		want := fmt.Sprintf("Dept %d", i)
		start := time.Now()
		w.editContact(p.CRMID, map[string]string{crm.FieldDepartment: want})
		for {
			e, err := w.mb.Get(p.RemoteID)
			if err == nil && e.Contact.Department == want {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
