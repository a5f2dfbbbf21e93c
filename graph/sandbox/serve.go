package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/crmsync/crmsync/internal/httpserve"
	"github.com/crmsync/crmsync/outlook"
)

// Serve runs the sandbox for mb on ln until ctx is done, then shuts down
// gracefully (in-flight requests get up to 5 seconds). It is what
// `crmsync sandbox` and `crmsync demo` run; the caller owns mb and ln's
// address, Serve closes ln.
func Serve(ctx context.Context, ln net.Listener, mb *outlook.Mailbox, opt Options) error {
	srv := httpserve.New(NewServer(mb, opt), opt.Logger)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serving the sandbox mailbox: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if serr := <-done; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("stopping the sandbox mailbox: %w", err)
	}
	return nil
}
