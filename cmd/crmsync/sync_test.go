package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/graph/sandbox"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/outlook"
	"github.com/crmsync/crmsync/postgres"
	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/sqlite"
)

// TestOutlookWorkflow goes through sync as an administrator would: connect,
// a refused enable, enable --now, edits both ways, a duplicate and its merge.
func TestOutlookWorkflow(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "crm.db")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mb := outlook.NewMemory()
	env := testEnv(os.Stderr)
	_, addr, err := startSandbox(ctx, env, mb, "127.0.0.1:0", sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + addr

	mustRun(t, "user", "add", "alice", "--password", "pw", "--db", db)
	mustRun(t, "group", "set", "sales", "--module", "Contacts", "--view", "All", "--edit", "All", "--delete", "All", "--create", "--db", db)
	mustRun(t, "group", "add-user", "sales", "alice", "--db", db)
	out := mustRun(t, "outlook", "connect", "--user", "alice", "--sandbox", url, "--db", db)
	if !strings.Contains(out, "Connected alice") {
		t.Fatalf("connect said %q", out)
	}

	// Without the Export right, enabling is refused and says why.
	code, out, errOut := run(t, "", "outlook", "enable", "--user", "alice", "--now", "--db", db)
	if code == 0 || !strings.Contains(errOut, "export") {
		t.Fatalf("enable without export right: exit %d, %q %q", code, out, errOut)
	}
	mustRun(t, "group", "set", "sales", "--module", "Contacts", "--view", "All", "--edit", "All", "--delete", "All", "--create", "--export", "--db", db)

	// Some CRM contacts, and an Outlook contact with a known e-mail.
	svc, sdb := openTestCRM(t, db)
	alice, err := svc.UserByName(crmsync.System(ctx), "alice")
	if err != nil {
		t.Fatal(err)
	}
	actx := crmsync.WithUser(ctx, alice)
	res, err := svc.Save(actx, crmsync.Contacts, []crmsync.Patch{
		{Set: map[string]string{crmsync.FieldFirstName: "Jan", crmsync.FieldLastName: "Novák", crmsync.FieldEmail1: "jan@firma.cz"}},
		{Set: map[string]string{crmsync.FieldFirstName: "Eva", crmsync.FieldLastName: "Malá", crmsync.FieldEmail1: "eva@firma.cz"}},
	}, crmsync.SaveOptions{})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	jan := res[0].GUID
	// Connecting found the Contacts folder, so syncs need not look it up.
	part, err := sdb.SyncState().Partnership(ctx, alice.GUID, "outlook")
	if err != nil || !strings.Contains(part.Remote, `"folderId":"`+mb.DefaultFolder()+`"`) {
		t.Errorf("partnership remote %q (%v) lacks the Contacts folder %s", part.Remote, err, mb.DefaultFolder())
	}
	dup := &outlook.Contact{}
	outlook.ApplyFields(dup, map[string]string{crmsync.FieldFirstName: "Honza", crmsync.FieldEmail1: "JAN@firma.cz", crmsync.FieldPhoneOther: "+420 1"})
	if _, err := mb.Create(mb.DefaultFolder(), dup); err != nil {
		t.Fatal(err)
	}
	sdb.Close()

	out = mustRun(t, "outlook", "enable", "--user", "alice", "--now", "--db", db)
	for _, want := range []string{"2 created in Outlook", "1 duplicates moved", "jan@firma.cz"} {
		if !strings.Contains(out, want) {
			t.Errorf("first sync summary lacks %q:\n%s", want, out)
		}
	}
	if n := mb.Count(mb.DefaultFolder()); n != 2 {
		t.Errorf("Outlook Contacts holds %d, want 2", n)
	}

	// An edit in the CRM reaches Outlook; one in Outlook reaches the CRM.
	svc, sdb = openTestCRM(t, db)
	if res, err := svc.Save(actx, crmsync.Contacts, []crmsync.Patch{{GUID: jan, Set: map[string]string{crmsync.FieldJobTitle: "Buyer"}}}, crmsync.SaveOptions{}); err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	sdb.Close()
	mustRun(t, "sync", "--user", "alice", "--once", "--db", db)
	mustRun(t, "user", "disable", "alice", "--db", db)
	if code, _, errOut := run(t, "", "sync", "--user", "alice", "--once", "--db", db); code == 0 || !strings.Contains(errOut, "alice is disabled") {
		t.Errorf("syncing a disabled user: exit %d, %q", code, errOut)
	}
	mustRun(t, "user", "enable", "alice", "--db", db)
	var janOutlook string
	mb.List(mb.DefaultFolder(), func(c *outlook.Contact, _ string) bool {
		if c.GivenName == "Jan" {
			janOutlook = c.ID
			if c.JobTitle != "Buyer" {
				t.Errorf("Outlook job title = %q, want Buyer", c.JobTitle)
			}
		}
		return true
	})
	if _, err := mb.Update(janOutlook, "", func(c *outlook.Contact) error { c.MobilePhone = "+420 777 111 222"; return nil }); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "sync", "--user", "alice", "--once", "--db", db)
	svc, sdb = openTestCRM(t, db)
	items, err := svc.Items(actx, crmsync.Contacts, []string{jan})
	sdb.Close()
	if err != nil || len(items) != 1 || items[0].Get(crmsync.FieldPhoneMobile) != "+420 777 111 222" {
		t.Fatalf("CRM contact after the Outlook edit: %v %+v", err, items)
	}

	// The duplicate is listed and merged: its other phone fills the CRM.
	out = mustRun(t, "duplicates", "list", "--user", "alice", "--db", db)
	id := strings.Fields(out)[0]
	out = mustRun(t, "duplicates", "merge", "--user", "alice", id, "--db", db)
	if !strings.Contains(out, "1 fields filled") {
		t.Errorf("merge said %q", out)
	}
	svc, sdb = openTestCRM(t, db)
	items, _ = svc.Items(actx, crmsync.Contacts, []string{jan})
	sdb.Close()
	if items[0].Get(crmsync.FieldPhoneOther) != "+420 1" {
		t.Errorf("merge did not fill the other phone: %v", items[0].Fields)
	}
	// Merged, it no longer awaits review.
	if code, _, errOut := run(t, "", "duplicates", "keep", "--user", "alice", id, "--db", db); code == 0 || !strings.Contains(errOut, "no duplicate "+id+" awaits review") {
		t.Errorf("keeping a merged duplicate: exit %d, %s", code, errOut)
	}
	out = mustRun(t, "outlook", "status", "--user", "alice", "--db", db)
	if !strings.Contains(out, "Paired:      2 contacts") || !strings.Contains(out, "0 awaiting review") {
		t.Errorf("status:\n%s", out)
	}
	mustRun(t, "sync", "--user", "alice", "--dry-run", "--db", db)
}

func openTestCRM(t *testing.T, path string) (*service.Service, *sqlite.DB) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return service.New(db, service.Options{}), db
}

func TestDemoOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	out := mustRun(t, "demo", "--contacts", "300", "--once", "--dir", dir)
	for _, re := range []string{`Seeded the CRM: 300 contacts`, `300 created in Outlook, 5 created in the CRM`, `1 duplicates moved`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("demo output lacks %q:\n%s", re, out)
		}
	}
}

// TestKillDuringFirstSync kills `crmsync sync` with SIGKILL at random points
// of a 3,000-contact first sync against a sandbox in its own process, then
// lets it finish: each contact must exist exactly once on each side.
func TestKillDuringFirstSync(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and syncs 3,000 contacts several times")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "crmsync")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building crmsync: %v\n%s", err, out)
	}
	mbPath := filepath.Join(dir, "mailbox.db")
	sb := exec.Command(bin, "sandbox", "--listen", "127.0.0.1:0", "--db", mbPath)
	stdout, _ := sb.StdoutPipe()
	sb.Stderr = os.Stderr
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	defer sb.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	url := regexp.MustCompile(`http://[0-9.:]+`).FindString(line)

	// Outlook-only contacts and duplicates, posted as Graph clients do.
	post := func(body map[string]any) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", url+"/v1.0/me/contacts", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer test")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("creating an Outlook contact: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	for i := range 50 {
		post(map[string]any{"givenName": "Only", "surname": fmt.Sprint("Outlook", i),
			"emailAddresses": []map[string]string{{"address": fmt.Sprintf("only%d@outlook.example", i)}}})
	}
	demoDir := filepath.Join(dir, "demo")
	if out, err := exec.Command(bin, "demo", "--contacts", "3000", "--dir", demoDir, "--sandbox", url, "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("seeding: %v\n%s", err, out)
	}
	db := filepath.Join(demoDir, "crm.db")
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := range 4 {
		sync := exec.Command(bin, "sync", "--db", db, "--user", "demo", "--once")
		if err := sync.Start(); err != nil {
			t.Fatal(err)
		}
		after := time.Duration(100+r.IntN(800)) * time.Millisecond // the whole sync takes about a second
		time.Sleep(after)
		sync.Process.Signal(syscall.SIGKILL)
		err := sync.Wait()
		t.Logf("run %d killed after %v (%v)", i, after, err)
	}
	for range 2 {
		if out, err := exec.Command(bin, "sync", "--db", db, "--user", "demo", "--once").CombinedOutput(); err != nil {
			t.Fatalf("final sync: %v\n%s", err, out)
		}
	}
	sb.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(stdout)
	sb.Wait()
	t.Logf("sandbox: %s", strings.TrimSpace(string(rest)))

	mb, err := outlook.OpenFile(mbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	outlookEmails := map[string]int{}
	mb.List(mb.DefaultFolder(), func(c *outlook.Contact, _ string) bool {
		if len(c.EmailAddresses) > 0 {
			outlookEmails[strings.ToLower(c.EmailAddresses[0].Address)]++
		}
		return true
	})
	svc, sdb := openTestCRM(t, db)
	defer sdb.Close()
	items, err := svc.Items(crmsync.System(context.Background()), crmsync.Contacts, nil)
	if err != nil {
		t.Fatal(err)
	}
	crmEmails := map[string]int{}
	for _, it := range items {
		crmEmails[strings.ToLower(it.Get(crmsync.FieldEmail1))]++
	}
	if len(items) != 3050 || mb.Count(mb.DefaultFolder()) != 3050 {
		t.Errorf("CRM holds %d contacts, Outlook %d; want 3050 each", len(items), mb.Count(mb.DefaultFolder()))
	}
	for email, n := range crmEmails {
		if n != 1 || outlookEmails[email] != 1 {
			t.Errorf("%s: %d times in the CRM, %d in Outlook", email, n, outlookEmails[email])
		}
	}
}

func testLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testEnv is the Env of a command run by a test: stdout and stderr to w,
// an empty environment and a silent logger.
func testEnv(w io.Writer) *Env {
	return &Env{Stdout: w, Stderr: w, Getenv: func(string) string { return "" }, Logger: testLogger()}
}

func TestSetting(t *testing.T) {
	db := newCRMFile(t)
	out := mustRun(t, "setting", "set", crmsync.SettingDuplicityCheck, "true", "--db", db)
	if !strings.Contains(out, crmsync.SettingDuplicityCheck+"=true") || !strings.Contains(out, crmsync.SettingCreateCompany+"=false") {
		t.Errorf("setting set printed %q", out)
	}
	if code, _, errOut := run(t, "", "setting", "set", "NoSuchSetting", "true", "--db", db); code != 2 || !strings.Contains(errOut, "NoSuchSetting") {
		t.Errorf("unknown setting: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run(t, "", "setting", "set", crmsync.SettingDuplicityCheck, "maybe", "--db", db); code != 2 || !strings.Contains(errOut, "maybe") {
		t.Errorf("bad value: exit %d, %q", code, errOut)
	}
}

// TestCardDAVSync syncs a CRM with a CardDAV address book served by a
// second, separate crmsync (a real CardDAV server, itself tested against
// vdirsyncer): enable --now, then edits both ways with sync --kind carddav.
func TestCardDAVSync(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	for _, db := range []string{a, b} {
		mustRun(t, "group", "set", "sales", "--module", "Contacts,Companies,Journal", "--view", "All", "--edit", "All", "--delete", "All", "--create", "--export", "--db", db)
	}
	mustRun(t, "user", "add", "alice", "--password", "pw", "--group", "sales", "--db", a)
	mustRun(t, "user", "add", "bob", "--password", "phone-pw", "--group", "sales", "--db", b)
	url, _ := startServe(t, "--db", b)

	svc, sdb := openTestCRM(t, a)
	ctx := context.Background()
	alice, _ := svc.UserByName(crmsync.System(ctx), "alice")
	actx := crmsync.WithUser(ctx, alice)
	res, err := svc.Save(actx, crmsync.Contacts, []crmsync.Patch{
		{Set: map[string]string{crmsync.FieldFirstName: "Jan", crmsync.FieldLastName: "Novák", crmsync.FieldPhoneMobile: "+420 1"}},
		{Set: map[string]string{crmsync.FieldFirstName: "Eva", crmsync.FieldLastName: "Malá"}},
	}, crmsync.SaveOptions{})
	sdb.Close()
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}

	code, out, errOut := run(t, "", "carddav", "enable", "--user", "alice", "--url", url+"/", "--username", "bob", "--password", "wrong", "--now", "--db", a)
	if code == 0 {
		t.Fatalf("enable with a wrong password succeeded: %s", out)
	}
	t.Logf("wrong password: %s", strings.TrimSpace(errOut))
	out = mustRun(t, "carddav", "enable", "--user", "alice", "--url", url+"/", "--username", "bob", "--password", "phone-pw", "--now", "--db", a)
	if !strings.Contains(out, "2 created in the address book") {
		t.Fatalf("first sync summary: %s", out)
	}
	if info, err := os.Stat(filepath.Join(secretsDir(dbLocation{Path: a}), "alice.carddav")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("stored password: %v %v, want mode 0600", err, info)
	}

	// Bob's CRM (behind the address book) got both; an edit there comes back.
	svcB, sdbB := openTestCRM(t, b)
	bob, _ := svcB.UserByName(crmsync.System(ctx), "bob")
	bctx := crmsync.WithUser(ctx, bob)
	found, err := svcB.Search(bctx, crmsync.Contacts, map[string]string{crmsync.FieldLastName: "Novák"}, false)
	if err != nil || len(found) != 1 || found[0].Get(crmsync.FieldPhoneMobile) != "+420 1" {
		t.Fatalf("address book side: %v %+v", err, found)
	}
	if res, err := svcB.Save(bctx, crmsync.Contacts, []crmsync.Patch{{GUID: found[0].GUID, Set: map[string]string{crmsync.FieldJobTitle: "Buyer"}}}, crmsync.SaveOptions{}); err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	sdbB.Close()
	mustRun(t, "sync", "--kind", "carddav", "--user", "alice", "--once", "--db", a)
	svc, sdb = openTestCRM(t, a)
	defer sdb.Close()
	items, _ := svc.Items(actx, crmsync.Contacts, []string{res[0].GUID})
	if len(items) != 1 || items[0].Get(crmsync.FieldJobTitle) != "Buyer" {
		t.Errorf("CRM contact after the address book edit: %+v", items)
	}
	if out := mustRun(t, "carddav", "status", "--user", "alice", "--db", a); !strings.Contains(out, "Paired:   2 contacts") {
		t.Errorf("status:\n%s", out)
	}
}

// TestOutlookSyncOnPostgres: connect, first sync and a later sync through
// the CLI with the CRM and the sync state on PostgreSQL (--postgres).
func TestOutlookSyncOnPostgres(t *testing.T) {
	pg := testenv.Postgres(t)
	db := filepath.Join(t.TempDir(), "crm.db") // only the secrets live beside it
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mb := outlook.NewMemory()
	env := testEnv(os.Stderr)
	_, addr, err := startSandbox(ctx, env, mb, "127.0.0.1:0", sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	on := []string{"--postgres", pg, "--db", db}
	mustRun(t, append([]string{"user", "add", "alice", "--password", "pw"}, on...)...)
	mustRun(t, append([]string{"group", "set", "sales", "--module", "Contacts", "--view", "All", "--edit", "All", "--delete", "All", "--create", "--export"}, on...)...)
	mustRun(t, append([]string{"group", "add-user", "sales", "alice"}, on...)...)

	store, err := postgres.Open(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := service.New(store, service.Options{})
	alice, err := svc.UserByName(crmsync.System(ctx), "alice")
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Save(crmsync.WithUser(ctx, alice), crmsync.Contacts, []crmsync.Patch{
		{Set: map[string]string{crmsync.FieldFirstName: "Jan", crmsync.FieldLastName: "Novák", crmsync.FieldEmail1: "jan@firma.cz"}},
		{Set: map[string]string{crmsync.FieldFirstName: "Eva", crmsync.FieldLastName: "Malá", crmsync.FieldEmail1: "eva@firma.cz"}},
	}, crmsync.SaveOptions{})
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatal(err, res)
	}

	mustRun(t, append([]string{"outlook", "connect", "--user", "alice", "--sandbox", "http://" + addr}, on...)...)
	if out := mustRun(t, append([]string{"outlook", "enable", "--user", "alice", "--now"}, on...)...); !strings.Contains(out, "2 created in Outlook") {
		t.Fatalf("first sync: %s", out)
	}
	c := &outlook.Contact{}
	outlook.ApplyFields(c, map[string]string{crmsync.FieldFirstName: "Petr", crmsync.FieldLastName: "Nový"})
	if _, err := mb.Create(mb.DefaultFolder(), c); err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, append([]string{"sync", "--user", "alice", "--once"}, on...)...); !strings.Contains(out, "1 created in the CRM") {
		t.Fatalf("second sync: %s", out)
	}
	found, err := svc.Search(crmsync.WithUser(ctx, alice), crmsync.Contacts, map[string]string{crmsync.FieldLastName: "Nový"}, false)
	if err != nil || len(found) != 1 {
		t.Fatalf("the Outlook contact in the PostgreSQL CRM: %v %v", found, err)
	}
	part, err := store.SyncState().Partnership(ctx, alice.GUID, "outlook")
	if err != nil || !part.Synced || part.State != "active" {
		t.Errorf("partnership on PostgreSQL: %+v %v", part, err)
	}
}

// serve asks again about each postponed first sync, naming its user and
// the command that runs it; an active partnership is not mentioned.
func TestServeAsksAboutPostponedFirstSyncs(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "crm.db")
	mustRun(t, "user", "add", "alice", "--password", "pw", "--db", path)
	mustRun(t, "user", "add", "bob", "--password", "pw", "--db", path)
	d, err := openSync(ctx, testEnv(io.Discard), dbLocation{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	for name, state := range map[string]string{"alice": "first-sync-pending", "bob": "active"} {
		u, err := d.user(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		// Nothing answers at this sandbox: the test ends before a cycle would reach it.
		p := &engine.Partnership{User: u.GUID, Kind: "outlook", Remote: remoteConfig{Sandbox: "http://127.0.0.1:1"}.String(), Mode: "automatic", Policy: engine.PolicyNewest, State: state}
		if err := d.state.SavePartnership(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	_, out := startServe(t, "--db", path)
	want := "outlook sync for alice is on but its first sync was postponed. Run it now with: crmsync outlook enable --user alice --now --db " + path + "\n"
	if got := out.String(); !strings.Contains(got, want) || strings.Contains(got, "for bob") {
		t.Errorf("serve's output lacks %q or mentions bob:\n%s", want, got)
	}
}
