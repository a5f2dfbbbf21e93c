package ewayapi

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/crmsync/crmsync"
)

// TokenPath is eWay's OAuth 2.0 token endpoint, next to the API under the
// service URL (php-lib callTokenEndpoint, js-lib OAuthHelper).
const TokenPath = "/auth/connect/token"

// Lifetimes of the tokens the token endpoint issues.
const (
	accessTokenTTL  = time.Hour
	refreshTokenTTL = 30 * 24 * time.Hour
	maxTokens       = 20000 // access and refresh tokens held in memory
)

const rcBadAccessToken = "rcBadAccessToken"

// token is one issued access or refresh token: the user it acts as (with
// the password stamp of its sign-in, so a password change ends it like a
// session) and when it expires.
type token struct {
	user    *crmsync.User
	refresh bool
	expires time.Time
}

// tokens holds the issued tokens in memory by the hex MD5 of the token, so
// the map holds no usable secret. A restart ends them all; clients then
// sign in again with their password.
type tokens struct {
	mu    sync.Mutex
	now   func() time.Time
	byKey map[string]*token
}

func tokenKey(t string) string { h := md5.Sum([]byte(t)); return hex.EncodeToString(h[:]) }

func (ts *tokens) issue(u *crmsync.User, refresh bool) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	t := base64.RawURLEncoding.EncodeToString(b[:])
	ttl := accessTokenTTL
	if refresh {
		ttl = refreshTokenTTL
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	now := ts.now()
	if len(ts.byKey) >= maxTokens {
		for k, tk := range ts.byKey {
			if !now.Before(tk.expires) {
				delete(ts.byKey, k)
			}
		}
		if len(ts.byKey) >= maxTokens {
			return "", crmsync.Errorf(crmsync.EUNAUTHORIZED, "too many tokens issued: try again later")
		}
	}
	ts.byKey[tokenKey(t)] = &token{user: u, refresh: refresh, expires: now.Add(ttl)}
	return t, nil
}

// get returns the user of a live token of the given kind; take also ends
// it (a refresh token is used once).
func (ts *tokens) get(t string, refresh, take bool) (*crmsync.User, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	k := tokenKey(t)
	tk, ok := ts.byKey[k]
	if !ok || tk.refresh != refresh {
		return nil, false
	}
	if !ts.now().Before(tk.expires) || take {
		delete(ts.byKey, k)
	}
	return tk.user, ts.now().Before(tk.expires)
}

// tokenLive reports whether t is a live access token.
func (s *Server) tokenLive(t string) bool {
	_, ok := s.tokens.get(t, false, false)
	return ok
}

func (ts *tokens) remove(t string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	delete(ts.byKey, tokenKey(t))
}

// bearer returns the token of an "Authorization: Bearer" header and
// whether the header was sent (eWay's JavaScript client sends it empty
// before its first refresh and expects 401 for it).
func bearer(r *http.Request) (string, bool) {
	scheme, t, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(t), true
}

// tokenReply is the token endpoint's answer (RFC 6749 §5.1, §5.2).
type tokenReply struct {
	AccessToken      string `json:"access_token,omitempty"`
	TokenType        string `json:"token_type,omitempty"`
	ExpiresIn        int    `json:"expires_in,omitempty"`
	RefreshToken     string `json:"refresh_token,omitempty"`
	Scope            string `json:"scope,omitempty"`
	Error            string `json:"error,omitempty"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// serveToken is the OAuth 2.0 token endpoint for the grants eWay's clients
// use: password (username, password) and refresh_token. client_id and
// client_secret are accepted and not checked: crmsync registers no OAuth
// clients, the user's password is the credential. The password grant goes
// through the CRM's Authenticate, so the lockout that guards LogIn guards
// it too.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, desc string) {
		writeToken(w, status, &tokenReply{Error: code, ErrorDescription: desc})
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(http.StatusMethodNotAllowed, "invalid_request", "the token endpoint takes POST with a form body")
		return
	}
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || !strings.EqualFold(u.Host, r.Host) {
			fail(http.StatusForbidden, "invalid_request", "cross-site token request refused")
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, smallBodyBytes)
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "invalid_request", "the body must be an application/x-www-form-urlencoded form of at most 64 KiB")
		return
	}
	ctx := crmsync.WithClientAddr(r.Context(), r.RemoteAddr)
	var u *crmsync.User
	switch grant := r.PostForm.Get("grant_type"); grant {
	case "password":
		name, pw := r.PostForm.Get("username"), r.PostForm.Get("password")
		if name == "" || pw == "" {
			fail(http.StatusBadRequest, "invalid_request", "the password grant needs username and password")
			return
		}
		var err error
		if u, err = s.crm.Authenticate(ctx, name, crmsync.PasswordMD5(pw)); err != nil {
			if crmsync.ErrorCode(err) == crmsync.EUNAUTHORIZED {
				fail(http.StatusBadRequest, "invalid_grant", crmsync.ErrorMessage(err))
				return
			}
			s.log.ErrorContext(ctx, "token endpoint: authenticating", "err", err)
			fail(http.StatusInternalServerError, "server_error", "internal error")
			return
		}
	case "refresh_token":
		var ok bool
		if u, ok = s.tokens.get(r.PostForm.Get("refresh_token"), true, true); !ok {
			fail(http.StatusBadRequest, "invalid_grant", "the refresh token is unknown or expired: sign in with the password grant")
			return
		}
		if err := s.checkUser(ctx, u); err != nil {
			fail(http.StatusBadRequest, "invalid_grant", "the refresh token no longer works: "+crmsync.ErrorMessage(err))
			return
		}
	case "":
		fail(http.StatusBadRequest, "invalid_request", "missing grant_type")
		return
	default:
		fail(http.StatusBadRequest, "unsupported_grant_type", "grant_type "+truncate(grant)+" is not supported: use password or refresh_token")
		return
	}
	access, err := s.tokens.issue(u, false)
	if err == nil {
		var refresh string
		if refresh, err = s.tokens.issue(u, true); err == nil {
			writeToken(w, http.StatusOK, &tokenReply{AccessToken: access, TokenType: "Bearer",
				ExpiresIn: int(accessTokenTTL / time.Second), RefreshToken: refresh, Scope: "api offline_access"})
			return
		}
	}
	fail(http.StatusServiceUnavailable, "temporarily_unavailable", crmsync.ErrorMessage(err))
}

// checkUser asks the CRM whether u still may act (its password unchanged,
// the user not removed): the same check every call of a session makes.
func (s *Server) checkUser(ctx context.Context, u *crmsync.User) error {
	_, err := s.crm.MyRights(crmsync.WithUser(ctx, u))
	return err
}

func writeToken(w http.ResponseWriter, status int, rep *tokenReply) {
	buf, _ := json.Marshal(rep)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	w.Write(buf)
}

// badAccessToken is the answer to an API call with an unknown or expired
// bearer token: HTTP 401 (on which eWay's JavaScript client refreshes the
// token) with rcBadAccessToken (on which its PHP client does).
var badAccessToken = &decodeError{code: rcBadAccessToken, msg: "the access token is unknown or expired: refresh it at " + TokenPath}
