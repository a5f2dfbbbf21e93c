// Package testenv finds what tests need from outside the module: the
// shared test data beside the repository (../shared) and the real peers
// (Radicale, Xandikos, vdirsyncer) installed on the machine. Without them a
// test skips, saying what is missing; under CI=true it fails instead, so a
// missing peer or data set never passes silently.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Shared returns the path of elem under ../shared, relative to the module
// root (the nearest directory above the test holding go.mod).
func Shared(tb testing.TB, elem ...string) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
	p := filepath.Join(append([]string{dir, "..", "shared"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		missing(tb, "shared test data %s is missing (checked out without ../shared?): %v", p, err)
	}
	return p
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
