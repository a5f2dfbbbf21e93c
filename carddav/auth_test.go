package carddav_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/carddav"
	"github.com/crmsync/crmsync/ewayapi"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/sqlite"
	"golang.org/x/crypto/bcrypt"
)

// bothWays serves CardDAV and the eWay API over one CRM, as `crmsync
// serve` does, with alice (password alice-pw) hashed at cost (benchmarks
// use the production cost, to show what a Basic-auth check costs).
func bothWays(t testing.TB, cost int) (crm.CRM, string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "crm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := service.New(db, service.Options{PasswordCost: cost, Logger: quiet})
	if _, err := svc.AddUser(crm.System(ctx), "alice", "alice-pw", false); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	carddav.NewHandler(svc, carddav.Options{Logger: quiet}).Mount(mux)
	ewayapi.NewServer(svc, ewayapi.Options{Logger: quiet}).Handle(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return svc, hs.URL
}

// basic sends OPTIONS /dav/ with Basic credentials and returns the status
// and body.
func basic(t *testing.T, c *http.Client, url, user, password string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, url+"/dav/", nil)
	req.SetBasicAuth(user, password)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestBasicAuthLockout: Basic auth had no lockout at all (a bcrypt per
// guess, for ever). Now it is the limiter of every way in: ten guesses
// over CardDAV throttle the address for CardDAV and for the API's LogIn
// alike, with the right password too, while other addresses still sign in.
func TestBasicAuthLockout(t *testing.T) {
	_, url := bothWays(t, bcrypt.MinCost)
	guesser := testenv.ClientFrom(t, 2)
	for i := range 10 {
		if code, body := basic(t, guesser, url, "alice", "guess"); code != 401 || !strings.Contains(body, "wrong user name or password") {
			t.Fatalf("guess %d: %d %q", i, code, body)
		}
	}
	if code, body := basic(t, guesser, url, "alice", "alice-pw"); code != 401 || !strings.Contains(body, "too many failed sign-ins from this address") {
		t.Errorf("right password from the guessing address: %d %q", code, body)
	}
	login, _ := json.Marshal(map[string]string{"userName": "alice", "passwordHash": crm.PasswordMD5("alice-pw")})
	resp, err := guesser.Post(url+"/API.svc/LogIn", "application/json", bytes.NewReader(login))
	if err != nil {
		t.Fatal(err)
	}
	var r struct{ ReturnCode, Description string }
	json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if r.ReturnCode != "rcLoginFailed" || !strings.Contains(r.Description, "too many failed sign-ins") {
		t.Errorf("API LogIn from the address CardDAV throttled: %s %q", r.ReturnCode, r.Description)
	}
	if code, body := basic(t, testenv.ClientFrom(t, 3), url, "alice", "alice-pw"); code != 200 {
		t.Errorf("right password from another address: %d %q", code, body)
	}
}

// TestBasicAuthPasswordChange: the verified password a CardDAV client
// sends with every request is cached, and a password change ends that at
// once, not when the cache entry expires.
func TestBasicAuthPasswordChange(t *testing.T) {
	svc, url := bothWays(t, bcrypt.MinCost)
	c := testenv.ClientFrom(t, 2)
	for range 3 {
		if code, _ := basic(t, c, url, "alice", "alice-pw"); code != 200 {
			t.Fatalf("before the change: %d", code)
		}
	}
	must(t, svc.SetPassword(crm.System(context.Background()), "alice", "new-pw"))
	if code, _ := basic(t, c, url, "alice", "alice-pw"); code != 401 {
		t.Errorf("old password right after the change: %d", code)
	}
	if code, _ := basic(t, c, url, "alice", "new-pw"); code != 200 {
		t.Errorf("new password: %d", code)
	}
}
