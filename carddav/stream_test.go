package carddav_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/carddav"
)

// failingStore fails Cards from its failAt-th call on.
type failingStore struct {
	carddav.Store
	failAt int64
	n      atomic.Int64
}

func (s *failingStore) Cards(ctx context.Context, guids []string) (map[string][]byte, error) {
	if s.n.Add(1) >= s.failAt {
		return nil, errors.New("disk on fire")
	}
	return s.Store.Cards(ctx, guids)
}

func (f *fixture) fill(n int) {
	f.tb.Helper()
	patches := make([]crm.Patch, n)
	for i := range patches {
		patches[i] = crm.Patch{Set: map[string]string{crm.FieldLastName: fmt.Sprintf("Contact %d", i), crm.FieldNote: strings.Repeat("n", 300)}}
	}
	res, err := f.crm.Save(f.ctx, crm.Contacts, patches, crm.SaveOptions{})
	must(f.tb, err)
	for _, r := range res {
		must(f.tb, r.Err)
	}
}

const queryCards = `<c:addressbook-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><c:address-data/></d:prop></c:addressbook-query>`

// TestLargeAnswersStream: a book of several batches comes whole, each
// contact once, by every way of listing it. (That it is sent as it is made
// rather than built first shows in BenchmarkBookPeakHeap.)
func TestLargeAnswersStream(t *testing.T) {
	f := newFixture(t)
	const n = 1700
	f.fill(n)
	req, err := http.NewRequest("REPORT", f.url+aliceBook, strings.NewReader(queryCards))
	must(t, err)
	req.SetBasicAuth("alice", "alice-pw")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	must(t, err)
	if resp.ContentLength != -1 || len(resp.TransferEncoding) == 0 {
		t.Errorf("a %d-byte answer was sent with Content-Length %d, not streamed", len(body), resp.ContentLength)
	}
	m := parseMS(t, reply{code: resp.StatusCode, body: string(body)})
	cards := 0
	for _, r := range m.Responses {
		if data, ok := r.prop("address-data"); ok && strings.Contains(data, "Contact ") {
			cards++
		}
	}
	if cards != n {
		t.Errorf("%d cards in the answer, want %d", cards, n)
	}
	// Each way of listing gives every contact once.
	for _, c := range []struct{ method, body string }{
		{"PROPFIND", propfindEtags},
		{"REPORT", `<d:sync-collection xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:sync-token/><d:prop><d:getetag/><c:address-data/></d:prop></d:sync-collection>`},
	} {
		m := parseMS(t, f.do(c.method, aliceBook, "alice", c.body, "Depth", "1"))
		hrefs := map[string]bool{}
		for _, r := range m.Responses {
			hrefs[r.Href] = true
		}
		if want := n + map[string]int{"PROPFIND": 1, "REPORT": 0}[c.method]; len(hrefs) != want || len(m.Responses) != want {
			t.Errorf("%s: %d responses, %d hrefs, want %d", c.method, len(m.Responses), len(hrefs), want)
		}
	}
}

// TestFailureMidAnswer: when reading fails after part of a listing is
// out, the connection breaks, so the client never takes the part for the
// whole book; before anything is out, the failure is a plain 500.
func TestFailureMidAnswer(t *testing.T) {
	f := newFixture(t)
	f.fill(1700)
	serve := func(failAt int64) string {
		h := carddav.NewHandler(f.crm, carddav.Options{Store: &failingStore{Store: f.store, failAt: failAt},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		mux := http.NewServeMux()
		h.Mount(mux)
		hs := httptest.NewServer(mux)
		t.Cleanup(hs.Close)
		return hs.URL
	}
	ask := func(url string) (int, string, error) {
		req, err := http.NewRequest("REPORT", url+aliceBook, strings.NewReader(queryCards))
		must(t, err)
		req.SetBasicAuth("alice", "alice-pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	code, body, err := ask(serve(3))
	if err == nil && strings.HasSuffix(strings.TrimSpace(body), "</d:multistatus>") {
		t.Errorf("a listing cut by a failure ended like a whole one (%d, %d bytes)", code, len(body))
	}
	if code, body, err := ask(serve(1)); err != nil || code != http.StatusInternalServerError {
		t.Errorf("failure before the answer: %d %v %.100s", code, err, body)
	}
}
