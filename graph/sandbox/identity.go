package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Identity stands in, on loopback, for the Microsoft identity platform's
// device authorization and token endpoints, which tests cannot reach. It
// follows "Microsoft identity platform and the OAuth 2.0 device
// authorization grant flow"
// (learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code) and
// RFC 8628:
//
//	POST /{tenant}/oauth2/v2.0/devicecode  client_id, scope → device_code, user_code,
//	                                       verification_uri, expires_in, interval, message
//	POST /{tenant}/oauth2/v2.0/token       grant_type=urn:ietf:params:oauth:grant-type:device_code:
//	                                       authorization_pending until the user approves or
//	                                       declines (authorization_declined), slow_down when
//	                                       asked to by SlowDown (the client must then poll 5 s
//	                                       slower), expired_token after expires_in,
//	                                       bad_verification_code for an unknown device code;
//	                                       grant_type=refresh_token rotates both tokens
//
// Errors are 400 with {"error","error_description"}; tokens are
// {"token_type":"Bearer","scope","expires_in","access_token","refresh_token"}.
// The user's side (the browser at verification_uri) is Approve and
// Decline.
type Identity struct {
	ClientID  string        // the only client id accepted
	ExpiresIn time.Duration // how long a code lasts (default 15 minutes, Microsoft's)
	Interval  int           // seconds between polls (default 5)

	mu      sync.Mutex
	grants  map[string]*grant // by device code
	refresh map[string]bool   // refresh tokens issued and not yet rotated
}

type grant struct {
	userCode  string
	expires   time.Time
	approved  bool
	declined  bool
	slowDown  bool
	polls     int
	redeemed  bool
	lastToken string
}

// Endpoint is the oauth2 endpoint of tenant on the Identity served at base.
func (id *Identity) Endpoint(base, tenant string) oauth2.Endpoint {
	return oauth2.Endpoint{
		DeviceAuthURL: base + "/" + tenant + "/oauth2/v2.0/devicecode",
		TokenURL:      base + "/" + tenant + "/oauth2/v2.0/token",
		AuthStyle:     oauth2.AuthStyleInParams,
	}
}

// Approve is the user signing in with userCode; false when no code is.
func (id *Identity) Approve(userCode string) bool {
	return id.with(userCode, func(g *grant) { g.approved = true })
}

// Decline is the user refusing the sign-in of userCode.
func (id *Identity) Decline(userCode string) bool {
	return id.with(userCode, func(g *grant) { g.declined = true })
}

// SlowDown answers the next poll of userCode with slow_down.
func (id *Identity) SlowDown(userCode string) bool {
	return id.with(userCode, func(g *grant) { g.slowDown = true })
}

// Polls is how often the client polled for userCode's token.
func (id *Identity) Polls(userCode string) int {
	n := 0
	id.with(userCode, func(g *grant) { n = g.polls })
	return n
}

// AccessToken is the access token last issued for userCode ("" before).
func (id *Identity) AccessToken(userCode string) string {
	t := ""
	id.with(userCode, func(g *grant) { t = g.lastToken })
	return t
}

func (id *Identity) with(userCode string, fn func(*grant)) bool {
	id.mu.Lock()
	defer id.mu.Unlock()
	for _, g := range id.grants {
		if g.userCode == userCode {
			fn(g)
			return true
		}
	}
	return false
}

func (id *Identity) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		identityError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	if r.PostForm.Get("client_id") != id.ClientID {
		identityError(w, http.StatusBadRequest, "unauthorized_client")
		return
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	switch {
	case strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/devicecode"):
		id.deviceCode(w, r)
	case strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token"):
		id.token(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (id *Identity) deviceCode(w http.ResponseWriter, r *http.Request) {
	if !strings.Contains(" "+r.PostForm.Get("scope")+" ", " offline_access ") {
		identityError(w, http.StatusBadRequest, "invalid_scope")
		return
	}
	life, interval := id.ExpiresIn, id.Interval
	if life <= 0 {
		life = 15 * time.Minute
	}
	if interval <= 0 {
		interval = 5
	}
	if id.grants == nil {
		id.grants, id.refresh = map[string]*grant{}, map[string]bool{}
	}
	code := strings.ToUpper(randomHex(4))
	g := &grant{userCode: code[:4] + "-" + code[4:], expires: time.Now().Add(life)}
	device := randomHex(24)
	id.grants[device] = g
	const uri = "https://microsoft.com/devicelogin"
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code": device, "user_code": g.userCode, "verification_uri": uri,
		"expires_in": int(life.Seconds()), "interval": interval,
		"message": "To sign in, use a web browser to open the page " + uri + " and enter the code " + g.userCode + " to authenticate.",
	})
}

func (id *Identity) token(w http.ResponseWriter, r *http.Request) {
	switch r.PostForm.Get("grant_type") {
	case "urn:ietf:params:oauth:grant-type:device_code":
		g := id.grants[r.PostForm.Get("device_code")]
		switch {
		case g == nil || g.redeemed:
			identityError(w, http.StatusBadRequest, "bad_verification_code")
			return
		case time.Now().After(g.expires):
			identityError(w, http.StatusBadRequest, "expired_token")
			return
		}
		g.polls++
		switch {
		case g.slowDown:
			g.slowDown = false
			identityError(w, http.StatusBadRequest, "slow_down")
		case g.declined:
			identityError(w, http.StatusBadRequest, "authorization_declined")
		case !g.approved:
			identityError(w, http.StatusBadRequest, "authorization_pending")
		default:
			g.redeemed = true
			g.lastToken = id.issue(w)
		}
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if !id.refresh[rt] {
			identityError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		delete(id.refresh, rt)
		id.issue(w)
	default:
		identityError(w, http.StatusBadRequest, "unsupported_grant_type")
	}
}

// issue writes a new token pair and returns its access token.
func (id *Identity) issue(w http.ResponseWriter) string {
	access, refresh := "at-"+randomHex(16), "rt-"+randomHex(16)
	id.refresh[refresh] = true
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "scope": "Contacts.ReadWrite", "expires_in": 3599,
		"access_token": access, "refresh_token": refresh,
	})
	return access
}

func identityError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": "AADSTS: " + code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
