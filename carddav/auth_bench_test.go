package carddav_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/carddav"
	"github.com/crmsync/crmsync/ewayapi"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/sqlite"
)

// authServer is the CardDAV handler and the eWay API over a real SQLite CRM with one user,
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
	svc := service.New(db, service.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if _, err := svc.AddUser(crm.System(ctx), "alice", "alice-pw", false); err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	mux := http.NewServeMux()
	carddav.NewHandler(svc, carddav.Options{Logger: quiet}).Mount(mux)
	ewayapi.NewServer(svc, ewayapi.Options{Logger: quiet}).Handle(mux)
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

// BenchmarkAPIUnderBasicAuthGuessing is one API call (in a session) while
// 16 CardDAV clients on 16 addresses send wrong passwords as fast as they
// are answered; BenchmarkAPIQuiet is the same call without them.
func BenchmarkAPIUnderBasicAuthGuessing(b *testing.B) { benchAPI(b, 16) }
func BenchmarkAPIQuiet(b *testing.B)                  { benchAPI(b, 0) }

func benchAPI(b *testing.B, guessers int) {
	url := authServer(b)
	sum := md5.Sum([]byte("alice-pw"))
	session := apiCall(b, http.DefaultClient, url, "LogIn", map[string]any{"userName": "alice", "passwordHash": hex.EncodeToString(sum[:])})["SessionId"]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var tried atomic.Int64
	for g := range guessers {
		c := testenv.ClientFrom(b, 10+g)
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("PROPFIND", url+"/dav/", nil)
				req.SetBasicAuth("alice", "guess")
				if resp, err := c.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					tried.Add(1)
				}
			}
		})
	}
	b.ResetTimer()
	for b.Loop() {
		if r := apiCall(b, http.DefaultClient, url, "GetMyModulePermissions", map[string]any{"sessionId": session}); r["ReturnCode"] != "rcSuccess" {
			b.Fatal(r)
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(tried.Load())/b.Elapsed().Seconds(), "guesses/s")
}

func apiCall(b *testing.B, c *http.Client, url, method string, params map[string]any) map[string]any {
	body, _ := json.Marshal(params)
	resp, err := c.Post(url+"/API.svc/"+method, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var r map[string]any
	json.NewDecoder(resp.Body).Decode(&r)
	return r
}
