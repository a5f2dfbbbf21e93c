package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSecretStaysInSecretsDir: the CardDAV password of a user whose name
// walks up the tree ("../../x") was written outside the secrets
// directory. Now every user's secret is one file inside it.
func TestSecretStaysInSecretsDir(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "data", "crm.db")
	if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
		t.Fatal(err)
	}
	loc := dbLocation{Path: db}
	for _, name := range []string{"../escape", "../../escape", `..\escape`, ".."} {
		mustRun(t, "user", "add", name, "--password", "pw", "--db", db)
		// The server is unreachable: enable fails after storing the password.
		if code, out, _ := run(t, "", "carddav", "enable", "--user", name, "--url", "http://127.0.0.1:1/", "--username", "u", "--password", "s3cret", "--db", db); code == 0 {
			t.Fatalf("enable against a closed port succeeded: %s", out)
		}
		got, err := readSecret(loc, name, "carddav")
		if err != nil || got != "s3cret" {
			t.Errorf("%q: secret %q, %v", name, got, err)
		}
		if p := secretFile(loc, name, "carddav"); filepath.Dir(p) != secretsDir(loc) {
			t.Errorf("%q: secret at %s, outside %s", name, p, secretsDir(loc))
		}
	}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Dir(p) != secretsDir(loc) && filepath.Dir(p) != filepath.Dir(db) {
			t.Errorf("a file outside the secrets directory: %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
