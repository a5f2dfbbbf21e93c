package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/web"
)

// An administrator disables a user from Administration: the user's open
// session ends, their sign-in is answered like a wrong password, and
// enabling them lets them in again. Others cannot, forged or not.
func TestDisableUser(t *testing.T) {
	w := newWorld(t, web.Options{})
	sys := crmsync.System(context.Background())
	disabled := func(name string) bool {
		t.Helper()
		u, err := w.svc.UserByName(sys, name)
		if err != nil {
			t.Fatal(err)
		}
		return u.Disabled
	}
	a := w.signIn("alice", "alice-pw")
	b := w.signIn("bob", "bob-pw")
	if p := b.post("/contacts", "/admin/disable", url.Values{"name": {"alice"}, "disabled": {"true"}}); p.status != http.StatusForbidden {
		t.Errorf("bob's forged POST: %d", p.status)
	}
	r := w.signIn("root", "root-pw")
	if p := r.do("POST", "/admin/disable", url.Values{"name": {"alice"}, "disabled": {"true"}}); p.status != http.StatusForbidden {
		t.Errorf("a POST without the CSRF token: %d", p.status)
	}
	if disabled("alice") {
		t.Fatal("a refused POST disabled alice")
	}
	if p := r.post("/admin", "/admin/disable", url.Values{"name": {"alice"}, "disabled": {"maybe"}}); p.status != http.StatusBadRequest || !strings.Contains(p.body, `not &#34;maybe&#34;`) {
		t.Errorf("a bad value: %d\n%s", p.status, p.body)
	}
	if p := r.post("/admin", "/admin/disable", url.Values{"name": {"root"}, "disabled": {"true"}}); p.status != http.StatusPreconditionFailed || strings.Count(p.body, "last enabled administrator") != 1 {
		t.Errorf("root disabling the last administrator: %d\n%s", p.status, p.body)
	}
	if disabled("root") {
		t.Fatal("the last administrator was disabled")
	}

	if p := r.post("/admin", "/admin/disable", url.Values{"name": {"alice"}, "disabled": {"true"}}); p.status != http.StatusSeeOther {
		t.Fatalf("disabling alice: %d\n%s", p.status, p.body)
	}
	if !disabled("alice") {
		t.Fatal("alice is not disabled")
	}
	page := r.get("/admin")
	if !strings.Contains(page.body, `aria-label="Enable alice"`) || !strings.Contains(page.body, `aria-label="Disable bob"`) || strings.Count(page.body, `class="tag off"`) != 1 {
		t.Errorf("the admin page does not show alice disabled and bob not:\n%s", page.body)
	}
	if p := a.get("/contacts"); p.status != http.StatusUnauthorized {
		t.Errorf("alice's session opened before disabling: %d", p.status)
	}
	if p := a.get("/contacts"); p.status != http.StatusSeeOther || p.loc != "/signin" {
		t.Errorf("alice's ended session: %d to %q", p.status, p.loc)
	}
	right := w.browser().post("/signin", "/signin", url.Values{"name": {"alice"}, "password": {"alice-pw"}})
	wrong := w.browser().post("/signin", "/signin", url.Values{"name": {"alice"}, "password": {"nope"}})
	if right.status != http.StatusUnauthorized || csrfPattern.ReplaceAllString(right.body, "") != csrfPattern.ReplaceAllString(wrong.body, "") {
		t.Errorf("a disabled user's sign-in (%d) differs from a wrong password's (%d):\n%s", right.status, wrong.status, right.body)
	}
	if p := b.get("/contacts"); p.status != http.StatusOK {
		t.Errorf("bob's session after alice was disabled: %d", p.status)
	}

	cs := w.signIn("root", "root-pw")
	cs.lang = "cs"
	if p := cs.get("/admin"); !strings.Contains(p.body, "Povolit") || !strings.Contains(p.body, "zakázáno") {
		t.Errorf("the Czech admin page lacks the state and button:\n%s", p.body)
	}
	if p := r.post("/admin", "/admin/disable", url.Values{"name": {"alice"}, "disabled": {"false"}}); p.status != http.StatusSeeOther {
		t.Fatalf("enabling alice: %d\n%s", p.status, p.body)
	}
	if p := w.signIn("alice", "alice-pw").get("/contacts"); p.status != http.StatusOK {
		t.Errorf("alice enabled again: %d", p.status)
	}
}
