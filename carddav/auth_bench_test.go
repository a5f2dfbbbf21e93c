package carddav_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/internal/testenv"
	"golang.org/x/crypto/bcrypt"
)

// benchBasic sends OPTIONS /dav/ with Basic credentials once per
// iteration and reports the share of answers with each status.
func benchBasic(b *testing.B, password string) {
	_, url := bothWays(b, bcrypt.DefaultCost)
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
	_, url := bothWays(b, bcrypt.DefaultCost)
	session := apiCall(b, http.DefaultClient, url, "LogIn", map[string]any{"userName": "alice", "passwordHash": crm.PasswordMD5("alice-pw")})["SessionId"]
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
