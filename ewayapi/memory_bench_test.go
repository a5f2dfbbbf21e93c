package ewayapi_test

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// heapPeak samples the live heap every millisecond until stop is called,
// which returns the highest value seen above the heap at the start, in MiB.
func heapPeak() (stop func() float64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if v := read(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 {
		close(done)
		wg.Wait()
		if peak.Load() < base {
			return 0
		}
		return float64(peak.Load()-base) / (1 << 20)
	}
}

// BenchmarkUnauthenticatedBodies sends 8 concurrent 32 MiB SaveContacts
// bodies without a valid session, the attack of issue 13, and reports the
// peak of the server's (and the clients') live heap above the idle heap.
func BenchmarkUnauthenticatedBodies(b *testing.B) {
	f := newFixture(b, fixtureOptions{})
	obj := `{"FirstName":"` + strings.Repeat("x", 1000) + `"},`
	n := (32<<20 - 100) / len(obj)
	body := []byte(`{"transmitObjects":[` + strings.Repeat(obj, n-1) + obj[:len(obj)-1] + `],"sessionId":"bogus"}`)
	url := f.url + "/API.svc/SaveContacts"
	var worst float64
	for range b.N {
		stop := heapPeak()
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					return // the server may close the connection before reading it all
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}()
		}
		wg.Wait()
		worst = max(worst, stop())
	}
	b.ReportMetric(worst, "peak-heap-MiB")
}
