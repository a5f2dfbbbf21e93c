package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/internal/testenv"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine to write
// while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run runs the command line and returns its exit code and output.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// mustRun runs the command line and fails unless it exits 0.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := run(t, "", args...)
	if code != 0 {
		t.Fatalf("crmsync %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// startServe runs `crmsync serve` on a free loopback port until the test
// ends and returns its base URL and stdout.
func startServe(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	base, out, _ := startStoppableServe(t, args...)
	return base, out
}

// startStoppableServe is startServe with stop, which shuts serve down
// before the test ends and checks it exited cleanly; it may be called more
// than once.
func startStoppableServe(t *testing.T, args ...string) (string, *syncBuffer, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...), strings.NewReader(""), out, errOut)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("serve exited %d after shutdown:\n%s", code, errOut.String())
				}
			case <-time.After(15 * time.Second):
				t.Errorf("serve did not shut down")
			}
		})
	}
	t.Cleanup(stop)
	re := regexp.MustCompile(`listening on (http://\S+)`)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1], out, stop
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("serve exited %d:\n%s%s", code, out.String(), errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not report its address:\n%s%s", out.String(), errOut.String())
	return "", nil, nil
}

type envelope struct {
	ReturnCode  string
	Description string
	SessionId   string
	Guid        string
	ItemVersion int
	Datum       any
	Data        []map[string]any
}

func api(t *testing.T, base, method string, params map[string]any) envelope {
	t.Helper()
	e, err := callAPI(base, method, params)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// callAPI is api for goroutines, which must not call t.Fatal.
func callAPI(base, method string, params map[string]any) (envelope, error) {
	return callAPIFrom(http.DefaultClient, base, method, params)
}

// callAPIFrom is callAPI through client c.
func callAPIFrom(c *http.Client, base, method string, params map[string]any) (envelope, error) {
	body, _ := json.Marshal(params)
	resp, err := c.Post(base+"/API.svc/"+method, "application/json", bytes.NewReader(body))
	if err != nil {
		return envelope{}, err
	}
	defer resp.Body.Close()
	var e envelope
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		return envelope{}, fmt.Errorf("%s: %v", method, err)
	}
	return e, nil
}

func login(t *testing.T, base, user, password string) string {
	t.Helper()
	e := api(t, base, "LogIn", map[string]any{"userName": user, "passwordHash": crmsync.PasswordMD5(password)})
	if e.ReturnCode != "rcSuccess" {
		t.Fatalf("LogIn %s: %s %s", user, e.ReturnCode, e.Description)
	}
	return e.SessionId
}

// TestEndToEnd is the "done when": users made with the CLI, the
// API driven over HTTP against `crmsync serve`.
func TestEndToEnd(t *testing.T) {
	t.Setenv("CRMSYNC_DB", filepath.Join(t.TempDir(), "crm.db")) // every command finds the database through the environment
	testEndToEnd(t)
}

// TestEndToEndOnPostgres is TestEndToEnd with the CRM on PostgreSQL, named
// by CRMSYNC_POSTGRES as an administrator would set it.
func TestEndToEndOnPostgres(t *testing.T) {
	t.Setenv("CRMSYNC_POSTGRES", testenv.Postgres(t))
	dir := t.TempDir()
	t.Setenv("CRMSYNC_DB", filepath.Join(dir, "crm.db"))
	testEndToEnd(t)
	if _, err := os.Stat(filepath.Join(dir, "crm.db")); err == nil {
		t.Error("a SQLite file was created although the CRM is on PostgreSQL")
	}
}

func testEndToEnd(t *testing.T) {
	mustRun(t, "group", "set", "sales", "--module", "all", "--view", "All", "--edit", "All", "--delete", "Own", "--create", "--export")
	mustRun(t, "user", "add", "alice", "--password", "wonderland", "--group", "sales")
	if code, _, errOut := run(t, "through the looking glass\n", "user", "add", "bob", "--password", "-"); code != 0 {
		t.Fatalf("user add bob: %d %s", code, errOut)
	}
	users := mustRun(t, "user", "list")
	if !regexp.MustCompile(`(?m)^alice\s+false\s+false\s+sales\s`).MatchString(users) || !strings.Contains(users, "bob") {
		t.Errorf("user list:\n%s", users)
	}

	base, out := startServe(t)
	if !strings.Contains(out.String(), "crmsync user passwd admin --password P") {
		t.Errorf("serve did not say how to set the admin password:\n%s", out.String())
	}

	alice := login(t, base, "alice", "wonderland")
	saved := api(t, base, "SaveContact", map[string]any{"sessionId": alice,
		"transmitObject": map[string]any{"FirstName": "Jan", "LastName": "Novák", "Email1Address": "jan@example.com"}})
	if saved.ReturnCode != "rcSuccess" || saved.Guid == "" {
		t.Fatalf("SaveContact: %+v", saved)
	}
	got := api(t, base, "GetContacts", map[string]any{"sessionId": alice})
	if len(got.Data) != 1 || got.Data[0]["ItemGUID"] != saved.Guid || got.Data[0]["LastName"] != "Novák" {
		t.Fatalf("GetContacts: %+v", got)
	}
	upd := api(t, base, "SaveContact", map[string]any{"sessionId": alice, "dieOnItemConflict": true,
		"transmitObject": map[string]any{"ItemGUID": saved.Guid, "ItemVersion": 2, "TelephoneNumber3": "+420 777 000 111"}})
	if upd.ReturnCode != "rcSuccess" {
		t.Fatalf("update: %+v", upd)
	}
	stale := api(t, base, "SaveContact", map[string]any{"sessionId": alice, "dieOnItemConflict": true,
		"transmitObject": map[string]any{"ItemGUID": saved.Guid, "ItemVersion": 2, "TelephoneNumber3": "stale"}})
	if stale.ReturnCode != "rcItemConflict" {
		t.Fatalf("stale save: %+v", stale)
	}
	changes := api(t, base, "GetItemChangeIdentifiers", map[string]any{"sessionId": alice, "folderName": "Contacts", "baseChangeId": 0})
	if len(changes.Data) == 0 || changes.Data[len(changes.Data)-1]["ItemGUID"] != saved.Guid {
		t.Fatalf("GetItemChangeIdentifiers: %+v", changes)
	}

	bob := login(t, base, "bob", "through the looking glass")
	for _, c := range []struct {
		method string
		params map[string]any
	}{
		{"GetContacts", nil},
		{"GetContactsByItemGuids", map[string]any{"itemGuids": []string{saved.Guid}}},
		{"GetContactsIdentifiers", nil},
		{"SearchContacts", map[string]any{"transmitObject": map[string]any{"LastName": "Novák"}}},
		{"GetItemChangeIdentifiers", map[string]any{"folderName": "Contacts", "baseChangeId": 0}},
	} {
		p := map[string]any{"sessionId": bob}
		for k, v := range c.params {
			p[k] = v
		}
		if e := api(t, base, c.method, p); e.ReturnCode != "rcSuccess" || len(e.Data) != 0 {
			t.Errorf("bob: %s = %s %v", c.method, e.ReturnCode, e.Data)
		}
	}
	feed := api(t, base, "GetChangedItems", map[string]any{"sessionId": bob, "baseChangeId": 0})
	for _, set := range feed.Data {
		if len(set["ChangedItems"].([]any)) != 0 {
			t.Errorf("bob: GetChangedItems %v", set)
		}
	}
	if e := api(t, base, "HaveItemsChanged", map[string]any{"sessionId": bob, "baseChangeId": 0}); e.Datum != false {
		t.Errorf("bob: HaveItemsChanged = %v", e.Datum)
	}

	// The admin created at first start gets a password from the CLI while the server runs.
	mustRun(t, "user", "passwd", "admin", "--password", "s3cret")
	login(t, base, "admin", "s3cret")

	testDisabledUser(t, base, alice)
}

// testDisabledUser disables alice (signed in as session) with the CLI
// while serve runs: every way in answers her like a wrong password, the
// session and tokens she holds stop working, and enabling lets her in again.
func testDisabledUser(t *testing.T, base, session string) {
	t.Helper()
	token := func(form url.Values) (int, map[string]any) {
		t.Helper()
		resp, err := http.PostForm(base+"/auth/connect/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rep map[string]any
		json.NewDecoder(resp.Body).Decode(&rep)
		return resp.StatusCode, rep
	}
	passwordGrant := func(pw string) url.Values {
		return url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {pw}}
	}
	dav := func(pw string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("PROPFIND", base+"/dav/", nil)
		req.Header.Set("Depth", "0")
		req.SetBasicAuth("alice", pw)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	_, tok := token(passwordGrant("wonderland"))
	bearer, _ := tok["access_token"].(string)
	refresh, _ := tok["refresh_token"].(string)
	if bearer == "" || refresh == "" {
		t.Fatalf("tokens before disabling: %v", tok)
	}
	if code, _ := dav("wonderland"); code != http.StatusMultiStatus {
		t.Fatalf("CardDAV before disabling: %d", code)
	}

	admin := login(t, base, "admin", "s3cret")
	active := func() any { // alice's IsActive in eWay's GetUsers
		t.Helper()
		for _, u := range api(t, base, "GetUsers", map[string]any{"sessionId": admin}).Data {
			if u["Username"] == "alice" {
				return u["IsActive"]
			}
		}
		return nil
	}
	if a := active(); a != true {
		t.Errorf("GetUsers says alice's IsActive is %v before disabling", a)
	}

	mustRun(t, "user", "disable", "alice")
	if a := active(); a != false {
		t.Errorf("GetUsers says a disabled alice's IsActive is %v", a)
	}
	if users := mustRun(t, "user", "list"); !regexp.MustCompile(`(?m)^alice\s+false\s+true\s`).MatchString(users) {
		t.Errorf("user list does not show alice disabled:\n%s", users)
	}
	if e := api(t, base, "GetContacts", map[string]any{"sessionId": session}); e.ReturnCode != "rcBadSession" && e.ReturnCode != "rcLoginFailed" {
		t.Errorf("alice's session after disabling: %s %s", e.ReturnCode, e.Description)
	}
	right := api(t, base, "LogIn", map[string]any{"userName": "alice", "passwordHash": crmsync.PasswordMD5("wonderland")})
	wrong := api(t, base, "LogIn", map[string]any{"userName": "alice", "passwordHash": crmsync.PasswordMD5("not hers")})
	if right.ReturnCode != "rcLoginFailed" || right.ReturnCode != wrong.ReturnCode || right.Description != wrong.Description || right.SessionId != "" {
		t.Errorf("a disabled user's LogIn %+v differs from a wrong password's %+v", right, wrong)
	}
	rightCode, rightBody := dav("wonderland")
	wrongCode, wrongBody := dav("not hers")
	if rightCode != http.StatusUnauthorized || rightCode != wrongCode || rightBody != wrongBody {
		t.Errorf("a disabled user's CardDAV request %d %q differs from a wrong password's %d %q", rightCode, rightBody, wrongCode, wrongBody)
	}
	rightStatus, rightRep := token(passwordGrant("wonderland"))
	wrongStatus, wrongRep := token(passwordGrant("not hers"))
	if rightStatus != http.StatusBadRequest || rightStatus != wrongStatus || fmt.Sprint(rightRep) != fmt.Sprint(wrongRep) {
		t.Errorf("a disabled user's password grant %d %v differs from a wrong password's %d %v", rightStatus, rightRep, wrongStatus, wrongRep)
	}
	if code, rep := token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); code != http.StatusBadRequest || rep["error"] != "invalid_grant" {
		t.Errorf("refreshing a disabled user's token: %d %v", code, rep)
	}
	req, _ := http.NewRequest("POST", base+"/API.svc/GetContacts", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e envelope
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if e.ReturnCode == "rcSuccess" {
		t.Errorf("a disabled user's bearer token still works: %+v", e)
	}

	mustRun(t, "user", "enable", "alice")
	if a := active(); a != true {
		t.Errorf("GetUsers says alice's IsActive is %v after enabling", a)
	}
	again := login(t, base, "alice", "wonderland")
	if e := api(t, base, "GetContacts", map[string]any{"sessionId": again}); e.ReturnCode != "rcSuccess" {
		t.Errorf("alice enabled again: %s", e.ReturnCode)
	}
	if code, _ := dav("wonderland"); code != http.StatusMultiStatus {
		t.Errorf("CardDAV after enabling again: %d", code)
	}
}

func TestUsageErrors(t *testing.T) {
	db := filepath.Join(t.TempDir(), "crm.db")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"user"}, 2, "missing subcommand"},
		{[]string{"user", "rename"}, 2, `unknown subcommand "rename"`},
		{[]string{"user", "add", "--db", db}, 2, "want 1 argument"},
		{[]string{"user", "add", "x", "--db", db}, 2, "--password is required"},
		{[]string{"user", "add", "x", "--password", "p", "--bogus", "--db", db}, 2, "flag provided but not defined: -bogus"},
		{[]string{"group", "set", "g", "--db", db}, 2, "--module is required"},
		{[]string{"group", "set", "g", "--module", "Leads", "--db", db}, 2, `unknown module "Leads"`},
		{[]string{"group", "set", "g", "--module", "Contacts", "--view", "Everything", "--db", db}, 2, `unknown level "Everything"`},
		{[]string{"serve", "--poll-interval", "soon", "--db", db}, 2, "invalid value"},
		{[]string{"serve", "--listen", "256.0.0.1:99999", "--db", db}, 1, "listening on"},
		{[]string{"user", "passwd", "nobody", "--password", "p", "--db", db}, 1, "nobody"},
		{[]string{"group", "add-user", "nogroup", "nobody", "--db", db}, 1, "crmsync group:"},
		{[]string{"user", "add", "eve", "--password", "p", "--group", "nogroup", "--db", db}, 1, `no group "nogroup"`},
	} {
		code, _, errOut := run(t, "", c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("crmsync %v: exit %d, stderr %q; want exit %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
	if strings.Contains(mustRun(t, "user", "list", "--db", db), "eve") {
		t.Error("user add with an unknown group created the user")
	}
	mustRun(t, "user", "add", "dup", "--password", "p", "--db", db)
	if code, _, errOut := run(t, "", "user", "add", "dup", "--password", "p", "--db", db); code != 1 || errOut == "" {
		t.Errorf("adding a user twice: exit %d %q", code, errOut)
	}
}

func TestEnvFlagValidation(t *testing.T) {
	t.Setenv("CRMSYNC_POLL_INTERVAL", "often")
	code, _, errOut := run(t, "", "serve", "--db", filepath.Join(t.TempDir(), "x.db"))
	if code != 2 || !strings.Contains(errOut, "CRMSYNC_POLL_INTERVAL") {
		t.Errorf("exit %d, %q", code, errOut)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		code, out, _ := run(t, "", args...)
		if code != 0 {
			t.Errorf("%v: exit %d", args, code)
		}
		for _, c := range commands {
			if !regexp.MustCompile(`(?m)^  ` + c.name + `\s+\S`).MatchString(out) {
				t.Errorf("%v does not list %s:\n%s", args, c.name, out)
			}
		}
		if !strings.Contains(out, "  help ") {
			t.Errorf("help does not list itself")
		}
		if !strings.Contains(out, "Only serve, user add and group set create a missing --db file") {
			t.Errorf("help does not say which commands create a database:\n%s", out)
		}
	}
	code, _, errOut := run(t, "", "help", "serve")
	if code != 0 || !strings.Contains(errOut, "-poll-interval") {
		t.Errorf("help serve: %d %q", code, errOut)
	}
	code, out, errOut := run(t, "", "help", "srve")
	if code != 2 || out != "" || !strings.Contains(errOut, `unknown command "srve"`) {
		t.Errorf("help srve: exit %d, stdout %q, stderr %q; want exit 2 naming the unknown command", code, out, errOut)
	}
}

// TestMounts: a mount adds a handler and a worker; the worker stops when
// serve shuts down.
func TestMounts(t *testing.T) {
	saved := mounts
	t.Cleanup(func() { mounts = saved })
	stopped := make(chan struct{})
	mounts = append(mounts, func(ctx context.Context, s *Server) error {
		if s.CRM == nil || s.DB == nil || s.PollInterval != 5*time.Second {
			t.Errorf("mount got %+v", s)
		}
		s.Mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") })
		s.Go("test worker", func(ctx context.Context) error {
			<-ctx.Done()
			close(stopped)
			return ctx.Err()
		})
		return nil
	})
	t.Run("serve", func(t *testing.T) {
		base, _ := startServe(t, "--db", filepath.Join(t.TempDir(), "crm.db"), "--poll-interval", "5s")
		resp, err := http.Get(base + "/hello")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "hi" {
			t.Errorf("GET /hello = %q", b)
		}
		select {
		case <-stopped:
			t.Error("worker stopped while serving")
		default:
		}
	})
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Error("worker not stopped at shutdown")
	}
}

// TestServeStopsOnSIGTERM sends SIGTERM to this process while serve runs
// in it: serve must catch it and shut down cleanly with exit code 0.
func TestServeStopsOnSIGTERM(t *testing.T) {
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(context.Background(), []string{"serve", "--listen", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "crm.db")},
			strings.NewReader(""), out, errOut)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), "listening on") {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(errOut.String(), "shutting down") {
			t.Errorf("serve exited %d:\n%s", code, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve ignored SIGTERM")
	}
}

// TestSandboxIgnoresCRMEnvironment: CRMSYNC_DB and CRMSYNC_LISTEN are the
// CRM's; the sandbox reads CRMSYNC_SANDBOX_DB and CRMSYNC_SANDBOX_LISTEN,
// so exporting the CRM's never puts mailbox tables into the CRM file.
func TestSandboxIgnoresCRMEnvironment(t *testing.T) {
	dir := t.TempDir()
	crmDB := filepath.Join(dir, "crm.db")
	t.Setenv("CRMSYNC_DB", crmDB)
	t.Setenv("CRMSYNC_LISTEN", "not an address")
	t.Setenv("CRMSYNC_SANDBOX_LISTEN", "127.0.0.1:0")
	t.Setenv("CRMSYNC_SANDBOX_DB", filepath.Join(dir, "mailbox.db"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // serve, then stop at once
	var out, errOut bytes.Buffer
	if code := Run(ctx, []string{"sandbox"}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("sandbox: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if _, err := os.Stat(crmDB); !os.IsNotExist(err) {
		t.Errorf("sandbox touched the CRM file of CRMSYNC_DB: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mailbox.db")); err != nil {
		t.Errorf("sandbox did not keep its mailbox in CRMSYNC_SANDBOX_DB: %v", err)
	}
}

// TestDBLocationHint: a hint copied as printed reaches the same database.
// What the environment already names is left out, so a password in
// CRMSYNC_POSTGRES is never replaced by its redacted form.
func TestDBLocationHint(t *testing.T) {
	pg := "postgres://crmsync:s3cret@db.example.com/crm"
	env := func(vars map[string]string) func(string) string {
		return func(name string) string { return vars[name] }
	}
	for _, c := range []struct {
		name string
		loc  dbLocation
		env  map[string]string
		want string
	}{
		{"default file", dbLocation{Path: "crmsync.db"}, nil, ""},
		{"file flag", dbLocation{Path: "/srv/crm.db"}, nil, " --db /srv/crm.db"},
		{"file from env", dbLocation{Path: "/srv/crm.db"}, map[string]string{"CRMSYNC_DB": "/srv/crm.db"}, ""},
		{"postgres flag", dbLocation{Path: "crmsync.db", Postgres: pg}, nil, " --postgres postgres://crmsync:xxxxx@db.example.com/crm"},
		{"postgres from env", dbLocation{Path: "crmsync.db", Postgres: pg}, map[string]string{"CRMSYNC_POSTGRES": pg}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.loc.arg(env(c.env)); got != c.want {
				t.Errorf("arg() = %q, want %q", got, c.want)
			}
		})
	}
}
