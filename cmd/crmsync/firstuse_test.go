package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newCRMFile creates an empty SQLite CRM, as serve would, for the commands
// that refuse a missing file.
func newCRMFile(t *testing.T) string {
	t.Helper()
	loc := dbLocation{Path: filepath.Join(t.TempDir(), "crm.db")}
	db, err := openDB(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	return loc.Path
}

// A command that works on an existing CRM refuses a --db file that is not
// there, naming it and how to create one, and creates nothing; the set-up
// commands may start a new CRM, and say so.
func TestCommandsRefuseMissingDatabase(t *testing.T) {
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.db")
	for _, args := range [][]string{
		{"user", "list"},
		{"user", "passwd", "alice", "--password", "pw"},
		{"user", "disable", "alice"},
		{"user", "enable", "alice"},
		{"group", "list"},
		{"group", "add-user", "sales", "alice"},
		{"group", "remove-user", "sales", "alice"},
		{"setting", "list"},
		{"setting", "set", "ContactDuplicityCheckEnabled", "true"},
		{"outlook", "status", "--user", "alice"},
		{"outlook", "disable", "--user", "alice"},
		{"carddav", "status", "--user", "alice"},
		{"sync", "--user", "alice", "--once"},
		{"duplicates", "list", "--user", "alice"},
	} {
		code, out, errOut := run(t, "", append(args, "--db", typo)...)
		want := "no CRM database at " + typo + "; 'crmsync serve --db " + typo + "' creates one"
		if code != 1 || !strings.Contains(errOut, want) || out != "" {
			t.Errorf("crmsync %s on a missing file: exit %d, stdout %q, stderr %q; want exit 1 and %q", strings.Join(args, " "), code, out, errOut, want)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("crmsync %s on a missing file left %v behind", strings.Join(args, " "), entries)
		}
	}

	for _, c := range []struct {
		args []string
		db   string
	}{
		{[]string{"user", "add", "alice", "--password", "pw"}, filepath.Join(dir, "users.db")},
		{[]string{"group", "set", "sales", "--module", "Contacts", "--view", "All"}, filepath.Join(dir, "groups.db")},
	} {
		out := mustRun(t, append(c.args, "--db", c.db)...)
		if !strings.HasPrefix(out, "created a new CRM database at "+c.db+"\n") {
			t.Errorf("crmsync %s on a new file printed %q; want it to say it created %s", strings.Join(c.args, " "), out, c.db)
		}
		if _, err := os.Stat(c.db); err != nil {
			t.Fatalf("crmsync %s: %v", strings.Join(c.args, " "), err)
		}
	}
	if out := mustRun(t, "user", "add", "bob", "--password", "pw", "--db", filepath.Join(dir, "users.db")); strings.Contains(out, "created") {
		t.Errorf("user add on an existing CRM printed %q", out)
	}
	if out := mustRun(t, "user", "list", "--db", filepath.Join(dir, "users.db")); !strings.Contains(out, "alice") || !strings.Contains(out, "bob") {
		t.Errorf("user list:\n%s", out)
	}
}

// A PostgreSQL server that cannot be reached is one line naming host and
// port, with neither the password nor the cause twice.
func TestUnreachablePostgresSaidOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	for _, url := range []string{
		"postgres://crm:s3cretpw@" + addr + "/crm",
		"postgres://crm:s3cretpw@" + addr + "/crm?sslmode=disable",
	} {
		code, out, errOut := run(t, "", "user", "list", "--postgres", url)
		if code != 1 || out != "" {
			t.Errorf("%s: exit %d, stdout %q", url, code, out)
		}
		want := "crmsync user: cannot connect to PostgreSQL at " + addr + " (user crm, database crm): connect: connection refused\n"
		if errOut != want {
			t.Errorf("%s: stderr\n%q\nwant\n%q", url, errOut, want)
		}
		if strings.Contains(errOut, "s3cretpw") {
			t.Errorf("the password is shown: %q", errOut)
		}
	}
}

// A demo in a temporary directory removes it when it ends, after --once or
// on Ctrl-C; --dir keeps the demo.
func TestDemoRemovesItsTemporaryDirectory(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	left := func(when string) {
		t.Helper()
		if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
			t.Errorf("after %s the demo left %s in %s", when, entries[0].Name(), tmp)
		}
	}

	out := mustRun(t, "demo", "--contacts", "30", "--once", "--listen", "127.0.0.1:0")
	if !strings.Contains(out, "Removed the demo's temporary directory") {
		t.Errorf("demo --once did not say it removed its directory:\n%s", out)
	}
	left("--once")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"demo", "--contacts", "30", "--listen", "127.0.0.1:0"}, strings.NewReader(""), stdout, stderr)
	}()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(stdout.String(), "Ctrl-C stops"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the demo did not start syncing:\n%s%s", stdout, stderr)
		}
	}
	cancel() // what Ctrl-C does: signal.NotifyContext cancels the same context
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the demo did not stop")
	}
	left("Ctrl-C")

	kept := filepath.Join(t.TempDir(), "kept")
	mustRun(t, "demo", "--contacts", "30", "--once", "--dir", kept)
	if _, err := os.Stat(filepath.Join(kept, "crm.db")); err != nil {
		t.Errorf("--dir did not keep the demo: %v", err)
	}
}

// A command's result prints once, on stdout: the service's own info line
// (user disabled) stays out of stderr unless CRMSYNC_LOG_LEVEL asks for it.
func TestAdminCommandsPrintTheirResultOnce(t *testing.T) {
	t.Setenv("CRMSYNC_LOG_LEVEL", "")
	db := filepath.Join(t.TempDir(), "crm.db")
	mustRun(t, "group", "set", "sales", "--module", "Contacts", "--view", "All", "--db", db)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "add", "alice", "--password", "pw"}, "added user alice"},
		{[]string{"user", "passwd", "alice", "--password", "pw2"}, "password of alice changed\n"},
		{[]string{"user", "disable", "alice"}, "user alice disabled\n"},
		{[]string{"user", "enable", "alice"}, "user alice enabled\n"},
		{[]string{"group", "set", "sales", "--module", "Contacts", "--view", "Own"}, "group sales: rights on Contacts set\n"},
		{[]string{"group", "add-user", "sales", "alice"}, "user alice added to group sales\n"},
		{[]string{"group", "remove-user", "sales", "alice"}, "user alice removed from group sales\n"},
		{[]string{"setting", "set", "ContactDuplicityCheckEnabled", "true"}, "ContactDuplicityCheckEnabled=true\n"},
	} {
		code, out, errOut := run(t, "", append(c.args, "--db", db)...)
		if code != 0 || !strings.Contains(out, c.want) || errOut != "" {
			t.Errorf("crmsync %s: exit %d, stdout %q, stderr %q; want %q on stdout only", strings.Join(c.args, " "), code, out, errOut, c.want)
		}
	}

	t.Setenv("CRMSYNC_LOG_LEVEL", "info")
	if _, _, errOut := run(t, "", "user", "disable", "alice", "--db", db); !strings.Contains(errOut, "user disabled") {
		t.Errorf("with CRMSYNC_LOG_LEVEL=info the service's log line is gone: stderr %q", errOut)
	}
}
