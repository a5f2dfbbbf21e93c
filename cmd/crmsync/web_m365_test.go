package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/graph"
	"github.com/crmsync/crmsync/graph/sandbox"
)

// m365World is a syncWorld whose tab signs in to Microsoft 365 at a
// loopback stand-in of the identity platform (sandbox.Identity), with the
// sandbox mailbox as the Graph root of the signed-in mailbox; logs holds
// everything the server logged.
type m365World struct {
	*syncWorld
	id   *sandbox.Identity
	logs *syncBuffer
}

func newM365World(t *testing.T, codeLife time.Duration) *m365World {
	id := &sandbox.Identity{ClientID: "app-123", ExpiresIn: codeLife, Interval: 1}
	idp := httptest.NewServer(id)
	t.Cleanup(idp.Close)
	logs := &syncBuffer{}
	w := newSyncWorldWith(t, 0, func(w *syncWorld, ws *webSync) {
		ep := id.Endpoint(idp.URL, "tenant-x")
		ws.m365 = graph.AuthConfig{Tenant: "tenant-x", ClientID: "app-123", Endpoint: &ep, HTTPClient: idp.Client()}
		ws.graphURL = w.mailbox
		w.d.env.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	w.grantExport(t)
	return &m365World{syncWorld: w, id: id, logs: logs}
}

var m365Code = regexp.MustCompile(`<strong class="code"[^>]*>([A-Z0-9-]+)</strong>`)

// start presses "Sign in with Microsoft 365" and reads the code shown.
func (w *m365World) start(t *testing.T, c *webClient) (code, page string) {
	t.Helper()
	if st, body := c.post("/mycontacts", "/mycontacts/m365", url.Values{}); st != http.StatusSeeOther {
		t.Fatalf("starting the sign-in: %d\n%s", st, body)
	}
	page = c.get("/mycontacts/m365")
	m := m365Code.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no code on the sign-in page:\n%s", page)
	}
	return m[1], page
}

// waitState polls the page script's status until it leaves pending.
func waitState(t *testing.T, c *webClient) string {
	t.Helper()
	for i := 0; i < 300; i++ {
		var s struct{ State string }
		if err := json.Unmarshal([]byte(c.get("/mycontacts/m365/status")), &s); err != nil {
			t.Fatal(err)
		}
		if s.State != "pending" {
			return s.State
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the sign-in stayed pending")
	return ""
}

// nothingStored checks that a sign-in left no token and no partnership.
func (w *m365World) nothingStored(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(secretsDir(w.d.loc), "alice.json")); !os.IsNotExist(err) {
		t.Errorf("a token was stored: %v", err)
	}
	if _, err := w.d.state.Partnership(crmsync.System(t.Context()), w.alice.GUID, "outlook"); crmsync.ErrorCode(err) != crmsync.ENOTFOUND {
		t.Errorf("a partnership was saved: %v", err)
	}
}

func TestWebMicrosoft365SignIn(t *testing.T) {
	w := newM365World(t, 0)
	c := newWebClient(t, w.ui)
	c.signIn("alice", "alice-pw")
	if tab := c.get("/mycontacts"); !strings.Contains(tab, "Sign in with Microsoft 365") || strings.Contains(tab, "not set up") {
		t.Fatalf("the tab offers no Microsoft 365 sign-in:\n%s", tab)
	}
	// A forged POST without the CSRF token starts nothing.
	req, _ := http.NewRequest("POST", w.ui+"/mycontacts/m365", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if st, _, _ := c.do(req); st != http.StatusForbidden {
		t.Errorf("a POST without the CSRF token: %d, want 403", st)
	}
	if loc := c.redirect("/mycontacts/m365"); loc != "/mycontacts" {
		t.Errorf("a sign-in started without the CSRF token (page redirects to %q)", loc)
	}

	code, page := w.start(t, c)
	for _, want := range []string{`href="https://microsoft.com/devicelogin" target="_blank" rel="noopener noreferrer"`,
		"The code expires in 15 minutes.", "I have signed in", `data-signin="/mycontacts/m365/status"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the sign-in page lacks %q:\n%s", want, page)
		}
	}
	// Pending: "I have signed in" before signing in shows the code again.
	if again := c.get("/mycontacts/m365"); !strings.Contains(again, code) {
		t.Errorf("re-checking before signing in:\n%s", again)
	}
	if n := w.id.Polls(code); n == 0 {
		time.Sleep(1500 * time.Millisecond) // the first poll comes after one interval
	}
	if st := c.get("/mycontacts/m365/status"); !strings.Contains(st, `"pending"`) || w.id.Polls(code) == 0 {
		t.Errorf("status before signing in: %s, %d polls", st, w.id.Polls(code))
	}
	w.nothingStored(t)

	w.id.Approve(code)
	if st := waitState(t, c); st != "done" {
		t.Fatalf("after signing in: %s", st)
	}
	if loc := c.redirect("/mycontacts/m365"); loc != "/mycontacts#outlook" {
		t.Errorf("the page does not go on to the prerequisites: %q", loc)
	}

	// The token is stored as the CLI stores it, owner-only.
	p := filepath.Join(secretsDir(w.d.loc), "alice.json")
	info, err := os.Stat(p)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", info, err)
	}
	if dir, _ := os.Stat(secretsDir(w.d.loc)); dir.Mode().Perm() != 0o700 {
		t.Errorf("secrets directory mode %v", dir.Mode().Perm())
	}
	tok, err := graph.NewTokenStore(secretsDir(w.d.loc)).Load("alice")
	access := w.id.AccessToken(code)
	if err != nil || access == "" || tok.AccessToken != access || tok.RefreshToken == "" {
		t.Fatalf("stored token %v, %v", tok, err)
	}
	// The partnership reaches the mailbox with that token, its Contacts
	// folder found, as outlook connect saves it.
	part, err := w.d.state.Partnership(crmsync.System(t.Context()), w.alice.GUID, "outlook")
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := parseRemote(part.Remote)
	if rc.Sandbox != "" || rc.GraphURL != w.mailbox || rc.ClientID != "app-123" || rc.Tenant != "tenant-x" || rc.FolderID != w.mb.DefaultFolder() || part.State != "off" {
		t.Errorf("partnership %+v, remote %+v", part, rc)
	}
	if strings.Contains(part.Remote, access) || strings.Contains(part.Remote, tok.RefreshToken) {
		t.Error("the partnership holds the token")
	}
	tab := c.get("/mycontacts")
	if !strings.Contains(tab, "Signed in to Microsoft 365 and connected to the mailbox.") || !strings.Contains(tab, `<li class="ok">The mailbox or address book answers`) ||
		!strings.Contains(tab, "Microsoft 365") {
		t.Errorf("the tab after signing in:\n%s", tab)
	}
	if logs := w.logs.String(); strings.Contains(logs, access) || strings.Contains(logs, tok.RefreshToken) {
		t.Errorf("a token was logged:\n%s", logs)
	}
}

func TestWebMicrosoft365Ended(t *testing.T) {
	t.Run("declined", func(t *testing.T) {
		w := newM365World(t, 0)
		c := newWebClient(t, w.ui)
		c.signIn("alice", "alice-pw")
		code, _ := w.start(t, c)
		w.id.Decline(code)
		if st := waitState(t, c); st != "declined" {
			t.Fatalf("state %q", st)
		}
		if page := c.get("/mycontacts/m365"); !strings.Contains(page, "The sign-in was declined at Microsoft.") || !strings.Contains(page, "Nothing was stored.") {
			t.Errorf("page:\n%s", page)
		}
		w.nothingStored(t)
	})
	t.Run("expired", func(t *testing.T) {
		w := newM365World(t, 2*time.Second)
		c := newWebClient(t, w.ui)
		c.signIn("alice", "alice-pw")
		w.start(t, c)
		if st := waitState(t, c); st != "expired" {
			t.Fatalf("state %q", st)
		}
		if page := c.get("/mycontacts/m365"); !strings.Contains(page, "The code expired before you signed in.") || !strings.Contains(page, "Sign in again") {
			t.Errorf("page:\n%s", page)
		}
		w.nothingStored(t)
	})
	t.Run("cancelled", func(t *testing.T) {
		w := newM365World(t, 0)
		c := newWebClient(t, w.ui)
		c.signIn("alice", "alice-pw")
		code, _ := w.start(t, c)
		if st, _ := c.post("/mycontacts/m365", "/mycontacts/m365/cancel", url.Values{}); st != http.StatusSeeOther {
			t.Fatalf("cancel: %d", st)
		}
		if st := waitState(t, c); st != "cancelled" {
			t.Fatalf("state %q", st)
		}
		w.id.Approve(code) // too late: the flow no longer polls
		time.Sleep(1500 * time.Millisecond)
		if tab := c.get("/mycontacts"); !strings.Contains(tab, "cancelled; nothing was stored") {
			t.Errorf("tab after cancelling:\n%s", tab)
		}
		w.nothingStored(t)
	})
}

// Without --ms-client-id the tab says how to set the sign-in up, and a
// forged start is refused with that.
func TestWebMicrosoft365NotSetUp(t *testing.T) {
	w := newSyncWorld(t, 0)
	c := newWebClient(t, w.ui)
	c.signIn("alice", "alice-pw")
	tab := c.get("/mycontacts")
	if strings.Contains(tab, "Sign in with Microsoft 365") || !strings.Contains(tab, "--ms-client-id") {
		t.Errorf("tab without a Microsoft app:\n%s", tab)
	}
	if st, body := c.post("/mycontacts", "/mycontacts/m365", url.Values{}); st != http.StatusPreconditionFailed || !strings.Contains(body, "--ms-client-id") {
		t.Errorf("starting without a Microsoft app: %d", st)
	}
}
