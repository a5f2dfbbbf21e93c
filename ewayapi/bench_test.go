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
