package ewayapi_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/service"
)

// from is the fixture as seen from the loopback address 127.0.0.n: the
// server sees each n as another client.
func (f *fixture) from(n int) *fixture {
	g := *f
	g.client = testenv.ClientFrom(f.tb, n)
	return &g
}

func (f *fixture) logIn(name, password string) reply {
	f.tb.Helper()
	return f.post("LogIn", map[string]any{"userName": name, "passwordHash": crmsync.PasswordMD5(password)})
}

// signInOutcome classifies a LogIn answer: "ok", "wrong" (the password was
// checked) or "throttled" (refused without checking it).
func signInOutcome(tb testing.TB, r reply) string {
	tb.Helper()
	switch {
	case r.code() == "rcSuccess":
		return "ok"
	case r.code() == "rcLoginFailed" && strings.Contains(r.desc(), "wrong user name or password"):
		return "wrong"
	case r.code() == "rcLoginFailed" && strings.Contains(r.desc(), "too many failed sign-ins"):
		return "throttled"
	}
	tb.Fatalf("LogIn answered %s %q", r.code(), r.desc())
	return ""
}

var tightLimits = fixtureOptions{svc: service.Options{MaxFailuresPerAddress: 3, MaxFailuresPerUser: 6}, svcClock: true}

// TestLockoutKeysOnTheUser is the bypass of issue 13: the count was kept
// per name as sent while the lookup trimmed it, so " alice" and "alice\t"
// each got fresh guesses and a locked name signed in with a space.
func TestLockoutKeysOnTheUser(t *testing.T) {
	f := newFixture(t, tightLimits)
	spellings := []string{"alice", " alice", "alice\t", "ALICE", "Alice ", "\talice "}
	for i, s := range spellings {
		attacker := f.from(2 + i/3) // three guesses per address: its limit
		if got := signInOutcome(t, attacker.logIn(s, "guess")); got != "wrong" {
			t.Fatalf("guess %d (%q): %s", i, s, got)
		}
	}
	newcomer := f.from(9)
	for _, s := range spellings {
		r := newcomer.logIn(s, "alice-pw")
		if got := signInOutcome(t, r); got != "throttled" || !strings.Contains(r.desc(), "for this user") {
			t.Errorf("the right password as %q from a new address after 6 failures: %s %q", s, got, r.desc())
		}
	}
	if got := signInOutcome(t, newcomer.logIn("bob", "bob-pw")); got != "ok" {
		t.Errorf("bob from the same address: %s", got)
	}
	f.clock.Advance(15 * time.Minute)
	if got := signInOutcome(t, newcomer.logIn(" alice", "alice-pw")); got != "ok" {
		t.Errorf("after the window: %s", got)
	}
}

// TestUnicodeNamesSignIn: a name typed decomposed (as macOS keyboards
// send it) is the same user, and the same lockout, as the precomposed one.
func TestUnicodeNamesSignIn(t *testing.T) {
	f := newFixture(t, tightLimits)
	if _, err := f.crm.AddUser(crmsync.System(context.Background()), "Nova\u0301k", "novak-pw", false); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Nov\u00e1k", "Nova\u0301k", " nov\u00e1k"} {
		if got := signInOutcome(t, f.from(2).logIn(name, "novak-pw")); got != "ok" {
			t.Errorf("%q: %s", name, got)
		}
	}
	for i := range 6 {
		name := []string{"Nov\u00e1k", "Nova\u0301k"}[i%2]
		signInOutcome(t, f.from(3+i/3).logIn(name, "guess"))
	}
	if got := signInOutcome(t, f.from(9).logIn("Nov\u00e1k", "novak-pw")); got != "throttled" {
		t.Errorf("after 6 failures split over both forms: %s", got)
	}
}

// TestLockoutSparesKnownClients is the denial of service of issue 13:
// anybody's failures locked the real user (and the administrator) out.
// Now a guesser's address is throttled first, and a client that signed in
// before keeps signing in with the right password while guessers on many
// addresses hold the user's lock.
func TestLockoutSparesKnownClients(t *testing.T) {
	f := newFixture(t, tightLimits)
	if _, err := f.crm.AddUser(crmsync.System(context.Background()), "admin", "admin-pw", true); err != nil {
		t.Fatal(err)
	}
	phone, laptop := f.from(2), f.from(3)
	for _, c := range []struct {
		f    *fixture
		user string
	}{{phone, "alice"}, {laptop, "admin"}} {
		if got := signInOutcome(t, c.f.logIn(c.user, c.user+"-pw")); got != "ok" {
			t.Fatalf("%s before the attack: %s", c.user, got)
		}
	}

	// One guesser: its address is stopped before the user is locked.
	lone := f.from(4)
	for range 5 {
		signInOutcome(t, lone.logIn("alice", "guess"))
	}
	if got := signInOutcome(t, lone.logIn("alice", "alice-pw")); got != "throttled" {
		t.Errorf("the guesser's address with the right password: %s", got)
	}
	if got := signInOutcome(t, f.from(5).logIn("alice", "alice-pw")); got != "ok" {
		t.Errorf("a new address after one guesser: %s", got)
	}

	// Guessers on 20 addresses, 5 tries each at both users.
	counts := map[string]int{}
	for a := range 20 {
		g := f.from(20 + a)
		for range 5 {
			for _, u := range []string{"alice", "admin"} {
				counts[signInOutcome(t, g.logIn(u, "guess"))]++
			}
		}
	}
	t.Logf("200 guesses from 20 addresses: %d checked, %d throttled without checking", counts["wrong"], counts["throttled"])
	if counts["ok"] != 0 || counts["wrong"] > 20*3 {
		t.Errorf("outcomes %v: more than 3 checked guesses per address", counts)
	}
	for _, c := range []struct {
		f    *fixture
		user string
	}{{phone, "alice"}, {laptop, "admin"}} {
		r := c.f.logIn(c.user, c.user+"-pw")
		if got := signInOutcome(t, r); got != "ok" {
			t.Errorf("%s from its known client during the attack: %s %q", c.user, got, r.desc())
		}
	}
	if got := signInOutcome(t, f.from(60).logIn("admin", "admin-pw")); got != "throttled" {
		t.Errorf("admin from a new address during the attack: %s", got)
	}
}

// TestParallelGuessesStopAtTheLimit: guesses sent at once cannot all pass
// the check before the first failure is counted.
func TestParallelGuessesStopAtTheLimit(t *testing.T) {
	f := newFixture(t, fixtureOptions{svc: service.Options{MaxFailuresPerAddress: 5, MaxFailuresPerUser: 1000}})
	g := f.from(2)
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			got := signInOutcome(t, g.logIn("alice", "guess"))
			mu.Lock()
			counts[got]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts["wrong"] != 5 || counts["throttled"] != 35 {
		t.Errorf("40 parallel guesses: %v, want 5 checked and 35 throttled", counts)
	}
}

// TestPasswordChangeEndsSessions: a session opened with the old password
// answers rcBadSession from the next call on, and is dropped.
func TestPasswordChangeEndsSessions(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	old := f.login("alice")
	bobs := f.login("bob")
	f.ok(old, "GetContacts", nil)
	must(t, f.crm.SetPassword(crmsync.System(context.Background()), "alice", "new-pw"))
	f.want("rcBadSession", old, "GetContacts", nil)
	f.want("rcBadSession", old, "GetContacts", nil) // and stays ended
	f.ok(bobs, "GetContacts", nil)
	if got := signInOutcome(t, f.logIn("alice", "alice-pw")); got != "wrong" {
		t.Errorf("old password: %s", got)
	}
	s := f.post("LogIn", map[string]any{"userName": "alice", "passwordHash": crmsync.PasswordMD5("new-pw")})
	f.ok(s["SessionId"].(string), "GetContacts", nil)
}

// TestCrossSiteCallsRefused: what a web page can make a browser send
// without a preflight (text/plain, form bodies, another Origin) is refused
// and changes nothing.
func TestCrossSiteCallsRefused(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	s := f.login("alice")
	save := fmt.Sprintf(`{"sessionId":%q,"transmitObject":{"LastName":"Planted"}}`, s)
	before := f.lastChange()
	host := strings.TrimPrefix(f.url, "http://")
	for _, c := range []struct {
		name   string
		header []string
		status int
	}{
		{"text/plain", []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType},
		{"text/plain with charset", []string{"Content-Type", "Text/Plain; charset=utf-8"}, http.StatusUnsupportedMediaType},
		{"form", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"multipart", []string{"Content-Type", "multipart/form-data; boundary=x"}, http.StatusUnsupportedMediaType},
		{"other origin", []string{"Content-Type", "application/json", "Origin", "https://evil.example"}, http.StatusForbidden},
		{"null origin", []string{"Content-Type", "application/json", "Origin", "null"}, http.StatusForbidden},
		{"fetch metadata", []string{"Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"same origin", []string{"Content-Type", "application/json", "Origin", "http://" + host}, http.StatusOK},
		{"no content type", nil, http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodPost, f.url+"/API.svc/SaveContact", strings.NewReader(save))
		for i := 0; i+1 < len(c.header); i += 2 {
			req.Header.Set(c.header[i], c.header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: HTTP %d, want %d", c.name, resp.StatusCode, c.status)
		}
		if c.status != http.StatusOK && f.lastChange() != before {
			t.Errorf("%s: the refused call wrote", c.name)
		}
	}
}

// TestFailedSignInsLogged: each failure and refusal is logged with the
// name and the client's address, never the password or its hash.
func TestFailedSignInsLogged(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	o := tightLimits
	o.svc.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	f := newFixture(t, o)
	g := f.from(7)
	for range 4 {
		g.logIn("alice", "Secret-Guess")
	}
	mu.Lock()
	logs := buf.String()
	mu.Unlock()
	if n := strings.Count(logs, `msg="sign-in failed" user=alice addr=127.0.0.7`); n != 3 {
		t.Errorf("%d failures logged with user and address, want 3:\n%s", n, logs)
	}
	if !strings.Contains(logs, `msg="sign-in refused" user=alice addr=127.0.0.7`) {
		t.Errorf("the throttled attempt is not logged:\n%s", logs)
	}
	if strings.Contains(logs, "Secret-Guess") || strings.Contains(logs, crmsync.PasswordMD5("Secret-Guess")) {
		t.Errorf("the password reached the log:\n%s", logs)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
