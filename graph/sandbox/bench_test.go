package sandbox_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmsync/crmsync/graph/sandbox"
	"github.com/crmsync/crmsync/outlook"
)

func benchPost(b *testing.B, client *http.Client, url string, body []byte) []byte {
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer bench")
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		b.Fatalf("status %d: %s", res.StatusCode, out)
	}
	return out
}

func contactBody(i int) map[string]any {
	return map[string]any{
		"givenName": fmt.Sprint("Given", i), "surname": "Surname", "companyName": "Acme",
		"emailAddresses": []map[string]string{{"address": fmt.Sprintf("c%d@example.com", i)}},
		"businessPhones": []string{"+420 100 200 300"}, "mobilePhone": "+420 600 000 000",
		"businessAddress":               map[string]string{"street": "Main 1", "city": "Praha", "postalCode": "11000", "countryOrRegion": "Czech Republic"},
		"singleValueExtendedProperties": []map[string]string{{"id": outlook.PropCRMGUID, "value": fmt.Sprint("guid-", i)}},
	}
}

// BenchmarkCreate3000Batched creates 3,000 contacts over HTTP in $batch
// requests of 20 (the first-sync write pattern of the Graph client), one
// batch at a time so inner requests stay within the 4-request limit.
func BenchmarkCreate3000Batched(b *testing.B) {
	for b.Loop() {
		srv := httptest.NewServer(sandbox.NewServer(outlook.NewMemory(), sandbox.Options{}))
		for start := 0; start < 3000; start += sandbox.MaxBatch {
			var reqs []map[string]any
			for i := start; i < start+sandbox.MaxBatch; i++ {
				reqs = append(reqs, map[string]any{"id": fmt.Sprint(i), "method": "POST", "url": "/me/contacts",
					"headers": map[string]string{"Content-Type": "application/json"}, "body": contactBody(i)})
			}
			body, _ := json.Marshal(map[string]any{"requests": reqs})
			benchPost(b, srv.Client(), srv.URL+"/v1.0/$batch", body)
		}
		srv.Close()
	}
}

// BenchmarkCreate3000Parallel creates 3,000 contacts with single POSTs, 4
// in flight.
func BenchmarkCreate3000Parallel(b *testing.B) {
	for b.Loop() {
		srv := httptest.NewServer(sandbox.NewServer(outlook.NewMemory(), sandbox.Options{}))
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < 3000; i += 4 {
					body, _ := json.Marshal(contactBody(i))
					benchPost(b, srv.Client(), srv.URL+"/v1.0/me/contacts", body)
				}
			}()
		}
		wg.Wait()
		srv.Close()
	}
}

// BenchmarkNoChangeDelta100k measures a delta round over HTTP that finds
// nothing, in a folder of 100,000 contacts: its cost must not depend on
// the folder's size.
func BenchmarkNoChangeDelta100k(b *testing.B) {
	mb := outlook.NewMemory()
	for i := range 100_000 {
		c := &outlook.Contact{GivenName: fmt.Sprint("G", i), Surname: "S"}
		if _, err := mb.Create("", c); err != nil {
			b.Fatal(err)
		}
	}
	page, err := mb.Delta("", "", 0)
	if err != nil || page.DeltaToken == "" {
		b.Fatal(err)
	}
	srv := httptest.NewServer(sandbox.NewServer(mb, sandbox.Options{}))
	defer srv.Close()
	link := srv.URL + "/v1.0/me/contactFolders/" + mb.DefaultFolder() + "/contacts/delta?$deltatoken=" + page.DeltaToken
	for b.Loop() {
		req, _ := http.NewRequest("GET", link, nil)
		req.Header.Set("Authorization", "Bearer bench")
		res, err := srv.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var body struct {
			Value     []json.RawMessage `json:"value"`
			DeltaLink string            `json:"@odata.deltaLink"`
		}
		json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if res.StatusCode != 200 || len(body.Value) != 0 || body.DeltaLink == "" {
			b.Fatalf("status %d, %d entries", res.StatusCode, len(body.Value))
		}
	}
}

// BenchmarkChainedBatches50ms sends 3,000 creates as $batch requests of 20
// chained with dependsOn, four in flight, with 50 ms added per request: the
// Graph client's first-sync pattern with no engine. Its x-bound (wall time
// over N × 50 ms / 4) is the floor of the engine benchmark's
// (graph.BenchmarkEngineFirstSync3000): what the sandbox's own work on
// this machine adds to every request.
func BenchmarkChainedBatches50ms(b *testing.B) {
	const latency, n, per, inFlight = 50 * time.Millisecond, 3000, sandbox.MaxBatch, 4
	var wall time.Duration
	for b.Loop() {
		srv := httptest.NewServer(sandbox.NewServer(outlook.NewMemory(), sandbox.Options{Latency: latency}))
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range inFlight {
			wg.Go(func() {
				for {
					first := int(next.Add(per)) - per
					if first >= n {
						return
					}
					var reqs []map[string]any
					for i := first; i < first+per; i++ {
						r := map[string]any{"id": fmt.Sprint(i), "method": "POST", "url": "/me/contacts",
							"headers": map[string]string{"Content-Type": "application/json"}, "body": contactBody(i)}
						if i > first {
							r["dependsOn"] = []string{fmt.Sprint(i - 1)}
						}
						reqs = append(reqs, r)
					}
					body, _ := json.Marshal(map[string]any{"requests": reqs})
					benchPost(b, srv.Client(), srv.URL+"/v1.0/$batch", body)
				}
			})
		}
		wg.Wait()
		wall += time.Since(start)
		srv.Close()
	}
	bound := time.Duration(n/per) * latency / inFlight
	b.ReportMetric(float64(wall)/float64(b.N)/float64(bound), "x-bound")
}
