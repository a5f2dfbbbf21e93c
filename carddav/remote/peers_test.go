package remote_test

import (
	"context"
	"fmt"
	"github.com/crmsync/crmsync/internal/testenv"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// peer is a CardDAV server started for one test.
type peer struct {
	name string
	// root is the server's base URL, book the address book's full URL.
	root, book string
	user       string
	// stop ends the server before the test does (it is stopped anyway).
	stop func()
}

func requirePeer(t testing.TB, prog, pkg string) string {
	t.Helper()
	return testenv.Peer(t, prog, pkg)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startProcess runs cmd until the test ends and waits until url answers;
// the returned func stops it earlier.
func startProcess(t testing.TB, name string, cmd *exec.Cmd, url string) func() {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-done
			}
			logf.Close()
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			out, _ := os.ReadFile(logPath)
			t.Fatalf("%s exited early:\n%s", name, out)
		default:
		}
		req, _ := http.NewRequest("OPTIONS", url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			return stop
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, _ := os.ReadFile(logPath)
	t.Fatalf("%s did not answer on %s within 20 s:\n%s", name, url, out)
	return nil
}

// startRadicale runs Radicale (no auth, owner_only rights) with its data in
// a temp dir and creates the address book /alice/contacts/.
func startRadicale(t testing.TB) peer { t.Helper(); return startRadicaleAuth(t, "") }

// startRadicaleAuth is startRadicale with Basic auth checked against
// htpasswd (plain text passwords) when it is not "".
func startRadicaleAuth(t testing.TB, htpasswd string) peer {
	t.Helper()
	prog := requirePeer(t, "radicale", "radicale")
	dir := t.TempDir()
	port := freePort(t)
	auth := "type = none"
	if htpasswd != "" {
		f := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(f, []byte(htpasswd), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = "type = htpasswd\nhtpasswd_filename = " + f + "\nhtpasswd_encryption = plain"
	}
	conf := fmt.Sprintf(`[server]
hosts = 127.0.0.1:%d
[auth]
%s
[storage]
filesystem_folder = %s
[rights]
type = owner_only
[logging]
level = warning
`, port, auth, filepath.Join(dir, "data"))
	confPath := filepath.Join(dir, "config")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	root := fmt.Sprintf("http://127.0.0.1:%d", port)
	stop := startProcess(t, "radicale", exec.Command(prog, "--config", confPath), root+"/")
	book := root + "/alice/contacts/"
	password := "x"
	if htpasswd != "" {
		_, password, _ = strings.Cut(strings.SplitN(htpasswd, "\n", 2)[0], ":")
	}
	mkcol(t, book, "alice", password)
	return peer{name: "radicale", root: root, book: book, user: "alice", stop: stop}
}

// startXandikos runs Xandikos with its default principal /user/ and
// address book /user/contacts/addressbook/.
func startXandikos(t testing.TB) peer {
	t.Helper()
	prog := requirePeer(t, "xandikos", "xandikos")
	dir := t.TempDir()
	port := freePort(t)
	root := fmt.Sprintf("http://127.0.0.1:%d", port)
	stop := startProcess(t, "xandikos", exec.Command(prog, "--defaults", "-d", filepath.Join(dir, "data"),
		"-l", "127.0.0.1", "-p", fmt.Sprint(port)), root+"/")
	return peer{name: "xandikos", root: root, book: root + "/user/contacts/addressbook/", user: "user", stop: stop}
}

// eachPeer runs f as a subtest against a fresh Radicale and Xandikos.
func eachPeer(t *testing.T, f func(t *testing.T, p peer)) {
	for name, start := range map[string]func(testing.TB) peer{"radicale": startRadicale, "xandikos": startXandikos} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, start(t))
		})
	}
}

func mkcol(t testing.TB, url, user, password string) {
	t.Helper()
	body := `<?xml version="1.0"?><d:mkcol xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:set><d:prop>` +
		`<d:resourcetype><d:collection/><c:addressbook/></d:resourcetype></d:prop></d:set></d:mkcol>`
	req, err := http.NewRequestWithContext(context.Background(), "MKCOL", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	req.Header.Set("Content-Type", "application/xml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("MKCOL %s: %s", url, resp.Status)
	}
}

// rawPut writes a card as another client would, returning its ETag.
func rawPut(t testing.TB, p peer, url, card string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(card))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(p.user, "x")
	req.Header.Set("Content-Type", "text/vcard")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT %s: %s", url, resp.Status)
	}
	return resp.Header.Get("ETag")
}

// rawGet reads a card as another client would.
func rawGet(t testing.TB, p peer, url string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(p.user, "x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return b.String()
}
