package ewayapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// BenchmarkAPIGetContactsByItemGuids measures the whole API path over
// real loopback HTTP: LogIn once, then GetContactsByItemGuids for 10 of
// 1,000 contacts per request, from 4×GOMAXPROCS concurrent clients. It
// reports requests/s.
func BenchmarkAPIGetContactsByItemGuids(b *testing.B) {
	f := newFixture(b, fixtureOptions{})
	s := f.login("alice")
	var objs []any
	for i := range 1000 {
		objs = append(objs, map[string]any{"FirstName": fmt.Sprintf("First%d", i), "LastName": fmt.Sprintf("Last%d", i),
			"Email1Address": fmt.Sprintf("c%d@example.com", i), "TelephoneNumber3": "+420 600 000 000",
			"BusinessAddressCity": "Praha"})
	}
	saved := f.ok(s, "SaveContacts", map[string]any{"transmitObjects": objs}).data()
	var all []string
	for _, r := range saved {
		all = append(all, r.(map[string]any)["Guid"].(string))
	}
	bodies := make([][]byte, 100)
	for i := range bodies {
		body, _ := json.Marshal(map[string]any{"sessionId": s, "itemGuids": all[i*10 : i*10+10]})
		bodies[i] = body
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := f.url + "/API.svc/GetContactsByItemGuids"

	b.SetParallelism(4) // 4×GOMAXPROCS clients, so the server never waits for one
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			resp, err := client.Post(url, "application/json", bytes.NewReader(bodies[i%len(bodies)]))
			if err != nil {
				b.Error(err)
				return
			}
			var r struct {
				ReturnCode string
				Data       []json.RawMessage
			}
			err = json.NewDecoder(resp.Body).Decode(&r)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || r.ReturnCode != "rcSuccess" || len(r.Data) != 10 {
				b.Errorf("reply %v, %v", r.ReturnCode, err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "requests/s")
}

// BenchmarkGetContactsWithRelations lists 3,000 contacts of 300 companies,
// each contact with one journal, with and without includeRelations (each
// contact then looks up its company and its journals), over loopback HTTP.
// It reports ms per listing.
func BenchmarkGetContactsWithRelations(b *testing.B) {
	f := newFixture(b, fixtureOptions{})
	s := f.login("alice")
	var companies []any
	for i := range 300 {
		companies = append(companies, map[string]any{"CompanyName": fmt.Sprintf("Company %d", i)})
	}
	var cos []string
	for _, r := range f.ok(s, "SaveCompanies", map[string]any{"transmitObjects": companies}).data() {
		cos = append(cos, r.(map[string]any)["Guid"].(string))
	}
	for batch := range 6 {
		var contacts []any
		for i := range 500 {
			n := batch*500 + i
			contacts = append(contacts, map[string]any{"LastName": fmt.Sprintf("Last%d", n), "Companies_CompanyGuid": cos[n%len(cos)]})
		}
		var journals []any
		for _, r := range f.ok(s, "SaveContacts", map[string]any{"transmitObjects": contacts}).data() {
			journals = append(journals, map[string]any{"FileAs": "Call", "Contacts_ContactGuid": r.(map[string]any)["Guid"]})
		}
		f.ok(s, "SaveJournals", map[string]any{"transmitObjects": journals})
	}
	for _, rel := range []bool{false, true} {
		b.Run(fmt.Sprintf("includeRelations=%v", rel), func(b *testing.B) {
			start := time.Now()
			for range b.N {
				r := f.ok(s, "GetContacts", map[string]any{"includeRelations": rel})
				if len(r.data()) != 3000 {
					b.Fatalf("%d contacts", len(r.data()))
				}
			}
			b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/listing")
		})
	}
}
