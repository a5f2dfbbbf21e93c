package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/internal/testenv"
)

// TestServeThrottlesPerAddress: `crmsync serve` hands every handler the
// client's address, so guesses over CardDAV and the API from one address
// stop that address on both, while another address signs in.
func TestServeThrottlesPerAddress(t *testing.T) {
	db := filepath.Join(t.TempDir(), "crm.db")
	mustRun(t, "user", "add", "alice", "--password", "pw", "--db", db)
	base, _ := startServe(t, "--db", db)
	logIn := func(c *http.Client, password string) envelope {
		t.Helper()
		e, err := callAPIFrom(c, base, "LogIn", map[string]any{"userName": "alice", "passwordHash": crmsync.PasswordMD5(password)})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	guesser := testenv.ClientFrom(t, 2)
	for i := range 10 {
		if i%2 == 0 {
			req, _ := http.NewRequest("PROPFIND", base+"/dav/", nil)
			req.SetBasicAuth("alice", "guess")
			resp, err := guesser.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("CardDAV guess: %d", resp.StatusCode)
			}
		} else if e := logIn(guesser, "guess"); e.ReturnCode != "rcLoginFailed" || !strings.Contains(e.Description, "wrong") {
			t.Fatalf("API guess: %s %s", e.ReturnCode, e.Description)
		}
	}
	if e := logIn(guesser, "pw"); e.ReturnCode != "rcLoginFailed" || !strings.Contains(e.Description, "too many failed sign-ins from this address") {
		t.Errorf("the right password from the guessing address: %s %s", e.ReturnCode, e.Description)
	}
	if e := logIn(testenv.ClientFrom(t, 3), "pw"); e.ReturnCode != "rcSuccess" {
		t.Errorf("another address: %s %s", e.ReturnCode, e.Description)
	}
}
