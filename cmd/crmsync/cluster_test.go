package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/graph/sandbox"
	"github.com/crmsync/crmsync/internal/crmtest"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/outlook"
	"github.com/crmsync/crmsync/postgres"
	"github.com/crmsync/crmsync/service"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"
)

// TestClusterSurvivesKilledAndPausedNodes runs three real `crmsync serve`
// processes on one PostgreSQL with 60 partnerships, a sandbox mailbox
// each. Every contact is visible to every user, so each mailbox must end
// up with all of the CRM's contacts. Contacts are created, edited and
// deleted on both sides before node n0 is killed (SIGKILL), while n1 is
// paused (SIGSTOP) past its leases and n0 is dead, and after n1 resumes.
// Then every mailbox holds exactly the CRM's contacts, each once, with
// their final field values; the CRM holds no duplicate and lost nothing;
// n1 tried state commits under its lost leases and had them refused; and
// no state commit under a superseded lease was accepted (counted in the
// database, migration 0104).
//
// n1's pass loop, which would notice the lost leases and stop its
// workers, is held back while it resumes (its heartbeat waits on a row
// lock the test holds), so its overdue sync cycles are sure to try
// committing under the old tokens first: the case fencing is for.
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
	env := testEnv(os.Stderr)
	const users = 60
	m := &clusterModel{t: t, svc: svc, guids: map[string]string{}, want: map[string]string{}}
	for i := range users {
		u, err := svc.AddUser(sys, fmt.Sprintf("user%d", i), "pw", false)
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.AddToGroup(sys, u.Name, "all"); err != nil {
			t.Fatal(err)
		}
		m.owners = append(m.owners, crmsync.WithUser(ctx, u))
		mb := outlook.NewMemory()
		_, addr, err := startSandbox(ctx, env, mb, "127.0.0.1:0", sandbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		m.mailboxes = append(m.mailboxes, mb)
		p := &engine.Partnership{User: u.GUID, Kind: "outlook", Remote: remoteConfig{Sandbox: "http://" + addr, FolderID: mb.DefaultFolder()}.String(),
			Mode: "automatic", Policy: engine.PolicyNewest, State: "active"}
		if err := db.SyncState().SavePartnership(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	for i := range users {
		m.crmNew(i, fmt.Sprintf("crm-%d", i))
	}

	var nodes [3]*exec.Cmd
	var urls [3]string
	var refused [3]atomic.Int64 // sync cycles each node logged as refused for a lost lease
	for i := range nodes {
		var addr <-chan string
		nodes[i], addr = startWatchedNode(t, bin, pg, dir, fmt.Sprintf("n%d", i), &refused[i], "--lease", "2s", "--poll-interval", "1s")
		select {
		case urls[i] = <-addr:
		case <-time.After(30 * time.Second):
			t.Fatalf("node n%d did not start listening", i)
		}
	}
	if err := svc.SetPassword(sys, "admin", "admin-pw"); err != nil { // the nodes made the admin; the test reads /metrics as it
		t.Fatal(err)
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
	waitFor(t, "an even spread", 30*time.Second, func() bool {
		l := leases()
		return l["n0"] == users/3 && l["n1"] == users/3 && l["n2"] == users/3
	})
	spreadBefore := leases()
	m.waitConverged("the first sync", 60*time.Second)

	// Before the kill: new contacts on both sides, edits on both sides of
	// contacts every mailbox holds (an Outlook edit in mailbox i must reach
	// the CRM and from there every other mailbox), and a delete.
	m.edits(1, 0, 10, 20)
	// Settled first: a node paused inside a CRM write would hold the CRM
	// write lock, and every node's CRM writes and the test's would wait
	// for it to resume.
	m.waitConverged("the edits before the kill", 60*time.Second)

	// Hold n1's heartbeat, and with it the pass loop that renews its leases
	// and would stop its workers once it found them lost; pause n1 once its
	// pass waits, and kill n0.
	hold, err := pgx.Connect(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close(context.Background())
	heartbeats, err := hold.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer heartbeats.Rollback(context.Background())
	if _, err := heartbeats.Exec(ctx, `SELECT 1 FROM nodes WHERE node = 'n1' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	watch, err := pgx.Connect(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(context.Background())
	waitFor(t, "n1's heartbeat to wait for the test's row lock", 20*time.Second, func() bool {
		var waiting int
		err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO nodes%'`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		return waiting == 1
	})
	if err := nodes[1].Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	m.edits(2, 30, 40, 21)
	waitFor(t, "n2 to take every partnership over", 30*time.Second, func() bool { return leases()["n2"] == users })

	// Resume n1: its overdue cycles run under the tokens n2 superseded.
	if err := nodes[1].Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed, before := time.Now(), refused[1].Load() // a slow n1 may have lost a lease already
	waitFor(t, "the resumed n1 to have a state commit refused for a lost lease", 30*time.Second, func() bool { return refused[1].Load() > before })
	firstRefusal := time.Since(resumed)
	if err := heartbeats.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	m.edits(3, 50, 55, 22)
	lastEdits := time.Now()
	m.waitConverged("convergence after the resume", 90*time.Second)
	converged, sinceResume := time.Since(lastEdits), time.Since(resumed)
	waitFor(t, "the resumed node to get its share back", 30*time.Second, func() bool {
		l := leases()
		return l["n1"] == users/2 && l["n2"] == users/2
	})
	spreadAfter := leases()

	rejected, takeovers := metric(t, urls[1], "crmsync_state_commits_rejected_total"), metric(t, urls[1], "crmsync_lease_takeovers_total")
	rejected2, takeovers2 := metric(t, urls[2], "crmsync_state_commits_rejected_total"), metric(t, urls[2], "crmsync_lease_takeovers_total")
	_, ls, err := db.SyncState().Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var holderChanges int64
	for _, l := range ls {
		holderChanges += l.Token - 1
	}
	stale, err := db.SyncState().StaleWrites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("leases before the kill %v, after the resume %v; n1's first refused commit %v after it resumed; converged %v after the last edits (%v after the resume)",
		spreadBefore, spreadAfter, firstRefusal.Round(time.Millisecond), converged.Round(time.Millisecond), sinceResume.Round(time.Millisecond))
	t.Logf("refused state commits: n1 %d (%d logged), n2 %d (%d logged); take-overs: n1 %d, n2 %d, lease holder changes in the database %d; stale writes accepted %d",
		rejected, refused[1].Load(), rejected2, refused[2].Load(), takeovers, takeovers2, holderChanges, stale)
	if rejected == 0 {
		t.Errorf("n1 counts no state commit refused for a lost lease (it logged %d)", refused[1].Load())
	}
	if stale != 0 {
		t.Errorf("%d state writes were accepted under a lease another node had taken over", stale)
	}
}

// clusterModel is the CRM and the mailboxes of the cluster test, with the
// contacts they must all end up holding.
type clusterModel struct {
	t         *testing.T
	svc       *service.Service
	owners    []context.Context // user i's context
	mailboxes []*outlook.Mailbox
	guids     map[string]string // last name → GUID, of the contacts created in the CRM
	want      map[string]string // last name → job title, of every contact
}

// edits makes round r of changes: ten new contacts in the CRM and ten in
// as many mailboxes, CRM edits of contacts crm-(crm…crm+4) and Outlook
// edits of crm-(outlook…outlook+4), each in its own user's mailbox, the
// CRM delete of crm-del and the Outlook delete of crm-(del+3) from its
// user's mailbox. No contact is changed twice, so the outcome does not
// depend on which change a node saw first.
func (m *clusterModel) edits(r, crm, outlook, del int) {
	m.t.Helper()
	round := fmt.Sprint(r)
	for i := range 10 {
		m.crmNew(i, fmt.Sprintf("crm-%d-%d", r, i))
		mb := (6*i + r) % len(m.mailboxes)
		m.outlookNew(mb, fmt.Sprintf("outlook-%d-%d", r, mb))
	}
	for i := range 5 {
		m.crmEdit(crm+i, fmt.Sprintf("crm-%d", crm+i), "edited in the CRM, round "+round)
		m.outlookEdit(outlook+i, fmt.Sprintf("crm-%d", outlook+i), "edited in Outlook, round "+round)
	}
	m.crmDelete(fmt.Sprintf("crm-%d", del))
	m.outlookDelete(del+3, fmt.Sprintf("crm-%d", del+3))
}

func (m *clusterModel) crmNew(owner int, name string) {
	m.t.Helper()
	res, err := m.svc.Save(m.owners[owner], crmsync.Contacts, []crmsync.Patch{{Set: map[string]string{crmsync.FieldLastName: name, crmsync.FieldJobTitle: "new"}}}, crmsync.SaveOptions{})
	if err != nil || res[0].Err != nil {
		m.t.Fatal(err, res)
	}
	m.guids[name], m.want[name] = res[0].GUID, "new"
}

// crmEdit sets the job title of a CRM contact as user editor.
func (m *clusterModel) crmEdit(editor int, name, title string) {
	m.t.Helper()
	res, err := m.svc.Save(m.owners[editor], crmsync.Contacts, []crmsync.Patch{{GUID: m.guids[name], Set: map[string]string{crmsync.FieldJobTitle: title}}}, crmsync.SaveOptions{})
	if err != nil || res[0].Err != nil {
		m.t.Fatal(err, res)
	}
	m.want[name] = title
}

func (m *clusterModel) crmDelete(name string) {
	m.t.Helper()
	if err := m.svc.Delete(m.owners[0], crmsync.Contacts, []string{m.guids[name]}); err != nil {
		m.t.Fatal(err)
	}
	delete(m.want, name)
}

func (m *clusterModel) outlookNew(mb int, name string) {
	m.t.Helper()
	c := &outlook.Contact{Surname: name, JobTitle: "new"}
	if _, err := m.mailboxes[mb].Create(m.mailboxes[mb].DefaultFolder(), c); err != nil {
		m.t.Fatal(err)
	}
	m.want[name] = "new"
}

// outlookEdit sets the job title of the contact of that name in mailbox
// mb, which the sync put there.
func (m *clusterModel) outlookEdit(mb int, name, title string) {
	m.t.Helper()
	if _, err := m.mailboxes[mb].Update(m.outlookID(mb, name), "", func(c *outlook.Contact) error { c.JobTitle = title; return nil }); err != nil {
		m.t.Fatal(err)
	}
	m.want[name] = title
}

// outlookDelete deletes the contact of that name from mailbox mb: the CRM
// contact goes to the trash (SPEC S5), and so out of every mailbox.
func (m *clusterModel) outlookDelete(mb int, name string) {
	m.t.Helper()
	if err := m.mailboxes[mb].Delete(m.outlookID(mb, name), ""); err != nil {
		m.t.Fatal(err)
	}
	delete(m.want, name)
}

// outlookID is the id of the contact of that name in mailbox mb.
func (m *clusterModel) outlookID(mb int, name string) string {
	m.t.Helper()
	box := m.mailboxes[mb]
	var id string
	box.List(box.DefaultFolder(), func(c *outlook.Contact, _ string) bool {
		if c.Surname == name {
			id = c.ID
		}
		return id == ""
	})
	if id == "" {
		m.t.Fatalf("mailbox %d holds no %s", mb, name)
	}
	return id
}

// differs says how the CRM or a mailbox differs from the contacts wanted
// ("" when none does): a contact missing, extra, held twice or with
// another job title.
func (m *clusterModel) differs() string {
	m.t.Helper()
	items, err := m.svc.Items(crmsync.System(context.Background()), crmsync.Contacts, nil)
	if err != nil {
		m.t.Fatal(err)
	}
	var crm []outlook.Contact
	for _, it := range items {
		if !it.Trashed {
			crm = append(crm, outlook.Contact{Surname: it.Get(crmsync.FieldLastName), JobTitle: it.Get(crmsync.FieldJobTitle)})
		}
	}
	if d := m.diff(crm); d != "" {
		return "the CRM " + d
	}
	for i, mb := range m.mailboxes {
		var held []outlook.Contact
		mb.List(mb.DefaultFolder(), func(c *outlook.Contact, _ string) bool {
			held = append(held, outlook.Contact{Surname: c.Surname, JobTitle: c.JobTitle})
			return true
		})
		if d := m.diff(held); d != "" {
			return fmt.Sprintf("mailbox %d %s", i, d)
		}
	}
	return ""
}

func (m *clusterModel) diff(held []outlook.Contact) string {
	seen := map[string]bool{}
	for _, c := range held {
		want, ok := m.want[c.Surname]
		switch {
		case !ok:
			return fmt.Sprintf("holds %q, which it should not", c.Surname)
		case seen[c.Surname]:
			return fmt.Sprintf("holds %q twice", c.Surname)
		case c.JobTitle != want:
			return fmt.Sprintf("holds %q as %q, want %q", c.Surname, c.JobTitle, want)
		}
		seen[c.Surname] = true
	}
	if len(seen) != len(m.want) {
		return fmt.Sprintf("holds %d of the %d contacts", len(seen), len(m.want))
	}
	return ""
}

// waitConverged waits for the CRM and every mailbox to hold the contacts
// wanted, failing the test after limit with how they still differ.
func (m *clusterModel) waitConverged(what string, limit time.Duration) {
	m.t.Helper()
	var why string
	for deadline := time.Now().Add(limit); ; time.Sleep(500 * time.Millisecond) {
		if why = m.differs(); why == "" {
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("%s: not converged after %v: %s", what, limit, why)
		}
	}
}

// metric reads a counter from a node's /metrics.
func metric(t *testing.T, url, name string) int64 {
	t.Helper()
	status, body := scrapeMetrics(t, url, "admin", "admin-pw")
	mt := regexp.MustCompile(`(?m)^` + name + ` (\d+)$`).FindStringSubmatch(body)
	if mt == nil {
		t.Fatalf("%s/metrics has no %s (status %d)", url, name, status)
	}
	n, _ := strconv.ParseInt(mt[1], 10, 64)
	return n
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
	if err := svc.SaveGroup(crmsync.System(ctx), "all", crmtest.AllRights()); err != nil {
		t.Fatal(err)
	}
	return db, svc
}

// buildCrmsync builds this command into dir for tests that run it as
// separate processes; under `go test -race` with the race detector too,
// so that the processes are checked as well.
func buildCrmsync(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "crmsync")
	args := []string{"build", "-o", bin}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				args = append(args, "-race")
			}
		}
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		t.Fatalf("building crmsync: %v\n%s", err, out)
	}
	return bin
}

// startNode starts `crmsync serve` as node name on the PostgreSQL at pg,
// killed when the test ends. The channel gives its base URL once it
// listens.
func startNode(t *testing.T, bin, pg, dir, name string, extra ...string) (*exec.Cmd, <-chan string) {
	return startWatchedNode(t, bin, pg, dir, name, nil, extra...)
}

// startWatchedNode is startNode that, with refused not nil, has the node
// log warnings and counts in refused the sync cycles it logs as failed for
// a lost lease; its other lines go to the test's stderr.
func startWatchedNode(t *testing.T, bin, pg, dir, name string, refused *atomic.Int64, extra ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	addr := make(chan string, 1)
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--postgres", pg, "--db", filepath.Join(dir, name+".db"), "--node", name}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "CRMSYNC_LOG_LEVEL=error")
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	var logs io.Reader
	if refused != nil {
		cmd.Env = append(cmd.Env, "CRMSYNC_LOG_LEVEL=warn")
		cmd.Stderr = nil
		logs, _ = cmd.StderrPipe()
	}
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
	if logs != nil {
		go func() {
			s := bufio.NewScanner(logs)
			for s.Scan() {
				if line := s.Text(); strings.Contains(line, "sync cycle failed") && strings.Contains(line, postgres.ErrLeaseLost.Error()) {
					refused.Add(1)
				} else {
					fmt.Fprintf(os.Stderr, "%s: %s\n", name, line)
				}
			}
		}()
	}
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
