package httpserve

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/internal/testenv"
)

// serve starts a server for h with a short read timeout on loopback.
func serve(t *testing.T, h http.Handler, readTimeout time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(h, nil, readTimeout)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// A client that stops sending its body is cut off at the read timeout.
func TestSlowBodyIsCutOff(t *testing.T) {
	got := make(chan error, 1)
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		got <- err
	}), 200*time.Millisecond)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
	select {
	case err := <-got:
		if err == nil {
			t.Fatal("reading a body that never came succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server still waits for the body after 10 s")
	}
}

// An answer that takes longer than the read timeout, after the body was
// read or without one, is not cancelled.
func TestLongAnswerOutlivesReadTimeout(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
			http.Error(w, "cancelled", http.StatusServiceUnavailable)
		case <-time.After(400 * time.Millisecond):
			io.WriteString(w, "done")
		}
	}), 200*time.Millisecond)
	for _, body := range []io.Reader{nil, strings.NewReader("some body")} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "done" {
			t.Errorf("body %v: answer %d %q, want done", body != nil, resp.StatusCode, b)
		}
	}
}

// Every request's context names the client's address, for the sign-in
// limiter of handlers that do not set it themselves.
func TestRequestsCarryClientAddr(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, crmsync.ClientAddrFrom(r.Context()))
	}), time.Second)
	resp, err := testenv.ClientFrom(t, 5).Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if host, _, _ := net.SplitHostPort(string(b)); host != "127.0.0.5" {
		t.Errorf("client address in the context: %q, want 127.0.0.5:port", b)
	}
}
