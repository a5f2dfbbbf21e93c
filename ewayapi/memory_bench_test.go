package ewayapi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/internal/crmtest"
)

// BenchmarkUnauthenticatedBodies sends 8 concurrent 32 MiB SaveContacts
// bodies without a valid session, the attack of issue 13, and reports the
// peak of the server's (and the clients') live heap above the idle heap.
func BenchmarkUnauthenticatedBodies(b *testing.B) {
	f := newFixture(b, fixtureOptions{})
	obj := `{"FirstName":"` + strings.Repeat("x", 1000) + `"},`
	n := (32<<20 - 100) / len(obj)
	body := []byte(`{"transmitObjects":[` + strings.Repeat(obj, n-1) + obj[:len(obj)-1] + `],"sessionId":"bogus"}`)
	url := f.url + "/API.svc/SaveContacts"
	b.ReportMetric(worstPeakMiB(b, 8, func() {
		resp, err := http.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return // the server may close the connection before reading it all
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}), "peak-heap-MiB")
}

// worstPeakMiB makes call from clients goroutines at once, b.N times, and
// returns the highest peak live heap (crmtest.HeapPeak) of a round, in MiB.
func worstPeakMiB(b *testing.B, clients int, call func()) float64 {
	var worst float64
	for range b.N {
		stop := crmtest.HeapPeak()
		var wg sync.WaitGroup
		for range clients {
			wg.Go(call)
		}
		wg.Wait()
		worst = max(worst, float64(stop())/(1<<20))
	}
	return worst
}

// BenchmarkList100k lists 100,000 contacts (about 1 KiB of fields each)
// from 4 concurrent clients, the load of issue 13, with GetContacts and
// with GetChangedItems from change 0, and reports the peak live heap
// above the idle heap. Clients count the items as the answer streams in,
// so the peak is the server's.
func BenchmarkList100k(b *testing.B) {
	f := newFixture(b, fixtureOptions{})
	sys := crmsync.System(context.Background())
	const total = 100000
	for start := 0; start < total; start += 1000 {
		patches := make([]crmsync.Patch, 1000)
		for i := range patches {
			n := start + i
			patches[i] = crmsync.Patch{Set: map[string]string{
				"FirstName": fmt.Sprintf("First%d", n), "LastName": fmt.Sprintf("Last%d", n),
				"Company": "ACME s.r.o.", "Title": "Sales manager", "Department": "Sales",
				"Email1Address": fmt.Sprintf("person%d@example.com", n), "TelephoneNumber1": "+420 123 456 789",
				"BusinessAddressStreet": "Václavské náměstí 1", "BusinessAddressCity": "Praha",
				"Note": strings.Repeat("Met at the fair; interested in the premium plan. ", 12),
			}}
		}
		if _, err := f.crm.Save(sys, crmsync.Contacts, patches, crmsync.SaveOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	s := f.login("alice")
	for _, c := range []struct{ method, body string }{
		{"GetContacts", `{"sessionId":"` + s + `"}`},
		{"GetChangedItems", `{"sessionId":"` + s + `","folderNames":["Contacts"],"baseChangeId":0}`},
	} {
		b.Run(c.method, func(b *testing.B) {
			b.ReportMetric(worstPeakMiB(b, 4, func() {
				resp, err := http.Post(f.url+"/API.svc/"+c.method, "application/json", strings.NewReader(c.body))
				if err != nil {
					b.Error(err)
					return
				}
				defer resp.Body.Close()
				if n, err := countItems(resp.Body); err != nil || n != total {
					b.Errorf("%s: %d items, %v", c.method, n, err)
				}
			}), "peak-heap-MiB")
		})
	}
}

// countItems counts the items of an answer as it streams in, by their
// opening `{"ItemGUID":`, without holding the answer.
func countItems(r io.Reader) (int, error) {
	mark := []byte(`{"ItemGUID":`)
	buf := make([]byte, 64<<10)
	keep, n := 0, 0
	for {
		m, err := r.Read(buf[keep:])
		chunk := buf[:keep+m]
		n += bytes.Count(chunk, mark)
		keep = min(len(mark)-1, len(chunk))
		copy(buf, chunk[len(chunk)-keep:])
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
