package ewayapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/crmsync/crmsync"
)

var update = flag.Bool("update", false, "rewrite the golden answers of the conversation tests")

// conversation posts request bodies as eWay's clients write them and
// compares each answer, with GUIDs and times replaced by placeholders,
// with a golden file: testdata/golden/{test}/{step}.json (go test
// ./ewayapi -run Conversation -update rewrites them; review the diff).
type conversation struct {
	f      *fixture
	t      *testing.T
	guids  map[string]string
	values map[string]string // $NAME in a body → a value an earlier answer gave
}

func newConversation(t *testing.T) *conversation {
	return &conversation{f: newFixture(t, fixtureOptions{}), t: t, guids: map[string]string{}, values: map[string]string{}}
}

var (
	guidPattern = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timePattern = regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`)
	varPattern  = regexp.MustCompile(`\$[A-Za-z0-9_]+`)
)

// set makes $name in later bodies stand for v.
func (c *conversation) set(name, v string) { c.values[name] = v }

// step sends body (with $NAMEs replaced) to path under the server and
// checks the answer against the golden file named step. It returns the
// decoded answer.
func (c *conversation) step(step, path, body string) reply {
	c.t.Helper()
	body = varPattern.ReplaceAllStringFunc(body, func(v string) string {
		if s, ok := c.values[v[1:]]; ok {
			return s
		}
		c.t.Fatalf("step %s: %s is not set", step, v)
		return ""
	})
	resp, err := http.Post(c.f.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		c.t.Fatalf("step %s: answer is not JSON: %v", step, err)
	}
	var r reply
	json.Unmarshal(raw, &r)
	c.golden(step, resp.StatusCode, raw)
	return r
}

func (c *conversation) golden(step string, status int, raw json.RawMessage) {
	c.t.Helper()
	norm := guidPattern.ReplaceAllStringFunc(string(raw), func(g string) string {
		g = strings.ToLower(g)
		if _, ok := c.guids[g]; !ok {
			c.guids[g] = fmt.Sprintf("<guid %d>", len(c.guids)+1)
		}
		return c.guids[g]
	})
	norm = timePattern.ReplaceAllString(norm, "<time>")
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(norm), "", "  "); err != nil {
		c.t.Fatal(err)
	}
	got := fmt.Sprintf("HTTP %d\n%s\n", status, buf.String())
	file := filepath.Join("testdata", "golden", c.t.Name(), step+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			c.t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			c.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		c.t.Fatalf("step %s: %v (run with -update to create it)", step, err)
	}
	if string(want) != got {
		c.t.Errorf("step %s: answer differs from %s:\ngot:\n%s\nwant:\n%s", step, file, got, want)
	}
}

// must fails the test unless r has code.
func (c *conversation) must(r reply, code string) reply {
	c.t.Helper()
	if r.code() != code {
		c.t.Fatalf("got %s %q, want %s", r.code(), r.desc(), code)
	}
	return r
}

func (c *conversation) login(user string) string {
	c.t.Helper()
	// php-lib eway.class.php reLogin(): the PHP client's Login body, to
	// InsecureAPI.svc over http.
	r := c.step("login-"+user, "/InsecureAPI.svc/Login", `{"userName":"`+user+`","passwordHash":"`+crmsync.PasswordMD5(user+"-pw")+
		`","appVersion":"PHP2.5.1","clientMachineIdentifier":null}`)
	c.must(r, "rcSuccess")
	return r["SessionId"].(string)
}

func itoa(n int) string { return fmt.Sprint(n) }

// get reads an item straight from the CRM (system caller).
func (f *fixture) get(tb testing.TB, folder crmsync.Folder, guid string) *crmsync.Item {
	tb.Helper()
	items, err := f.crm.Items(crmsync.System(context.Background()), folder, []string{guid})
	must(tb, err)
	if len(items) != 1 {
		tb.Fatalf("no %s %s", folder, guid)
	}
	return items[0]
}
