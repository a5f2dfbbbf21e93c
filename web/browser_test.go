package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/web"
)

// tab is one headless Chromium tab with a fresh profile.
type tab struct {
	t   *testing.T
	ctx context.Context
}

func chrome(t *testing.T) *tab {
	t.Helper()
	path := testenv.Chromium(t)
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900)}
	for _, f := range testenv.ChromiumFlags {
		opts = append(opts, chromedp.Flag(strings.TrimPrefix(f, "--"), true))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	tb := &tab{t: t, ctx: ctx}
	tb.do() // starts the browser without a timeout (it would stop the browser)
	return tb
}

// do runs steps, each within 20 s.
func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if len(steps) == 0 {
		ctx = tb.ctx
	}
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatal(err)
	}
}

func run[T any](tb *tab, a chromedp.Action[T]) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		tb.t.Fatal(err)
	}
	return v
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return run(tb, chromedp.Text(chromedp.CSS(sel)))
}

// shots writes screenshots of the current page at desktop and phone width.
func (tb *tab) shots(name string) {
	tb.t.Helper()
	dir := testenv.Artifacts(tb.t, "screenshots")
	for _, size := range []struct {
		tag  string
		w, h int64
	}{{"desktop", 1280, 900}, {"phone", 390, 844}} {
		tb.do(chromedp.EmulateViewport(size.w, size.h))
		buf := run(tb, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(dir, name+"-"+size.tag+".png"), buf, 0o644); err != nil {
			tb.t.Fatal(err)
		}
	}
	tb.do(chromedp.EmulateViewport(1280, 900))
}

func (tb *tab) signIn(base, name, password string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(base+"/signin"),
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("button.primary")),
		chromedp.WaitVisible(chromedp.CSS("header nav")))
}

// The browser scenario of issue 10: sign in, create and edit a contact,
// see a version conflict, and a second user not seeing the first one's
// private contact; screenshots of the main pages.
func TestBrowser(t *testing.T) {
	tb := chrome(t)
	w := newWorld(t, web.Options{CardDAVPath: "/dav/"})
	company := w.save(w.alice, crmsync.Companies, map[string]string{crmsync.FieldCompanyName: "Acme s.r.o.", "Address1City": "Brno", "Phone": "+420 545 000 111"})
	for i, n := range []string{"Adam Beneš", "Karel Dvořák", "Lucie Horáková", "Petr Svoboda"} {
		first, last, _ := strings.Cut(n, " ")
		g := w.save(w.alice, crmsync.Contacts, map[string]string{crmsync.FieldFirstName: first, crmsync.FieldLastName: last, crmsync.FieldCompany: "Acme s.r.o.",
			crmsync.FieldEmail1: strings.ToLower(first) + "@acme.example", crmsync.FieldPhoneMobile: "+420 777 000 10" + string(rune('0'+i)), crmsync.FieldCompanyGUID: company})
		for j, subject := range []string{"Call about the offer", "Meeting in Brno"} {
			w.save(w.alice, crmsync.Journal, map[string]string{crmsync.FieldFileAs: subject, crmsync.FieldContactGUID: g,
				crmsync.FieldEventStart: "2026-1" + string(rune('0'+j)) + "-0" + string(rune('1'+i)) + " 09:30:00", crmsync.FieldNote: "Wants a quote by Friday."})
		}
	}
	base := w.srv.URL
	tb.do(chromedp.Navigate(base+"/signin"), chromedp.WaitVisible(chromedp.CSS("#name")))
	tb.shots("signin")

	tb.signIn(base, "alice", "alice-pw")
	if text := tb.text("main"); !strings.Contains(text, "Karel") {
		t.Fatalf("after sign-in the contacts page shows:\n%s", text)
	}
	tb.shots("contacts")

	// Create a private contact.
	tb.do(chromedp.Navigate(base+"/contacts/new"),
		chromedp.SendKeys(chromedp.CSS("#f-FirstName"), "Eva"),
		chromedp.SendKeys(chromedp.CSS("#f-LastName"), "Nováková"),
		chromedp.SendKeys(chromedp.CSS("#f-Email1Address"), "eva@example.com"),
		chromedp.Click(chromedp.CSS("#f-IsPrivate")),
		chromedp.Click(chromedp.CSS("form.card button.primary")),
		chromedp.WaitVisible(chromedp.CSS("p.flash")))
	if text := tb.text("main"); !strings.Contains(text, "Created.") || !strings.Contains(text, "Nováková Eva") || !strings.Contains(text, "private") {
		t.Fatalf("after creating:\n%s", text)
	}
	loc := run(tb, chromedp.Location())
	guid := loc[strings.LastIndex(loc, "/")+1:]

	// Edit it.
	tb.do(chromedp.Click(chromedp.CSS(`a[href$="/edit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#f-Title")),
		chromedp.SendKeys(chromedp.CSS("#f-Title"), "Buyer"))
	tb.shots("contact-form")
	tb.do(chromedp.Click(chromedp.CSS("form.card button.primary")), chromedp.WaitVisible(chromedp.CSS("p.flash")))
	if text := tb.text("main"); !strings.Contains(text, "Saved.") || !strings.Contains(text, "Buyer") {
		t.Fatalf("after editing:\n%s", text)
	}

	// A version conflict: the form is open while someone else saves.
	tb.do(chromedp.Click(chromedp.CSS(`a[href$="/edit"]`)), chromedp.WaitVisible(chromedp.CSS("#f-Title")))
	if _, err := w.svc.Save(crmsync.WithUser(context.Background(), w.alice), crmsync.Contacts, []crmsync.Patch{{GUID: guid, Set: map[string]string{crmsync.FieldJobTitle: "Chief buyer"}}}, crmsync.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	tb.do(chromedp.SetValue(chromedp.CSS("#f-Title"), "Purchasing manager"),
		chromedp.Click(chromedp.CSS("form.card button.primary")),
		chromedp.WaitVisible(chromedp.CSS("p.error")))
	text, value := tb.text("main"), run(tb, chromedp.Value(chromedp.CSS("#f-Title")))
	if !strings.Contains(text, "changed by someone else meanwhile") || !strings.Contains(text, "Saved meanwhile: Chief buyer") || value != "Purchasing manager" {
		t.Fatalf("conflict page (title %q):\n%s", value, text)
	}
	tb.shots("conflict")

	// A shared contact's page with its company and journals.
	tb.do(chromedp.Navigate(base+"/contacts?q=dvo%C5%99%C3%A1k"),
		chromedp.Click(chromedp.CSS("table.list td a")),
		chromedp.WaitVisible(chromedp.CSS("ol.journals")))
	if text := tb.text("main"); !strings.Contains(text, "Acme s.r.o.") || !strings.Contains(text, "Meeting in Brno") {
		t.Fatalf("contact page:\n%s", text)
	}
	tb.shots("contact")
	for _, page := range []string{"companies", "journals", "phones", "companies/" + company} {
		tb.do(chromedp.Navigate(base+"/"+page), chromedp.WaitVisible(chromedp.CSS("main h1")))
		tb.shots(strings.Split(page, "/")[0] + map[bool]string{true: "-one"}[strings.Contains(page, "/")])
	}

	// Bob, in a browser of his own, does not see alice's private contact.
	bob := chrome(t)
	bob.signIn(base, "bob", "bob-pw")
	if text := bob.text("main"); !strings.Contains(text, "Karel") || strings.Contains(text, "Nováková") {
		t.Fatalf("bob's contacts:\n%s", text)
	}
	bob.do(chromedp.Navigate(base + "/contacts/" + guid))
	if text := bob.text("main"); strings.Contains(text, "Nováková") || !strings.Contains(text, "Not found") {
		t.Fatalf("bob opening alice's private contact:\n%s", text)
	}
}
