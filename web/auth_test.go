package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/web"
)

// from is a new browser whose connections come from 127.0.0.n.
func (w *world) from(n int) *browser {
	b := w.browser()
	b.c.Transport = testenv.ClientFrom(w.t, n).Transport
	return b
}

// TestSignInThrottled: the web sign-in goes through the limiter of every
// way in: after 10 failures from one address even the right password is
// refused there, saying so, while another address signs in.
func TestSignInThrottled(t *testing.T) {
	w := newWorld(t, web.Options{})
	guesser := w.from(2)
	for i := range 10 {
		p := guesser.post("/signin", "/signin", url.Values{"name": {"alice"}, "password": {"guess"}})
		if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "Wrong user name or password") {
			t.Fatalf("guess %d: %d", i, p.status)
		}
	}
	p := guesser.post("/signin", "/signin", url.Values{"name": {"alice"}, "password": {"alice-pw"}})
	if p.status != http.StatusTooManyRequests || !strings.Contains(p.body, "Too many failed sign-ins") {
		t.Errorf("right password from the guessing address: %d\n%s", p.status, p.body)
	}
	if p := w.from(3).post("/signin", "/signin", url.Values{"name": {"alice"}, "password": {"alice-pw"}}); p.status != http.StatusSeeOther {
		t.Errorf("another address: %d", p.status)
	}
}

// TestPasswordChangeEndsWebSessions: a browser signed in with the old
// password is signed out on its next page.
func TestPasswordChangeEndsWebSessions(t *testing.T) {
	w := newWorld(t, web.Options{})
	b := w.signIn("alice", "alice-pw")
	if p := b.get("/contacts"); p.status != http.StatusOK {
		t.Fatalf("before the change: %d", p.status)
	}
	if err := w.svc.SetPassword(crmsync.System(context.Background()), "alice", "new-pw"); err != nil {
		t.Fatal(err)
	}
	if p := b.get("/contacts"); p.status == http.StatusOK {
		t.Errorf("the old session still shows the contacts")
	}
	if p := b.get("/contacts"); p.status != http.StatusSeeOther || !strings.HasSuffix(p.loc, "/signin") {
		t.Errorf("then: %d %s, want a redirect to the sign-in page", p.status, p.loc)
	}
	w.signIn("alice", "new-pw")
}
