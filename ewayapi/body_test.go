package ewayapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// countingReader counts the bytes the HTTP client took from it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// bigSave is a SaveContacts body of about size bytes with sessionId sent
// before the contacts (first), after them, or not at all (session "").
func bigSave(session string, size int, first bool) []byte {
	obj := `{"FirstName":"` + strings.Repeat("x", 1000) + `"}`
	objs := `"transmitObjects":[` + strings.TrimSuffix(strings.Repeat(obj+",", size/(len(obj)+1)), ",") + `]`
	sid, _ := json.Marshal(session)
	switch {
	case session == "":
		return []byte(`{` + objs + `}`)
	case first:
		return []byte(`{"sessionId":` + string(sid) + `,` + objs + `}`)
	}
	return []byte(`{` + objs + `,"sessionId":` + string(sid) + `}`)
}

// An unauthenticated 32 MiB body is refused as a bad session after the
// server read only its beginning, wherever the bogus sessionId is; a
// signed-in client still saves a large batch.
func TestLargeBodyNeedsSessionFirst(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"no session", bigSave("", 32<<20-100, false)},
		{"bogus session first", bigSave("bogus", 32<<20-100, true)},
		{"bogus session last", bigSave("bogus", 32<<20-100, false)},
	} {
		body := &countingReader{r: bytes.NewReader(c.body)}
		resp, err := http.Post(f.url+"/API.svc/SaveContacts", "application/json", body)
		if err == nil {
			var r reply
			json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			if r.code() != "rcBadSession" || r.desc() == "" {
				t.Errorf("%s: %s %q, want rcBadSession", c.name, r.code(), r.desc())
			}
		}
		// Loopback socket buffers hold a few MiB the server never reads.
		if n := body.n.Load(); n > 16<<20 {
			t.Errorf("%s: the client sent %d of %d bytes before the server answered", c.name, n, len(c.body))
		}
	}

	s := f.login("alice")
	if d := f.post("SaveContacts", bigSave(s, 4<<20, true)); d.code() != "rcSuccess" || len(d.data()) < 4000 {
		t.Errorf("a signed-in 4 MiB SaveContacts: %s %q, %d results", d.code(), d.desc(), len(d.data()))
	}
	// Behind 100 KiB of other parameters the session comes too late.
	r := f.post("SaveContacts", bigSave(s, 100<<10, false))
	if r.code() != "rcBadSession" || !strings.Contains(r.desc(), "send sessionId first") {
		t.Errorf("sessionId after 100 KiB: %s %q", r.code(), r.desc())
	}
}

// Methods that take no items accept far smaller bodies than Save*.
func TestBodyLimitPerMethod(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	s := f.login("alice")
	pad := strings.Repeat(" ", 100<<10)
	for _, c := range []struct{ method, body, want string }{
		{"GetContacts", `{"sessionId":"` + s + `",` + pad + `"includeForeignKeys":true}`, "limit of 65536 bytes for GetContacts"},
		{"LogIn", `{"userName":"alice",` + pad + `"passwordHash":"x"}`, "limit of 65536 bytes for LogIn"},
	} {
		if r := f.post(c.method, c.body); r.code() != "rcParameterError" || !strings.Contains(r.desc(), c.want) {
			t.Errorf("%s with a 100 KiB body: %s %q, want rcParameterError %q", c.method, r.code(), r.desc(), c.want)
		}
	}
	if r := f.post("SaveContact", `{"sessionId":"`+s+`",`+pad+`"transmitObject":{"LastName":"Padded"}}`); r.code() != "rcSuccess" {
		t.Errorf("SaveContact with a 100 KiB body: %s %q", r.code(), r.desc())
	}
}
