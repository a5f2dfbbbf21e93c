package ewayapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crmsync/crmsync"
)

// tokenCall posts form to the token endpoint as eWay's clients do
// (js-lib OAuthHelper.callTokenEndpoint, php-lib callTokenEndpoint:
// application/x-www-form-urlencoded).
func (f *fixture) tokenCall(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(f.url+"/auth/connect/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("token answer is not JSON: %v", err)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("token answer Cache-Control %q", cc)
	}
	return resp.StatusCode, out
}

// postBearer posts body to method with an Authorization: Bearer header.
func (f *fixture) postBearer(t *testing.T, method, tok, body string) (int, reply) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.url+"/API.svc/"+method, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r reply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, r
}

// TestOAuthTokenEndpoint: the password grant gives a bearer token the API
// takes (LogIn with it, as js-lib OAuthSessionHandlerBase does, or any
// method without a session) with the user's rights; a refresh token works
// once; a bad token answers 401 rcBadAccessToken; a password change ends
// the tokens.
func TestOAuthTokenEndpoint(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	code, tok := f.tokenCall(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"},
		"client_id": {"any"}, "client_secret": {"any"}})
	if code != 200 || tok["token_type"] != "Bearer" || tok["access_token"] == nil || tok["refresh_token"] == nil || tok["expires_in"] != 3600.0 {
		t.Fatalf("password grant: HTTP %d %v", code, tok)
	}
	access := tok["access_token"].(string)

	// js-lib OAuthSessionHandlerBase.getSessionId: LogIn with userName,
	// appVersion, createSessionCookie and the token in the header.
	status, r := f.postBearer(t, "LogIn", access, `{"userName":"alice","appVersion":"eWay-JS","createSessionCookie":false}`)
	if status != 200 || r.code() != "rcSuccess" || r["SessionId"] == nil {
		t.Fatalf("LogIn with the token: HTTP %d %v", status, r)
	}
	s := r["SessionId"].(string)
	f.ok(s, "SaveContact", map[string]any{"transmitObject": map[string]any{"LastName": "Token"}})
	if status, r = f.postBearer(t, "GetContacts", access, `{}`); status != 200 || r.code() != "rcSuccess" || len(r.data()) != 1 {
		t.Errorf("GetContacts with the token alone: HTTP %d %v", status, r)
	}
	if status, r = f.postBearer(t, "LogIn", access, `{"userName":"bob"}`); r.code() != "rcLoginFailed" {
		t.Errorf("LogIn as bob with alice's token: HTTP %d %v", status, r)
	}

	// Bob's token carries bob's rights: no View on contacts.
	_, bt := f.tokenCall(t, url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"bob-pw"}})
	if _, r = f.postBearer(t, "GetContacts", bt["access_token"].(string), `{}`); r.code() == "rcSuccess" && len(r.data()) != 0 {
		t.Errorf("bob's token reads alice's contact: %v", r)
	}

	// js-lib sends an empty token before its first refresh and expects 401.
	if status, r := f.postBearer(t, "LogIn", "", `{"userName":"alice","appVersion":"eWay-JS"}`); status != 401 || r.code() != "rcBadAccessToken" {
		t.Errorf("LogIn with an empty bearer token: HTTP %d %v, want 401 rcBadAccessToken", status, r)
	}
	for _, bad := range []string{"nonsense", tok["refresh_token"].(string)} { // a refresh token is no access token
		if status, r := f.postBearer(t, "LogIn", bad, `{"userName":"alice"}`); status != 401 || r.code() != "rcBadAccessToken" {
			t.Errorf("LogIn with %q: HTTP %d %v, want 401 rcBadAccessToken", bad[:4], status, r)
		}
		if status, r := f.postBearer(t, "GetContacts", bad, `{}`); status != 401 || r.code() != "rcBadAccessToken" {
			t.Errorf("GetContacts with %q: HTTP %d %v", bad[:4], status, r)
		}
	}

	// php-lib refreshAccessToken / js-lib OAuthHelper.refreshToken.
	refresh := url.Values{"client_id": {"c"}, "client_secret": {"s"}, "refresh_token": {tok["refresh_token"].(string)}, "grant_type": {"refresh_token"}}
	code, tok2 := f.tokenCall(t, refresh)
	if code != 200 || tok2["access_token"] == nil || tok2["access_token"] == access {
		t.Fatalf("refresh grant: HTTP %d %v", code, tok2)
	}
	if code, again := f.tokenCall(t, refresh); code != 400 || again["error"] != "invalid_grant" {
		t.Errorf("second use of a refresh token: HTTP %d %v", code, again)
	}

	for _, form := range []url.Values{
		{"grant_type": {"password"}, "username": {"alice"}, "password": {"wrong"}},
		{"grant_type": {"password"}, "username": {"alice"}},
		{"grant_type": {"authorization_code"}, "code": {"x"}},
		{},
	} {
		if code, out := f.tokenCall(t, form); code != 400 || out["error"] == nil || out["access_token"] != nil {
			t.Errorf("%v: HTTP %d %v", form, code, out)
		}
	}

	// A password change ends the tokens, as it ends sessions.
	must(t, f.crm.SetPassword(crmsync.System(context.Background()), "alice", "new-pw"))
	if status, r := f.postBearer(t, "GetContacts", tok2["access_token"].(string), `{}`); r.code() == "rcSuccess" {
		t.Errorf("token after a password change: HTTP %d %v", status, r)
	}
	if code, out := f.tokenCall(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok2["refresh_token"].(string)}}); code != 400 {
		t.Errorf("refresh after a password change: HTTP %d %v", code, out)
	}
}

// TestOAuthSharesLoginLockout: failed password grants count in the same
// limiter as LogIn (the service's Authenticate): after the address's
// failures through the token endpoint, LogIn with the right password from
// that address is refused too, and nothing is issued.
func TestOAuthSharesLoginLockout(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	if _, err := f.crm.AddUser(crmsync.System(context.Background()), "carol", "carol-pw", false); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if code, out := f.tokenCall(t, url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {"guess"}}); code != 400 {
			t.Fatalf("guess %d: HTTP %d %v", i, code, out)
		}
	}
	r := f.post("LogIn", map[string]any{"userName": "carol", "passwordHash": crmsync.PasswordMD5("carol-pw")})
	if r.code() != "rcLoginFailed" {
		t.Errorf("LogIn after 10 failed token grants: %s %q, want rcLoginFailed", r.code(), r.desc())
	}
	if code, out := f.tokenCall(t, url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {"carol-pw"}}); code != 400 || out["access_token"] != nil {
		t.Errorf("right password through the token endpoint while locked: HTTP %d %v", code, out)
	}
}
