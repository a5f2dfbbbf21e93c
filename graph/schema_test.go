package graph_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/graph"
	"github.com/crmsync/crmsync/graph/sandbox"
)

// contactSchema reads the Graph v1.0 contact property list from the
// reference notes (§1.1 of reference/graph-and-peers.md, taken from the
// v1.0 CSDL), so that the client and the sandbox cannot drift together
// away from real Graph.
func contactSchema(tb testing.TB) map[string]bool {
	tb.Helper()
	p := filepath.Join(sharedTestdata(tb), "..", "..", "reference", "graph-and-peers.md")
	data, err := os.ReadFile(p)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatal(err)
		}
		tb.Skipf("reference notes missing: %v", err)
	}
	props := map[string]bool{}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "### 1.1 "):
			in = true
			continue
		case strings.HasPrefix(line, "### "):
			in = false
		}
		if !in || !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| Property") || strings.HasPrefix(line, "|---") {
			continue
		}
		cell := strings.Split(line, "|")[1]
		cell = strings.NewReplacer("**", "", "*navigation*", "", "`", "").Replace(cell)
		for _, name := range strings.Split(cell, "/") {
			if name = strings.TrimSpace(name); name != "" {
				props[name] = true
			}
		}
	}
	if len(props) < 40 || !props["givenName"] || !props["singleValueExtendedProperties"] {
		tb.Fatalf("could not read the contact property list from %s: %v", p, props)
	}
	return props
}

func TestPayloadUsesOnlyGraphContactProperties(t *testing.T) {
	t.Parallel()
	schema := contactSchema(t)
	nested := map[string]map[string]bool{
		"emailAddresses":                {"address": true, "name": true},
		"businessAddress":               {"street": true, "city": true, "state": true, "postalCode": true, "countryOrRegion": true},
		"homeAddress":                   {"street": true, "city": true, "state": true, "postalCode": true, "countryOrRegion": true},
		"otherAddress":                  {"street": true, "city": true, "state": true, "postalCode": true, "countryOrRegion": true},
		"singleValueExtendedProperties": {"id": true, "value": true},
	}
	for _, p := range graph.PayloadProperties() {
		if !schema[p] {
			t.Errorf("the client may send %q, which is not a Graph v1.0 contact property", p)
		}
	}

	sb := newSandbox(t, sandbox.Options{})
	rec := &recorder{next: http.DefaultTransport}
	cl := newTestClient(t, sb.url, func(c *graph.Config) { c.HTTPClient = &http.Client{Transport: rec} })
	photo := testPNG(t, 20, 20, 3)
	res := apply(t, cl, engine.Op{Kind: engine.Create, CRMGUID: "90000000-0000-0000-0000-000000000001", Fields: fullFields(1, photo), Photo: photo})
	mustOK(t, res)
	change := fullFields(2, nil)
	for _, k := range []string{crm.FieldEmail2, crm.AddressHome + "City"} {
		change[k] = ""
	}
	mustOK(t, apply(t, cl, engine.Op{Kind: engine.Update, ID: res[0].Record.ID, IfVersion: res[0].Record.Version, Fields: change}))
	if _, err := cl.Changes(context.Background(), ""); err != nil {
		t.Fatal(err)
	}

	checked := 0
	for _, w := range rec.writes(t) {
		u, _ := url.Parse(w.url)
		if sel := u.Query().Get("$select"); sel != "" {
			for _, p := range strings.Split(sel, ",") {
				if !schema[p] {
					t.Errorf("$select names %q, not a Graph v1.0 contact property", p)
				}
			}
		}
		if (w.method != "POST" && w.method != "PATCH") || !strings.Contains(u.Path, "contacts") || strings.HasSuffix(u.Path, "/move") || strings.Contains(u.Path, "/photo/") {
			continue
		}
		var body map[string]json.RawMessage
		if err := json.Unmarshal(w.body, &body); err != nil {
			t.Fatalf("%s %s: %v", w.method, w.url, err)
		}
		checked++
		for k, v := range body {
			if !schema[k] {
				t.Errorf("%s body has %q, not a Graph v1.0 contact property", w.method, k)
			}
			allowed := nested[k]
			if allowed == nil || string(v) == "null" {
				continue
			}
			var objs []map[string]any
			if v[0] == '[' {
				json.Unmarshal(v, &objs)
			} else {
				var o map[string]any
				json.Unmarshal(v, &o)
				objs = append(objs, o)
			}
			for _, o := range objs {
				for kk := range o {
					if !allowed[kk] {
						t.Errorf("%s.%s is not a member of its Graph type", k, kk)
					}
				}
			}
		}
	}
	if checked < 2 {
		t.Fatalf("only %d contact bodies seen", checked)
	}
}
