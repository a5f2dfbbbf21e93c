package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/crmsync/crmsync/internal/browsertest"
)

// The browser half of issue 10's scenario that needs the sync wiring: in
// headless Chromium, connect the sandbox mailbox on My Contacts, turn sync
// on, answer Now, watch the bar reach 100 % and read the dialog's counts.
func TestBrowserFirstSync(t *testing.T) {
	tb := browsertest.New(t)
	w := newSyncWorld(t, 400)
	w.grantExport(t)
	tb.SignIn(w.ui, "alice", "alice-pw")
	tb.Do(chromedp.Navigate(w.ui+"/mycontacts"),
		chromedp.SendKeys(chromedp.CSS("#sandbox"), w.mailbox),
		chromedp.Click(chromedp.CSS(`form[action="/mycontacts/connect"] button`)),
		chromedp.WaitVisible(chromedp.CSS("ul.checks")))
	if text := tb.Text("ul.checks"); !strings.Contains(text, "Right to export contacts") || !strings.Contains(text, "The mailbox or address book answers") {
		t.Fatalf("prerequisites:\n%s", text)
	}
	if n := browsertest.Run(tb, chromedp.Evaluate[int](`document.querySelectorAll("ul.checks li.missing").length`)); n != 0 {
		t.Fatalf("%d prerequisites missing", n)
	}
	tb.Shots("mycontacts")
	tb.Do(chromedp.Click(chromedp.CSS(`form[action="/mycontacts/enable"] button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value="now"]`)))
	if text := tb.Text("main"); !strings.Contains(text, "Run the first sync now?") {
		t.Fatalf("after turning sync on:\n%s", text)
	}
	tb.Shots("first-sync-question")
	tb.Do(chromedp.Click(chromedp.CSS(`button[value="now"]`)),
		chromedp.WaitVisible(chromedp.CSS("progress.bar")),
		chromedp.WaitVisible(chromedp.CSS("dialog#summary[open]")))
	if v := browsertest.Run(tb, chromedp.Evaluate[float64](`document.querySelector("progress.bar").value`)); v != 100 {
		t.Errorf("the bar ends at %v %%", v)
	}
	// 403 to Outlook, one to the CRM, one duplicate set aside.
	if text := tb.Text(".stats"); !strings.Contains(text, "100 %") || !strings.Contains(text, "405 / 405") {
		t.Errorf("progress figures at the end: %q", text)
	}
	counts := browsertest.Run(tb, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll("[data-count]")].map(e => [e.dataset.count, e.textContent]))`))
	// 403 CRM contacts go to Outlook (Jan too: Outlook's copy is set aside
	// as a duplicate), "Only Outlook" comes to the CRM.
	if counts["createdInRemote"] != "403" || counts["createdInCRM"] != "1" || counts["duplicates"] != "1" || counts["errors"] != "0" {
		t.Errorf("dialog counts %v", counts)
	}
	tb.Shots("first-sync-done")

	// Review the duplicate side by side and merge it.
	tb.Do(chromedp.Click(chromedp.CSS(`dialog a[href="/mycontacts/duplicates"]`)),
		chromedp.WaitVisible(chromedp.CSS(".side")))
	if text := tb.Text("main"); !strings.Contains(text, "jan@firma.cz") || !strings.Contains(text, "Outlook duplicate") {
		t.Fatalf("duplicates page:\n%s", text)
	}
	tb.Shots("duplicates")
	tb.Do(chromedp.Click(chromedp.CSS(`form[action="/mycontacts/duplicates/merge"] button`)),
		chromedp.WaitVisible(chromedp.CSS("p.flash")))
	if text := tb.Text("main"); !strings.Contains(text, "Merged:") || !strings.Contains(text, "No duplicates await review.") {
		t.Fatalf("after merging:\n%s", text)
	}
}

// In Chromium the Microsoft 365 sign-in page moves on by itself: once the
// user signs in at Microsoft (the loopback stand-in approves the code),
// the page's script sees it and goes on to the prerequisites.
func TestBrowserMicrosoft365SignIn(t *testing.T) {
	tb := browsertest.New(t)
	w := newM365World(t, 0)
	tb.SignIn(w.ui, "alice", "alice-pw")
	tb.Do(chromedp.Navigate(w.ui+"/mycontacts"),
		chromedp.Click(chromedp.CSS(`form[action="/mycontacts/m365"] button`)),
		chromedp.WaitVisible(chromedp.CSS("strong.code")))
	code := tb.Text("strong.code")
	if text := tb.Text("main"); !strings.Contains(text, "https://microsoft.com/devicelogin") || !strings.Contains(text, "The code expires in 15 minutes.") {
		t.Fatalf("sign-in page:\n%s", text)
	}
	tb.Shots("m365-signin")
	if !w.id.Approve(code) {
		t.Fatalf("the page shows %q, which Microsoft did not hand out", code)
	}
	tb.Do(chromedp.WaitVisible(chromedp.CSS("ul.checks")))
	if text := tb.Text("main"); !strings.Contains(text, "Signed in to Microsoft 365 and connected to the mailbox.") || !strings.Contains(text, "The mailbox or address book answers") {
		t.Errorf("after signing in:\n%s", text)
	}
	if n := browsertest.Run(tb, chromedp.Evaluate[int](`document.querySelectorAll("ul.checks li.missing").length`)); n != 0 {
		t.Errorf("%d prerequisites missing", n)
	}
}
