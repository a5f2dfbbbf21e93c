package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/graph"
	"golang.org/x/oauth2"
)

// oauthServer follows the Microsoft identity platform's device code
// protocol (§1.13): /devicecode hands out a code, /token answers
// authorization_pending until the user "signs in", then a token; a
// refresh_token grant rotates both tokens.
type oauthServer struct {
	t       *testing.T
	mu      sync.Mutex
	polls   int
	pending int // polls answered authorization_pending
	decline bool
	issued  []string
}

func (o *oauthServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		w.WriteHeader(400)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fail := func(code string) {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": "AADSTS70016: " + code})
	}
	switch r.URL.Path {
	case "/tenant-x/oauth2/v2.0/devicecode":
		if r.Form.Get("client_id") != "app-123" || r.Form.Get("scope") != "Contacts.ReadWrite offline_access" {
			o.t.Errorf("devicecode form: %v", r.Form)
		}
		json.NewEncoder(w).Encode(map[string]any{
			"device_code": "dev-code-1", "user_code": "ABCD-EFGH", "verification_uri": "https://microsoft.com/devicelogin",
			"expires_in": 900, "interval": 1,
			"message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code ABCD-EFGH to authenticate.",
		})
	case "/tenant-x/oauth2/v2.0/token":
		switch r.Form.Get("grant_type") {
		case "urn:ietf:params:oauth:grant-type:device_code":
			if r.Form.Get("device_code") != "dev-code-1" || r.Form.Get("client_id") != "app-123" {
				fail("bad_verification_code")
				return
			}
			o.polls++
			if o.decline {
				fail("authorization_declined")
				return
			}
			if o.polls <= o.pending {
				fail("authorization_pending")
				return
			}
			o.token(w, "access-1-secret", "refresh-1-secret")
		case "refresh_token":
			if r.Form.Get("refresh_token") != "refresh-1-secret" {
				fail("invalid_grant")
				return
			}
			o.token(w, "access-2-secret", "refresh-2-secret")
		default:
			fail("unsupported_grant_type")
		}
	default:
		http.NotFound(w, r)
	}
}

func (o *oauthServer) token(w http.ResponseWriter, access, refresh string) {
	o.issued = append(o.issued, access, refresh)
	json.NewEncoder(w).Encode(map[string]any{
		"token_type": "Bearer", "scope": "Contacts.ReadWrite", "expires_in": 3599,
		"access_token": access, "refresh_token": refresh,
	})
}

func authConfig(srv *httptest.Server) graph.AuthConfig {
	return graph.AuthConfig{
		Tenant: "tenant-x", ClientID: "app-123",
		Endpoint: &oauth2.Endpoint{
			DeviceAuthURL: srv.URL + "/tenant-x/oauth2/v2.0/devicecode",
			TokenURL:      srv.URL + "/tenant-x/oauth2/v2.0/token",
			AuthStyle:     oauth2.AuthStyleInParams,
		},
		HTTPClient: srv.Client(),
	}
}

func TestDeviceLogin(t *testing.T) {
	t.Parallel()
	o := &oauthServer{t: t, pending: 1}
	srv := httptest.NewServer(o)
	defer srv.Close()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := graph.DeviceLogin(ctx, authConfig(srv), &out)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "access-1-secret" || tok.RefreshToken != "refresh-1-secret" {
		t.Fatalf("token = %+v", tok)
	}
	if o.polls != 2 {
		t.Errorf("polled %d times, want 2 (pending, then success)", o.polls)
	}
	msg := out.String()
	if !strings.Contains(msg, "https://microsoft.com/devicelogin") || !strings.Contains(msg, "ABCD-EFGH") {
		t.Errorf("sign-in message = %q", msg)
	}
	if strings.Contains(msg, "secret") || strings.Contains(msg, "dev-code-1") {
		t.Errorf("the sign-in message leaks a secret: %q", msg)
	}
}

func TestDeviceLoginDeclined(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(&oauthServer{t: t, decline: true})
	defer srv.Close()
	_, err := graph.DeviceLogin(context.Background(), authConfig(srv), &bytes.Buffer{})
	if crm.ErrorCode(err) != crm.EUNAUTHORIZED || !strings.Contains(err.Error(), "authorization_declined") {
		t.Fatalf("err = %v", err)
	}
	if _, err := graph.DeviceLogin(context.Background(), graph.AuthConfig{}, &bytes.Buffer{}); crm.ErrorCode(err) != crm.EINVALID {
		t.Fatalf("no client id: %v", err)
	}
}

func TestTokenStore(t *testing.T) {
	t.Parallel()
	o := &oauthServer{t: t}
	srv := httptest.NewServer(o)
	defer srv.Close()
	dir := filepath.Join(t.TempDir(), "tokens")
	store := graph.NewTokenStore(dir)
	if _, err := store.Load("alice"); crm.ErrorCode(err) != crm.ENOTFOUND {
		t.Fatalf("Load before sign-in: %v", err)
	}
	expired := &oauth2.Token{AccessToken: "access-1-secret", RefreshToken: "refresh-1-secret", TokenType: "Bearer", Expiry: time.Now().Add(-time.Minute)}
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
	ts, err := store.TokenSource(context.Background(), authConfig(srv), "alice")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "access-2-secret" {
		t.Fatalf("refreshed token = %q", tok.AccessToken)
	}
	saved, err := store.Load("alice")
	if err != nil || saved.AccessToken != "access-2-secret" || saved.RefreshToken != "refresh-2-secret" {
		t.Fatalf("saved after refresh = %+v, %v", saved, err)
	}
	if err := store.Delete("alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Load("alice"); crm.ErrorCode(err) != crm.ENOTFOUND {
		t.Fatalf("after Delete: %v", err)
	}
}
