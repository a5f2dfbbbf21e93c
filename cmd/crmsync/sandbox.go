package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/crmsync/crmsync/graph/sandbox"
	"github.com/crmsync/crmsync/internal/httpserve"
	"github.com/crmsync/crmsync/outlook"
)

func runSandbox(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "sandbox", "sandbox [--listen ADDR] [--db FILE] [--latency D]")
	listen := fs.String("listen", "127.0.0.1:8090", "`address` to listen on")
	dbPath := fs.String("db", "", "SQLite `file` keeping the mailbox across restarts (default: in memory)")
	latency := fs.Duration("latency", 0, "latency added to every request, to model a real tenant (e.g. 50ms)")
	// The mailbox's flags come from CRMSYNC_SANDBOX_DB, _LISTEN and
	// _LATENCY: CRMSYNC_DB and CRMSYNC_LISTEN name the CRM's file and the
	// server's address, and a sandbox taking them would write its tables
	// into the CRM database or fight serve for its port.
	senv := *env
	senv.Getenv = func(name string) string {
		return env.Getenv(strings.Replace(name, "CRMSYNC_", "CRMSYNC_SANDBOX_", 1))
	}
	if _, err := parseFlags(&senv, fs, args, 0); err != nil {
		return err
	}
	mb := outlook.NewMemory()
	if *dbPath != "" {
		var err error
		if mb, err = outlook.OpenFile(*dbPath); err != nil {
			return err
		}
	}
	defer mb.Close()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, addr, err := startSandbox(ctx, env, mb, *listen, sandbox.Options{Latency: *latency})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Sandbox mailbox serving Microsoft Graph's contact endpoints at http://%s/v1.0 (any bearer token).\n", addr)
	fmt.Fprintf(env.Stdout, "Connect a user to it with: crmsync outlook connect --user NAME --sandbox http://%s\n", addr)
	<-ctx.Done()
	st := srv.Stats()
	fmt.Fprintf(env.Stdout, "Sandbox served %d requests (%d HTTP, %d in $batch), %d throttled.\n", st.Operations, st.HTTPRequests, st.BatchItems, st.Throttled)
	return nil
}

// startSandbox serves a sandbox mailbox on listen until ctx ends.
func startSandbox(ctx context.Context, env *Env, mb *outlook.Mailbox, listen string, opt sandbox.Options) (*sandbox.Server, string, error) {
	opt.Logger = env.Logger
	srv := sandbox.NewServer(mb, opt)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, "", fmt.Errorf("listening on %s: %w", listen, err)
	}
	hs := httpserve.New(srv, env.Logger)
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			env.Logger.Error("sandbox stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(shut)
	}()
	return srv, ln.Addr().String(), nil
}
