package testenv

import (
	"net"
	"net/http"
	"testing"
)

// ClientFrom returns an HTTP client whose connections start from the
// loopback address 127.0.0.n, so that a test over real HTTP can be several
// clients (the server sees each as its own RemoteAddr). Linux routes the
// whole 127.0.0.0/8 to the loopback interface; where the address cannot be
// bound, the test skips saying so (fails under CI=true).
func ClientFrom(tb testing.TB, n int) *http.Client {
	tb.Helper()
	ip := net.IPv4(127, 0, 0, byte(n))
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		missing(tb, "loopback address %s cannot be bound (%v)", ip, err)
	}
	ln.Close()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
	return &http.Client{
		Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		// A redirect is an answer the tests look at.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
