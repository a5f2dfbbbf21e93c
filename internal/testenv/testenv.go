// Package testenv finds what tests need from outside the module: the
// shared test data beside the repository (../shared) and the real peers
// (Radicale, Xandikos, vdirsyncer, PostgreSQL) installed on the machine. Without them a
// test skips, saying what is missing; under CI=true it fails instead, so a
// missing peer or data set never passes silently.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Shared returns the path of elem under ../shared, relative to the module
// root (the nearest directory above the test holding go.mod).
func Shared(tb testing.TB, elem ...string) string {
	tb.Helper()
	dir, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(append([]string{dir, "..", "shared"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		missing(tb, "shared test data %s is missing (checked out without ../shared?): %v", p, err)
	}
	return p
}

// moduleRoot is the nearest directory above the working directory that
// holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test directory")
		}
		dir = parent
	}
}

// Peer returns the path of the program prog, installed by the Debian
// package pkg.
func Peer(tb testing.TB, prog, pkg string) string {
	tb.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		missing(tb, "%s not found: apt-get install %s", prog, pkg)
	}
	return p
}

func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf(format+" (CI=true: required)", args...)
	}
	tb.Skipf(format, args...)
}

// PostgresHint says how to start a throwaway PostgreSQL for the tests.
const PostgresHint = `CRMSYNC_TEST_POSTGRES is not set: start a throwaway PostgreSQL on loopback with
	eval "$(bash .ci/postgres.sh)"
(as root it runs as the postgres user; stop it with: bash .ci/postgres.sh stop "$CRMSYNC_TEST_POSTGRES_DIR")`

var schemaSeq atomic.Int64

// Postgres returns the URL of a fresh, empty schema on the PostgreSQL named
// by CRMSYNC_TEST_POSTGRES, so that tests run in parallel and again without
// seeing each other's rows; the schema is dropped when the test ends.
func Postgres(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("CRMSYNC_TEST_POSTGRES")
	if base == "" {
		missing(tb, "%s", PostgresHint)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connecting to CRMSYNC_TEST_POSTGRES: %v", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("test_%d_%d_%d", os.Getpid(), time.Now().UnixNano(), schemaSeq.Add(1))
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		tb.Fatalf("creating schema %s: %v", name, err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("dropping schema %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil {
			tb.Errorf("dropping schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("CRMSYNC_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// Chromium returns the path of a Chromium for browser tests (Debian
// package chromium), from $CRMSYNC_CHROMIUM, /usr/bin/chromium or PATH.
func Chromium(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("CRMSYNC_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	missing(tb, "Chromium not found: apt-get install chromium (or set CRMSYNC_CHROMIUM)")
	return ""
}

// ChromiumFlags are the command-line flags a headless Chromium needs on a
// machine without network: without the background-networking ones it hangs
// trying to reach Google's services.
var ChromiumFlags = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync"}

// Artifacts returns the directory for test artifacts of kind (e.g.
// "screenshots"): $CRMSYNC_ARTIFACTS, else <module root>/.artifacts/kind.
func Artifacts(tb testing.TB, kind string) string {
	tb.Helper()
	dir := os.Getenv("CRMSYNC_ARTIFACTS")
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			tb.Fatal(err)
		}
		dir = filepath.Join(root, ".artifacts", kind)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}
