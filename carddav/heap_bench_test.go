package carddav_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/internal/crmtest"
)

// discard sends one request as user and counts the answer's bytes without
// keeping them, so that the client's copy does not count as the server's.
func (f *fixture) discard(method, path, user, body string, header ...string) (int, int64) {
	f.tb.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	must(f.tb, err)
	req.SetBasicAuth(user, user+"-pw")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	must(f.tb, err)
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	must(f.tb, err)
	return resp.StatusCode, n
}

// BenchmarkBookPeakHeap lists a book of 100,000 contacts (one in ten with
// a stored client card) whole, as a phone's first sync does: the peak of
// the live heap during one answer (server and the test's client in one
// process; the client discards the body) and the answer's size.
func BenchmarkBookPeakHeap(b *testing.B) {
	const n = 100_000
	f := newFixture(b)
	const batch = 5000
	for start := 0; start < n; start += batch {
		patches := make([]crm.Patch, batch)
		for i := range patches {
			k := start + i
			patches[i] = crm.Patch{Set: map[string]string{crm.FieldFirstName: "Jan", crm.FieldLastName: fmt.Sprintf("Novák %d", k),
				crm.FieldCompany: fmt.Sprintf("Company %d s.r.o.", k%300), crm.FieldEmail1: fmt.Sprintf("c%d@example.com", k),
				crm.FieldPhoneMobile: "+420 777 000 111", "BusinessAddressStreet": "Na Příkopě 1", "BusinessAddressCity": "Praha",
				"BusinessAddressPostalCode": "110 00", crm.FieldNote: strings.Repeat("Met at the trade fair in Brno. ", 8)}}
		}
		res, err := f.crm.Save(f.ctx, crm.Contacts, patches, crm.SaveOptions{})
		must(b, err)
		for i, r := range res {
			must(b, r.Err)
			if (start+i)%10 == 0 {
				card := fmt.Sprintf("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:%s\r\nN:x;;;;\r\nFN:x\r\nBDAY:1980-01-02\r\nCATEGORIES:friends,work\r\nEND:VCARD\r\n", r.GUID)
				must(b, f.store.PutCard(context.Background(), r.GUID, []byte(card)))
			}
		}
	}
	book := "/dav/addressbooks/alice/contacts/"
	for _, c := range []struct{ name, method, body string }{
		{"propfind-etags", "PROPFIND", propfindEtags},
		{"query-address-data", "REPORT", `<c:addressbook-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><c:address-data/></d:prop></c:addressbook-query>`},
		{"sync-collection-address-data", "REPORT", `<d:sync-collection xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/><c:address-data/></d:prop></d:sync-collection>`},
	} {
		b.Run(c.name, func(b *testing.B) {
			var peak uint64
			var size int64
			for b.Loop() {
				stop := crmtest.HeapPeak()
				code, m := f.discard(c.method, book, "alice", c.body, "Depth", "1")
				peak = max(peak, stop())
				if code != http.StatusMultiStatus {
					b.Fatalf("status %d", code)
				}
				size = m
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(size)/(1<<20), "answer-MB")
		})
	}
}
