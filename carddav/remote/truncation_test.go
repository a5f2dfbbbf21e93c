package remote

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSyncCollectionTruncated follows RFC 6578 §3.6: a server may stop
// early, marking the collection itself 507 and giving a token to continue
// from. No peer here truncates, so the answers are canned from the RFC's
// example (the transport boundary is the only fake).
func TestSyncCollectionTruncated(t *testing.T) {
	answers := map[string]string{
		"<d:sync-token></d:sync-token>": `<?xml version="1.0" encoding="utf-8" ?>
<D:multistatus xmlns:D="DAV:">
  <D:response><D:href>/book/a.vcf</D:href><D:propstat><D:prop><D:getetag>"1"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
  <D:response><D:href>/book/b.vcf</D:href><D:propstat><D:prop><D:getetag>"2"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
  <D:response><D:href>/book/</D:href><D:status>HTTP/1.1 507 Insufficient Storage</D:status><D:error><D:number-of-matches-within-limits/></D:error></D:response>
  <D:sync-token>t1</D:sync-token>
</D:multistatus>`,
		"<d:sync-token>t1</d:sync-token>": `<?xml version="1.0" encoding="utf-8" ?>
<D:multistatus xmlns:D="DAV:">
  <D:response><D:href>/book/c%20d.vcf</D:href><D:propstat><D:prop><D:getetag>"3"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
  <D:response><D:href>/book/b.vcf</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>
  <D:response><D:href>/book/a.vcf</D:href><D:propstat><D:prop><D:getetag>"4"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
  <D:sync-token>t2</D:sync-token>
</D:multistatus>`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		for k, v := range answers {
			if r.Method == "REPORT" && strings.Contains(string(body), k) {
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusMultiStatus)
				io.WriteString(w, v)
				return
			}
		}
		http.Error(w, "unexpected request", http.StatusBadRequest)
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	c := &Client{dav: &dav{http: srv.Client(), base: u}, book: "/book/", syncable: true,
		concurrency: 1, batch: 10, log: slog.New(slog.DiscardHandler)}
	members, deleted, token, err := c.syncCollection(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]member{{path: "/book/a.vcf", etag: `"4"`}, {path: "/book/c d.vcf", etag: `"3"`}}, members, cmp.AllowUnexported(member{})); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/book/b.vcf"}, deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	if token != "t2" {
		t.Errorf("token %q, want t2", token)
	}
}
