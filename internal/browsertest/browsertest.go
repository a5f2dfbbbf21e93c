// Package browsertest drives a real headless Chromium for the web UI's
// browser tests (chromedp), and writes their screenshots as artifacts.
package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/crmsync/crmsync/internal/testenv"
)

// Tab is one headless Chromium tab with a fresh profile.
type Tab struct {
	t   *testing.T
	ctx context.Context
}

// New starts a Chromium (skipping, or failing under CI=true, without
// one) and returns its first tab; it stops with the test.
func New(t *testing.T) *Tab { return NewIn(t, "en") }

// NewIn is New with the browser asking for pages in lang (Accept-Language).
func NewIn(t *testing.T, lang string) *Tab {
	t.Helper()
	path := testenv.Chromium(t)
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Flag("accept-lang", lang)}
	for _, f := range testenv.ChromiumFlags {
		opts = append(opts, chromedp.Flag(strings.TrimPrefix(f, "--"), true))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	tb := &Tab{t: t, ctx: ctx}
	tb.Do() // starts the browser without a timeout (it would stop the browser)
	return tb
}

// Do runs steps, each within 20 s.
func (tb *Tab) Do(steps ...chromedp.Action[chromedp.Void]) {
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

// Run runs an action that returns a value, within 20 s.
func Run[T any](tb *Tab, a chromedp.Action[T]) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		tb.t.Fatal(err)
	}
	return v
}

// Text is the visible text of the first element matching sel.
func (tb *Tab) Text(sel string) string {
	tb.t.Helper()
	return Run(tb, chromedp.Text(chromedp.CSS(sel)))
}

// Shots writes screenshots of the current page at desktop and phone width.
func (tb *Tab) Shots(name string) {
	tb.t.Helper()
	dir := testenv.Artifacts(tb.t, "screenshots")
	for _, size := range []struct {
		tag  string
		w, h int64
	}{{"desktop", 1280, 900}, {"phone", 390, 844}} {
		tb.Do(chromedp.EmulateViewport(size.w, size.h))
		buf := Run(tb, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(dir, name+"-"+size.tag+".png"), buf, 0o644); err != nil {
			tb.t.Fatal(err)
		}
	}
	tb.Do(chromedp.EmulateViewport(1280, 900))
}

// SignIn signs in on the web UI at base.
func (tb *Tab) SignIn(base, name, password string) {
	tb.t.Helper()
	tb.Do(chromedp.Navigate(base+"/signin"),
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("button.primary")),
		chromedp.WaitVisible(chromedp.CSS("header nav")))
}
