package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmsync/crmsync"
)

// TestServeUnderBasePath: with --base-path the API (at every eWay path,
// in any case), CardDAV and its links live under the prefix, and paths
// outside it or unknown inside it answer the eWay JSON envelope. The
// service URL is written as eWay's PHP client is given one
// (php-lib README: new eWayConnector('https://free.eway-crm.com/31994', ...)),
// with a path, to which the client adds InsecureAPI.svc/Login.
func TestServeUnderBasePath(t *testing.T) {
	db := filepath.Join(t.TempDir(), "crm.db")
	t.Setenv("CRMSYNC_DB", db)
	mustRun(t, "group", "set", "sales", "--module", "all", "--view", "All", "--edit", "All", "--delete", "Own", "--create", "--export")
	mustRun(t, "user", "add", "alice", "--password", "wonderland", "--group", "sales")
	url, _ := startServe(t, "--base-path", "/31994/")
	if !strings.HasSuffix(url, "/31994") {
		t.Fatalf("serve reported %s, want the base path in the URL", url)
	}
	root := strings.TrimSuffix(url, "/31994")

	post := func(u, body string) (int, envelope) {
		t.Helper()
		resp, err := http.Post(u, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e envelope
		raw, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("POST %s: answer is not JSON: %q", u, raw)
		}
		return resp.StatusCode, e
	}
	login := `{"userName":"alice","passwordHash":"` + crmsync.PasswordMD5("wonderland") + `","appVersion":"PHP2.5.1","clientMachineIdentifier":null}`
	for _, path := range []string{"/InsecureAPI.svc/Login", "/API.svc/LogIn", "/WcfService/Service.svc/LOGIN", "/insecureapi.svc/login"} {
		if code, e := post(url+path, login); code != 200 || e.ReturnCode != "rcSuccess" || e.SessionId == "" {
			t.Errorf("%s: HTTP %d %+v", path, code, e)
		}
	}
	for _, u := range []string{root + "/InsecureAPI.svc/Login", url + "/NoSuch.svc/Login", url + "/Service.svc/Login"} {
		code, e := post(u, login)
		if code != http.StatusNotFound || e.ReturnCode != "rcGeneralError" || !strings.Contains(e.Description, "API.svc") {
			t.Errorf("%s: HTTP %d %+v, want 404 with the envelope", u, code, e)
		}
	}

	// CardDAV: the well-known address sends the client under the base path,
	// and the hrefs it answers carry it.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, u := range []string{url + "/.well-known/carddav", root + "/.well-known/carddav"} {
		resp, err := noRedirect.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || loc != "/31994/dav/" {
			t.Errorf("%s: HTTP %d Location %q, want a redirect to /31994/dav/", u, resp.StatusCode, loc)
		}
	}
	// A client given the server's address asks its root with PROPFIND: it
	// is sent on to the DAV root, while a browser gets the web UI there.
	for _, method := range []string{"PROPFIND", "GET"} {
		req, _ := http.NewRequest(method, url+"/", nil)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if method == "PROPFIND" && (resp.StatusCode != http.StatusMovedPermanently || loc != "/31994/dav/") {
			t.Errorf("PROPFIND on the root: HTTP %d Location %q, want 301 to /31994/dav/", resp.StatusCode, loc)
		}
		if method == "GET" && (resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "/31994/signin")) {
			t.Errorf("GET on the root: HTTP %d Location %q, want the web UI's sign-in", resp.StatusCode, loc)
		}
	}
	req, _ := http.NewRequest("PROPFIND", url+"/dav/", bytes.NewReader([]byte(`<?xml version="1.0"?><propfind xmlns="DAV:"><prop><current-user-principal/></prop></propfind>`)))
	req.Header.Set("Depth", "0")
	req.SetBasicAuth("alice", "wonderland")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 207 || !strings.Contains(string(body), "/31994/dav/principals/alice/") {
		t.Errorf("PROPFIND: HTTP %d %s", resp.StatusCode, body)
	}

	// The web UI: its start page sends the browser to the sign-in page
	// under the base path, whose form, links and style sheet carry it too.
	resp, err = noRedirect.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || loc != "/31994/signin" {
		t.Errorf("GET %s/: HTTP %d Location %q, want a redirect to /31994/signin", url, resp.StatusCode, loc)
	}
	resp, err = http.Get(url + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`action="/31994/signin"`, `href="/31994/static/style.css"`} {
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s/signin: HTTP %d, want %s in %.300s", url, resp.StatusCode, want, body)
		}
	}

	if code, _, errOut := run(t, "", "serve", "--base-path", "eway/../x"); code != 2 || !strings.Contains(errOut, "--base-path") {
		t.Errorf("bad --base-path: exit %d %q", code, errOut)
	}
}
