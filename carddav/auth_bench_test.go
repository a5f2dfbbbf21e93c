package carddav_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/carddav"
	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/sqlite"
)

// authServer is the CardDAV handler over a real SQLite CRM with one user,
// alice (password alice-pw), hashed at the production bcrypt cost so that
// the benchmarks show what a Basic-auth check really costs.
func authServer(b *testing.B) string {
	b.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "crm.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	svc := service.New(db, service.Options{})
	if _, err := svc.AddUser(crm.System(ctx), "alice", "alice-pw", false); err != nil {
		b.Fatal(err)
	}
	h := carddav.NewHandler(svc, carddav.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	mux := http.NewServeMux()
	h.Mount(mux)
	hs := httptest.NewServer(mux)
	b.Cleanup(hs.Close)
	return hs.URL
}

// benchBasic sends OPTIONS /dav/ with Basic credentials once per
// iteration and reports the share of answers with each status.
func benchBasic(b *testing.B, password string) {
	url := authServer(b)
	codes := map[int]int{}
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodOptions, url+"/dav/", nil)
		req.SetBasicAuth("alice", password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	for code, n := range codes {
		b.ReportMetric(float64(n)/float64(b.N), http.StatusText(code)+"/op")
	}
}

// BenchmarkBasicAuthRight is a CardDAV client that sends its (right)
// password with every request, as they all do.
func BenchmarkBasicAuthRight(b *testing.B) { benchBasic(b, "alice-pw") }

// BenchmarkBasicAuthWrong is a password guesser on one address.
func BenchmarkBasicAuthWrong(b *testing.B) { benchBasic(b, "guess") }
