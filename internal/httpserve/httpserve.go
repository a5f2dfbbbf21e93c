// Package httpserve builds the http.Server of every listener crmsync
// starts, so that none of them lets a slow or idle client hold a
// connection (and its goroutine) for ever, and so that every request's
// context carries the client's address (crmsync.WithClientAddr), which
// the sign-in limiter keys on, whichever handler signs the user in.
package httpserve

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/crmsync/crmsync"
)

// Timeouts of every server crmsync starts.
const (
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds reading a whole request, headers and body: enough
	// for the largest body crmsync takes (32 MiB) over a slow line. It
	// does not bound the answer: net/http keeps a handler's context alive
	// past it (TestLongAnswerOutlivesReadTimeout).
	ReadTimeout = 2 * time.Minute
	// IdleTimeout closes a kept-alive connection that sends nothing.
	IdleTimeout = 2 * time.Minute
)

// New returns a server for h with the timeouts above. errorLog, when not
// nil, receives net/http's own complaints (at Warn).
func New(h http.Handler, errorLog *slog.Logger) *http.Server {
	return newServer(h, errorLog, ReadTimeout)
}

func newServer(h http.Handler, errorLog *slog.Logger, readTimeout time.Duration) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(ReadHeaderTimeout, readTimeout),
		ReadTimeout:       readTimeout,
		IdleTimeout:       IdleTimeout,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return crmsync.WithClientAddr(ctx, c.RemoteAddr().String())
		},
	}
	if errorLog != nil {
		srv.ErrorLog = slog.NewLogLogger(errorLog.Handler(), slog.LevelWarn)
	}
	return srv
}
