package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	crm "github.com/crmsync/crmsync"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/microsoft"
)

// Scopes are the delegated permissions crmsync asks for: the user's
// contacts, and offline_access for a refresh token (§1.13).
var Scopes = []string{"Contacts.ReadWrite", "offline_access"}

// AuthConfig says which Microsoft identity platform app signs users in.
type AuthConfig struct {
	// Tenant is "common" (default), "organizations", "consumers" or a
	// tenant id. Contact photos can be written only in work or school
	// mailboxes (§1.4).
	Tenant string
	// ClientID is the app registration's id; the registration must allow
	// public client flows (§1.13). Required.
	ClientID string
	// Endpoint overrides the Microsoft endpoints of Tenant (tests).
	Endpoint *oauth2.Endpoint
	// HTTPClient sends the OAuth requests (default http.DefaultClient).
	HTTPClient *http.Client
}

// OAuth2 returns the oauth2 configuration of a.
func (a AuthConfig) OAuth2() *oauth2.Config {
	ep := microsoft.AzureADEndpoint(a.Tenant)
	if a.Endpoint != nil {
		ep = *a.Endpoint
	}
	return &oauth2.Config{ClientID: a.ClientID, Endpoint: ep, Scopes: Scopes}
}

func (a AuthConfig) context(ctx context.Context) context.Context {
	if a.HTTPClient != nil {
		return context.WithValue(ctx, oauth2.HTTPClient, a.HTTPClient)
	}
	return ctx
}

// DeviceLogin signs a user in with the OAuth 2.0 device code flow: it
// prints where to go and which code to enter to out, then waits (polling
// as the server asks) until the user has signed in, declined, or the code
// expired. The token is returned, never printed.
func DeviceLogin(ctx context.Context, cfg AuthConfig, out io.Writer) (*oauth2.Token, error) {
	si, err := StartDeviceSignIn(ctx, cfg)
	if err != nil {
		return nil, err
	}
	msg := fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.", si.VerificationURI, si.UserCode)
	if !si.Expiry.IsZero() {
		msg += fmt.Sprintf(" The code expires in %d minutes.", int(time.Until(si.Expiry).Round(time.Minute)/time.Minute))
	}
	if _, err := fmt.Fprintln(out, msg); err != nil {
		return nil, fmt.Errorf("printing the sign-in code: %w", err)
	}
	return si.Wait(ctx)
}

// DeviceSignIn is a started device code sign-in (§1.13): the user enters
// UserCode at VerificationURI before Expiry while Wait polls for the
// token. The device code, the secret half, stays inside.
type DeviceSignIn struct {
	UserCode        string
	VerificationURI string
	Expiry          time.Time // zero when the server gave none
	cfg             AuthConfig
	da              *oauth2.DeviceAuthResponse
}

// StartDeviceSignIn asks the identity platform for a device code; the
// CLI prints it, the web UI shows it on the page.
func StartDeviceSignIn(ctx context.Context, cfg AuthConfig) (*DeviceSignIn, error) {
	if cfg.ClientID == "" {
		return nil, crm.Errorf(crm.EINVALID, "a Microsoft app (client) id is required to sign in")
	}
	da, err := cfg.OAuth2().DeviceAuth(cfg.context(ctx))
	if err != nil {
		return nil, fmt.Errorf("starting the Microsoft sign-in: %w", err)
	}
	return &DeviceSignIn{UserCode: da.UserCode, VerificationURI: da.VerificationURI, Expiry: da.Expiry, cfg: cfg, da: da}, nil
}

// Why a device sign-in ended without a token, as SignInFailure names it.
const (
	SignInDeclined  = "declined"
	SignInExpired   = "expired"
	SignInCancelled = "cancelled"
)

// signInError is a device sign-in that ended without a token.
type signInError struct {
	why string
	err error
}

func (e *signInError) Error() string { return "Microsoft sign-in " + e.why + ": " + e.err.Error() }
func (e *signInError) Unwrap() error { return e.err }

// SignInFailure names why err ended a device sign-in (SignInDeclined,
// SignInExpired, SignInCancelled), "" when it is another failure.
func SignInFailure(err error) string {
	var se *signInError
	if errors.As(err, &se) {
		return se.why
	}
	return ""
}

// Wait polls at the interval the server asks (slowing down when told)
// until the user has signed in, declined, the code expired or ctx ends.
func (s *DeviceSignIn) Wait(ctx context.Context) (*oauth2.Token, error) {
	tok, err := s.cfg.OAuth2().DeviceAccessToken(s.cfg.context(ctx), s.da)
	if err == nil {
		return tok, nil
	}
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re):
		msg := "Microsoft sign-in failed: " + re.ErrorCode
		switch re.ErrorCode {
		case "authorization_declined", "access_denied":
			err = &signInError{SignInDeclined, err}
		case "expired_token", "code_expired":
			err = &signInError{SignInExpired, err}
		}
		return nil, &crm.Error{Code: crm.EUNAUTHORIZED, Message: msg, Err: err}
	case ctx.Err() != nil:
		return nil, &signInError{SignInCancelled, err}
	case errors.Is(err, context.DeadlineExceeded): // the code's own expiry passed
		return nil, &crm.Error{Code: crm.EUNAUTHORIZED, Message: "Microsoft sign-in failed: the code expired", Err: &signInError{SignInExpired, err}}
	}
	return nil, fmt.Errorf("waiting for the Microsoft sign-in: %w", err)
}

// TokenStore keeps each user's OAuth token (with its refresh token) in a
// JSON file of its own, readable by the owner only (0600, in a 0700
// directory), so that sync can run unattended after one sign-in.
type TokenStore struct {
	dir string
	mu  sync.Mutex
}

// NewTokenStore returns a store keeping tokens in dir.
func NewTokenStore(dir string) *TokenStore { return &TokenStore{dir: dir} }

func (s *TokenStore) path(user string) (string, error) {
	if user == "" {
		return "", crm.Errorf(crm.EINVALID, "a user name is required to store a token")
	}
	return filepath.Join(s.dir, url.PathEscape(user)+".json"), nil
}

// Save writes user's token, replacing any earlier one atomically.
func (s *TokenStore) Save(user string, tok *oauth2.Token) error {
	p, err := s.path(user)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("creating the token directory: %w", err)
	}
	if err := os.Chmod(s.dir, 0o700); err != nil {
		return fmt.Errorf("securing the token directory: %w", err)
	}
	data, err := json.Marshal(tok)
	if err != nil {
		return fmt.Errorf("encoding a token: %w", err)
	}
	f, err := os.CreateTemp(s.dir, ".token-*")
	if err != nil {
		return fmt.Errorf("saving a token: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("saving a token: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("saving a token: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("saving a token: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("saving a token: %w", err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return fmt.Errorf("saving a token: %w", err)
	}
	return nil
}

// Load reads user's token; ENOTFOUND when the user never signed in.
func (s *TokenStore) Load(user string) (*oauth2.Token, error) {
	p, err := s.path(user)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, crm.Errorf(crm.ENOTFOUND, "user %q has not signed in to Microsoft 365; run crmsync outlook connect", user)
	}
	if err != nil {
		return nil, fmt.Errorf("reading a token: %w", err)
	}
	var tok oauth2.Token
	if err := json.Unmarshal(data, &tok); err != nil {
		return nil, crm.Errorf(crm.EINVALID, "the stored token of user %q is unreadable; sign in again", user)
	}
	return &tok, nil
}

// Delete forgets user's token (sign-out); no token is not an error.
func (s *TokenStore) Delete(user string) error {
	p, err := s.path(user)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting a token: %w", err)
	}
	return nil
}

// TokenSource returns user's stored token, refreshed through cfg when it
// expires; every refreshed token is saved at once, because Microsoft
// rotates refresh tokens and the old one may stop working.
func (s *TokenStore) TokenSource(ctx context.Context, cfg AuthConfig, user string) (oauth2.TokenSource, error) {
	tok, err := s.Load(user)
	if err != nil {
		return nil, err
	}
	base := cfg.OAuth2().TokenSource(cfg.context(ctx), tok)
	return &savingSource{base: base, store: s, user: user, last: tok.AccessToken}, nil
}

// savingSource saves each new token its base source yields.
type savingSource struct {
	base  oauth2.TokenSource
	store *TokenStore
	user  string
	mu    sync.Mutex
	last  string
}

func (s *savingSource) Token() (*oauth2.Token, error) {
	tok, err := s.base.Token()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok.AccessToken != s.last {
		if err := s.store.Save(s.user, tok); err != nil {
			return nil, err
		}
		s.last = tok.AccessToken
	}
	return tok, nil
}
