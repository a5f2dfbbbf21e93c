package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/internal/browsertest"
	"github.com/crmsync/crmsync/web"
)

// The browser scenario of issue 10: sign in, create and edit a contact,
// see a version conflict, and a second user not seeing the first one's
// private contact; screenshots of the main pages.
func TestBrowser(t *testing.T) {
	tb := browsertest.New(t)
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
	tb.Do(chromedp.Navigate(base+"/signin"), chromedp.WaitVisible(chromedp.CSS("#name")))
	tb.Shots("signin")

	tb.SignIn(base, "alice", "alice-pw")
	if text := tb.Text("main"); !strings.Contains(text, "Karel") {
		t.Fatalf("after sign-in the contacts page shows:\n%s", text)
	}
	tb.Shots("contacts")

	// Create a private contact.
	tb.Do(chromedp.Navigate(base+"/contacts/new"),
		chromedp.SendKeys(chromedp.CSS("#f-FirstName"), "Eva"),
		chromedp.SendKeys(chromedp.CSS("#f-LastName"), "Nováková"),
		chromedp.SendKeys(chromedp.CSS("#f-Email1Address"), "eva@example.com"),
		chromedp.Click(chromedp.CSS("#f-IsPrivate")),
		chromedp.Click(chromedp.CSS("form.card button.primary")),
		chromedp.WaitVisible(chromedp.CSS("p.flash")))
	if text := tb.Text("main"); !strings.Contains(text, "Created.") || !strings.Contains(text, "Nováková Eva") || !strings.Contains(text, "private") {
		t.Fatalf("after creating:\n%s", text)
	}
	loc := browsertest.Run(tb, chromedp.Location())
	guid := loc[strings.LastIndex(loc, "/")+1:]

	// Edit it.
	tb.Do(chromedp.Click(chromedp.CSS(`a[href$="/edit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#f-Title")),
		chromedp.SendKeys(chromedp.CSS("#f-Title"), "Buyer"))
	tb.Shots("contact-form")
	tb.Do(chromedp.Click(chromedp.CSS("form.card button.primary")), chromedp.WaitVisible(chromedp.CSS("p.flash")))
	if text := tb.Text("main"); !strings.Contains(text, "Saved.") || !strings.Contains(text, "Buyer") {
		t.Fatalf("after editing:\n%s", text)
	}

	// A version conflict: the form is open while someone else saves.
	tb.Do(chromedp.Click(chromedp.CSS(`a[href$="/edit"]`)), chromedp.WaitVisible(chromedp.CSS("#f-Title")))
	w.patch(w.alice, crmsync.Contacts, crmsync.Patch{GUID: guid, Set: map[string]string{crmsync.FieldJobTitle: "Chief buyer"}})
	tb.Do(chromedp.SetValue(chromedp.CSS("#f-Title"), "Purchasing manager"),
		chromedp.Click(chromedp.CSS("form.card button.primary")),
		chromedp.WaitVisible(chromedp.CSS("p.error")))
	text, value := tb.Text("main"), browsertest.Run(tb, chromedp.Value(chromedp.CSS("#f-Title")))
	if !strings.Contains(text, "changed by someone else meanwhile") || !strings.Contains(text, "Saved meanwhile: Chief buyer") || value != "Purchasing manager" {
		t.Fatalf("conflict page (title %q):\n%s", value, text)
	}
	tb.Shots("conflict")

	// A shared contact's page with its company and journals.
	tb.Do(chromedp.Navigate(base+"/contacts?q=dvo%C5%99%C3%A1k"),
		chromedp.Click(chromedp.CSS("table.list td a")),
		chromedp.WaitVisible(chromedp.CSS("ol.journals")))
	if text := tb.Text("main"); !strings.Contains(text, "Acme s.r.o.") || !strings.Contains(text, "Meeting in Brno") {
		t.Fatalf("contact page:\n%s", text)
	}
	tb.Shots("contact")
	for _, page := range []string{"companies", "journals", "phones", "companies/" + company} {
		tb.Do(chromedp.Navigate(base+"/"+page), chromedp.WaitVisible(chromedp.CSS("main h1")))
		tb.Shots(strings.Split(page, "/")[0] + map[bool]string{true: "-one"}[strings.Contains(page, "/")])
	}

	// The administration page, signed in as root in another browser.
	root := browsertest.New(t)
	root.SignIn(base, "root", "root-pw")
	root.Do(chromedp.Navigate(base+"/admin"), chromedp.WaitVisible(chromedp.CSS("form.group")))
	root.Shots("admin")

	// Bob, in a browser of his own, does not see alice's private contact.
	// His browser asks for Czech.
	bob := browsertest.NewIn(t, "cs")
	bob.SignIn(base, "bob", "bob-pw")
	if text := bob.Text("main"); !strings.Contains(text, "Karel") || strings.Contains(text, "Nováková") || !strings.Contains(text, "Kontakty") {
		t.Fatalf("bob's contacts:\n%s", text)
	}
	bob.Shots("contacts-cs")
	bob.Do(chromedp.Navigate(base + "/contacts/" + guid))
	if text := bob.Text("main"); strings.Contains(text, "Nováková") || !strings.Contains(text, "Nenalezeno") {
		t.Fatalf("bob opening alice's private contact:\n%s", text)
	}
}
