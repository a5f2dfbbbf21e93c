package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	"golang.org/x/crypto/bcrypt"
)

// TestClusterSurvivesKilledAndPausedNodes runs three real `crmsync serve`
// processes on one PostgreSQL with a sandbox mailbox per user. Every
// contact is visible to every user, so each mailbox must end up with all
// of the CRM's contacts. With edits on both sides, one node is killed
// (SIGKILL) and another paused past its lease (SIGSTOP) and resumed:
// every mailbox converges to the CRM's contacts, each exactly once, and
// the CRM holds no duplicate.
func TestClusterSurvivesKilledAndPausedNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three server processes")
	}
	pg := testenv.Postgres(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	bin := buildCrmsync(t, dir)
	db, svc := openClusterCRM(t, ctx, pg)
	sys := crmsync.System(ctx)
	env := &Env{Stdout: os.Stderr, Stderr: os.Stderr, Getenv: func(string) string { return "" }, Logger: testLogger()}
	const users = 12
	var mailboxes []*outlook.Mailbox
	var owners []context.Context
	for i := range users {
		u, err := svc.AddUser(sys, fmt.Sprintf("user%d", i), "pw", false)
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.AddToGroup(sys, u.Name, "all"); err != nil {
			t.Fatal(err)
		}
		owners = append(owners, crmsync.WithUser(ctx, u))
		mb := outlook.NewMemory()
		_, addr, err := startSandbox(ctx, env, mb, "127.0.0.1:0", sandbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		mailboxes = append(mailboxes, mb)
		p := &engine.Partnership{User: u.GUID, Kind: "outlook", Remote: remoteConfig{Sandbox: "http://" + addr, FolderID: mb.DefaultFolder()}.String(),
			Mode: "automatic", Policy: engine.PolicyNewest, State: "active"}
		if err := db.SyncState().SavePartnership(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	saveCRM := func(owner int, name string) {
		t.Helper()
		res, err := svc.Save(owners[owner], crmsync.Contacts, []crmsync.Patch{{Set: map[string]string{crmsync.FieldLastName: name}}}, crmsync.SaveOptions{})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
	}
	saveOutlook := func(mb int, name string) {
		t.Helper()
		c := &outlook.Contact{}
		outlook.ApplyFields(c, map[string]string{crmsync.FieldLastName: name})
		if _, err := mailboxes[mb].Create(mailboxes[mb].DefaultFolder(), c); err != nil {
			t.Fatal(err)
		}
	}
	for i := range users {
		saveCRM(i, fmt.Sprintf("crm-%d", i))
	}

	nodes := make([]*exec.Cmd, 3)
	addrs := make([]<-chan string, 3)
	for i := range nodes {
		nodes[i], addrs[i] = startNode(t, bin, pg, dir, fmt.Sprintf("n%d", i), "--lease", "2s", "--poll-interval", "1s")
	}
	leases := func() map[string]int {
		_, ls, err := db.SyncState().Cluster(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, l := range ls {
			if l.Expires.After(time.Now()) {
				got[l.Node]++
			}
		}
		return got
	}
	waitFor(t, "an even spread", 20*time.Second, func() bool {
		l := leases()
		return l["n0"] == users/3 && l["n1"] == users/3 && l["n2"] == users/3
	})

	// Edits on both sides while one node dies and another stalls.
	for i := range users {
		saveOutlook(i, fmt.Sprintf("outlook-%d", i))
	}
	if err := nodes[0].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for i := range users {
		saveCRM(i, fmt.Sprintf("crm-while-down-%d", i))
	}
	waitFor(t, "n2 to take every partnership over", 20*time.Second, func() bool { return leases()["n2"] == users })
	if err := nodes[1].Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	saveOutlook(0, "outlook-after-resume")

	converged := func() (bool, string) {
		items, err := svc.Identifiers(sys, crmsync.Contacts)
		if err != nil {
			t.Fatal(err)
		}
		want := 2*users + users + 1
		if len(items) != want {
			return false, fmt.Sprintf("the CRM holds %d contacts, want %d", len(items), want)
		}
		for i, mb := range mailboxes {
			names := map[string]int{}
			mb.List(mb.DefaultFolder(), func(c *outlook.Contact, _ string) bool { names[c.Surname]++; return true })
			if len(names) != want {
				return false, fmt.Sprintf("mailbox %d holds %d names, want %d", i, len(names), want)
			}
			for n, k := range names {
				if k != 1 {
					return false, fmt.Sprintf("mailbox %d holds %q %d times", i, n, k)
				}
			}
		}
		return true, ""
	}
	var why string
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		var ok bool
		if ok, why = converged(); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not converged after 90s: %s", why)
		}
	}
	waitFor(t, "the resumed node to get its share back", 20*time.Second, func() bool {
		l := leases()
		return l["n1"] == users/2 && l["n2"] == users/2
	})

	// How many state writes the paused node tried under its lost leases:
	// each was refused (the fencing test in package postgres shows a
	// refused write changes nothing).
	if err := svc.SetPassword(sys, "admin", "admin-pw"); err != nil {
		t.Fatal(err)
	}
	<-addrs[0]
	for i := 1; i < 3; i++ {
		req, _ := http.NewRequest("GET", <-addrs[i]+"/metrics", nil)
		req.SetBasicAuth("admin", "admin-pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, m := range regexp.MustCompile(`(?m)^crmsync_(state_commits_rejected_total|lease_takeovers_total|partnerships_running) .*$`).FindAllString(string(body), -1) {
			t.Logf("node n%d: %s", i, m)
		}
	}
}

// openClusterCRM opens the CRM on the PostgreSQL at pg that the nodes of
// a test share, with a group "all" holding every right; it is closed when
// the test ends.
func openClusterCRM(t *testing.T, ctx context.Context, pg string) (*postgres.DB, *service.Service) {
	t.Helper()
	db, err := postgres.Open(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := service.New(db, service.Options{PasswordCost: bcrypt.MinCost})
	var rs []crmsync.Rights
	for _, f := range crmsync.Folders {
		rs = append(rs, crmsync.FullRights(f))
	}
	if err := svc.SaveGroup(crmsync.System(ctx), "all", rs); err != nil {
		t.Fatal(err)
	}
	return db, svc
}

// buildCrmsync builds this command into dir for tests that run it as
// separate processes.
func buildCrmsync(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "crmsync")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building crmsync: %v\n%s", err, out)
	}
	return bin
}

// startNode starts `crmsync serve` as node name on the PostgreSQL at pg,
// killed when the test ends. The channel gives its base URL once it
// listens.
func startNode(t *testing.T, bin, pg, dir, name string, extra ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	addr := make(chan string, 1)
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--postgres", pg, "--db", filepath.Join(dir, name+".db"), "--node", name}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "CRMSYNC_LOG_LEVEL=error")
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGCONT); cmd.Process.Kill(); cmd.Wait() })
	go func() { // read the address, then drain stdout so the node never blocks on it
		s := bufio.NewScanner(out)
		for s.Scan() {
			if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(s.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	return cmd, addr
}

// waitFor polls ok until it holds, failing the test after limit.
func waitFor(t *testing.T, what string, limit time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !ok(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", limit, what)
		}
	}
}
