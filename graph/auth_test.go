package graph_test

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/graph"
	"github.com/crmsync/crmsync/graph/sandbox"
	"golang.org/x/oauth2"
)

// identity is a loopback stand-in for the Microsoft identity platform
// (sandbox.Identity) and the auth configuration pointing at it.
func identity(t *testing.T, expiresIn time.Duration) (*sandbox.Identity, graph.AuthConfig) {
	t.Helper()
	id := &sandbox.Identity{ClientID: "app-123", ExpiresIn: expiresIn, Interval: 1}
	srv := httptest.NewServer(id)
	t.Cleanup(srv.Close)
	ep := id.Endpoint(srv.URL, "tenant-x")
	return id, graph.AuthConfig{Tenant: "tenant-x", ClientID: "app-123", Endpoint: &ep, HTTPClient: srv.Client()}
}

// userCode reads the code DeviceLogin printed.
var userCodeRE = regexp.MustCompile(`enter the code (\S+) to`)

// approveWhenShown plays the user: once the code is printed and polled
// for, they sign in (or decline).
func approveWhenShown(t *testing.T, id *sandbox.Identity, out *syncedBuffer, act func(*sandbox.Identity, string) bool) {
	go func() {
		for i := 0; i < 200; i++ {
			if m := userCodeRE.FindStringSubmatch(out.String()); m != nil && id.Polls(m[1]) > 0 {
				act(id, m[1])
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Error("the sign-in code was never shown and polled for")
	}()
}

func TestDeviceLogin(t *testing.T) {
	t.Parallel()
	id, cfg := identity(t, 0)
	out := &syncedBuffer{}
	approveWhenShown(t, id, out, (*sandbox.Identity).Approve)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := graph.DeviceLogin(ctx, cfg, out)
	if err != nil {
		t.Fatal(err)
	}
	code := userCodeRE.FindStringSubmatch(out.String())[1]
	if tok.AccessToken == "" || tok.AccessToken != id.AccessToken(code) || tok.RefreshToken == "" {
		t.Fatalf("token = %+v", tok)
	}
	if n := id.Polls(code); n < 2 {
		t.Errorf("polled %d times, want pending, then success", n)
	}
	msg := out.String()
	if !strings.Contains(msg, "https://microsoft.com/devicelogin") || !strings.Contains(msg, "expires in 15 minutes") {
		t.Errorf("sign-in message = %q", msg)
	}
	if strings.Contains(msg, tok.AccessToken) || strings.Contains(msg, tok.RefreshToken) {
		t.Errorf("the sign-in message leaks a secret: %q", msg)
	}
}

func TestDeviceLoginDeclined(t *testing.T) {
	t.Parallel()
	id, cfg := identity(t, 0)
	out := &syncedBuffer{}
	approveWhenShown(t, id, out, (*sandbox.Identity).Decline)
	_, err := graph.DeviceLogin(context.Background(), cfg, out)
	if crm.ErrorCode(err) != crm.EUNAUTHORIZED || !strings.Contains(err.Error(), "authorization_declined") || graph.SignInFailure(err) != graph.SignInDeclined {
		t.Fatalf("err = %v", err)
	}
	if _, err := graph.DeviceLogin(context.Background(), graph.AuthConfig{}, &bytes.Buffer{}); crm.ErrorCode(err) != crm.EINVALID {
		t.Fatalf("no client id: %v", err)
	}
}

func TestDeviceLoginExpiredAndCancelled(t *testing.T) {
	t.Parallel()
	_, cfg := identity(t, 2*time.Second)
	_, err := graph.DeviceLogin(context.Background(), cfg, io.Discard)
	if graph.SignInFailure(err) != graph.SignInExpired || crm.ErrorCode(err) != crm.EUNAUTHORIZED {
		t.Fatalf("an expired code: %v", err)
	}
	_, cfg = identity(t, 0)
	si, err := graph.StartDeviceSignIn(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if _, err := si.Wait(ctx); graph.SignInFailure(err) != graph.SignInCancelled {
		t.Fatalf("a cancelled wait: %v", err)
	}
}

// After slow_down the client polls 5 s slower (RFC 8628 §3.5), and still
// gets its token.
func TestDeviceLoginSlowDown(t *testing.T) {
	t.Parallel()
	id, cfg := identity(t, 0)
	si, err := graph.StartDeviceSignIn(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	id.SlowDown(si.UserCode)
	id.Approve(si.UserCode)
	start := time.Now()
	tok, err := si.Wait(context.Background())
	if err != nil || tok.AccessToken != id.AccessToken(si.UserCode) {
		t.Fatalf("after slow_down: %v %v", tok, err)
	}
	if n, took := id.Polls(si.UserCode), time.Since(start); n != 2 || took < 6*time.Second {
		t.Errorf("%d polls in %v, want 2 polls 1 s and 6 s apart", n, took)
	}
}

func TestTokenStore(t *testing.T) {
	t.Parallel()
	id, cfg := identity(t, 0)
	dir := filepath.Join(t.TempDir(), "tokens")
	store := graph.NewTokenStore(dir)
	if _, err := store.Load("alice"); crm.ErrorCode(err) != crm.ENOTFOUND {
		t.Fatalf("Load before sign-in: %v", err)
	}
	si, err := graph.StartDeviceSignIn(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	id.Approve(si.UserCode)
	expired, err := si.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	first := *expired
	expired.Expiry = time.Now().Add(-time.Minute)
	if err := store.Save("alice", expired); err != nil {
		t.Fatal(err)
	}
	if err := store.Save("../bob", &oauth2.Token{AccessToken: "b"}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("token directory mode %v, %v", st.Mode().Perm(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("%d files in the token directory (a user name escaped it?)", len(entries))
	}
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
	}

	// The source refreshes the expired token and saves the rotated one.
	ts, err := store.TokenSource(context.Background(), cfg, "alice")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == first.AccessToken || tok.RefreshToken == first.RefreshToken {
		t.Fatalf("the token was not rotated: %+v", tok)
	}
	saved, err := store.Load("alice")
	if err != nil || saved.AccessToken != tok.AccessToken || saved.RefreshToken != tok.RefreshToken {
		t.Fatalf("saved after refresh = %+v, %v", saved, err)
	}
	if err := store.Delete("alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Load("alice"); crm.ErrorCode(err) != crm.ENOTFOUND {
		t.Fatalf("after Delete: %v", err)
	}
}
