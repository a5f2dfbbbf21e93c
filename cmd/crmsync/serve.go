package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/ewayapi"
	"github.com/crmsync/crmsync/graph"
	"github.com/crmsync/crmsync/internal/httpserve"
)

// Server is what `crmsync serve` hands to each mount: the CRM, the HTTP
// mux to add handlers to, and a way to start background workers that
// stop with the server.
type Server struct {
	Env        *Env // the command's streams and environment
	CRM        crmsync.CRM
	DB         *crmDB
	DBLocation dbLocation // the --db file or --postgres database, for hints and secrets
	// Node names this process among the nodes sharing a PostgreSQL
	// database; LeaseTTL is how long its partnership leases last.
	Node         string
	LeaseTTL     time.Duration
	Mux          *http.ServeMux
	BasePath     string // --base-path: "" or e.g. "/eway"; Mux sees paths without it, links must add it
	Logger       *slog.Logger
	PollInterval time.Duration
	// Workers is the most sync cycles running at once (--workers).
	Workers int
	// Budgets share each mailbox's Graph limits among the process's clients.
	Budgets *graph.Budgets
	// Requests counts the requests to remotes for /metrics.
	Requests *requestCounts
	// Microsoft365 is the app users sign in to Microsoft 365 with from
	// the web UI (--ms-client-id); no ClientID, no sign-in there.
	Microsoft365 graph.AuthConfig

	ctx  context.Context
	wg   sync.WaitGroup
	errs chan error
}

// Go runs fn in the background until the server stops (its ctx is then
// cancelled and serve waits for fn to return). A worker that returns an
// error other than the cancellation stops the whole server with it.
func (s *Server) Go(name string, fn func(ctx context.Context) error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := fn(s.ctx)
		if err != nil && s.ctx.Err() == nil {
			select {
			case s.errs <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		}
	}()
}

// mounts extend `crmsync serve`: each adds its handlers to s.Mux and
// starts its workers with s.Go. Other files register theirs in an init
// func: `func init() { mounts = append(mounts, mountCardDAV) }`.
var mounts []func(ctx context.Context, s *Server) error

func runServe(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "serve", "serve [--db FILE | --postgres URL] [--listen ADDR] [--base-path PATH] [--poll-interval D] [--workers N] [--node NAME] [--lease D] [--ms-client-id ID [--ms-tenant T]]")
	dbPath := creatingDBFlag(fs)
	listen := fs.String("listen", "127.0.0.1:8080", "`address` to listen on (host:port; port 0 picks a free one)")
	poll := fs.Duration("poll-interval", 30*time.Second, "how often sync workers poll Outlook for changes")
	workers := fs.Int("workers", 2*runtime.GOMAXPROCS(0), "most sync cycles running at once, whatever the number of partnerships")
	node, lease := nodeFlags(fs)
	basePathFlag := fs.String("base-path", "", "serve everything (API, CardDAV, web UI) under this URL `path`, e.g. /eway")
	msClientID := fs.String("ms-client-id", "", "application (client) `id` of the app registration users sign in to Microsoft 365 with from the web UI (public client flows on)")
	msTenant := fs.String("ms-tenant", "common", "Microsoft Entra `tenant` of that sign-in: common, organizations or a tenant id")
	if _, err := parseFlags(env, fs, args, 0); err != nil {
		return err
	}
	basePath, err := cleanBasePath(*basePathFlag)
	if err != nil {
		return err
	}
	if *poll <= 0 {
		return usagef("--poll-interval must be positive, got %v", *poll)
	}
	if *workers <= 0 {
		return usagef("--workers must be positive, got %d", *workers)
	}
	if *lease <= 0 {
		return usagef("--lease must be positive, got %v", *lease)
	}

	// A connection for each sync worker, and for the change listener, the
	// lease pass and the API beside them.
	dbPath.PoolSize = *workers + 3

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	crm, db, err := openCRMLogging(ctx, env, *dbPath, env.Logger)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := ensureAdmin(ctx, env, crm, *dbPath); err != nil {
		return err
	}

	// Listen before the mounts start workers: a busy port fails fast.
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *listen, err)
	}
	defer ln.Close() // for the paths that return before Serve owns it

	mux := http.NewServeMux()
	ewayapi.NewServer(crm, ewayapi.Options{Logger: env.Logger}).Handle(mux)

	workCtx, cancelWork := context.WithCancel(ctx)
	defer cancelWork()
	srv := &Server{Env: env, CRM: crm, DB: db, DBLocation: *dbPath, Node: *node, LeaseTTL: *lease, Mux: mux, BasePath: basePath, Logger: env.Logger, PollInterval: *poll, Workers: *workers, Budgets: graph.NewBudgets(graph.Config{}), Requests: newRequestCounts(),
		Microsoft365: graph.AuthConfig{Tenant: *msTenant, ClientID: *msClientID},
		ctx:          workCtx, errs: make(chan error, 1)}
	defer func() { // on every path, workers stop before the database closes
		cancelWork()
		srv.wg.Wait()
	}()
	for _, mount := range mounts {
		if err := mount(workCtx, srv); err != nil {
			return err
		}
	}

	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		env.Logger.Warn("listening beyond this machine over plain HTTP: password hashes and session ids travel unencrypted; put a TLS proxy in front",
			"addr", tcp.String())
	}
	httpSrv := httpserve.New(underBasePath(basePath, mux), env.Logger)
	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()
	// Tests and scripts read the bound address from this line (--listen :0).
	fmt.Fprintf(env.Stdout, "listening on http://%s%s\n", ln.Addr(), basePath)
	env.Logger.Info("serving", "addr", ln.Addr().String(), "db", dbPath.String())

	var runErr error
	select {
	case <-ctx.Done():
		stop() // a second Ctrl-C kills the process if shutting down hangs
		env.Logger.Info("shutting down")
	case err := <-served:
		runErr = fmt.Errorf("serving HTTP: %w", err)
	case err := <-srv.errs:
		runErr = err
	}
	cancelWork()
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return errors.Join(runErr, fmt.Errorf("shutting down: %w", err))
	}
	return runErr
}

// ensureAdmin creates the `admin` user on a database without an
// administrator (a fresh one). Its password is random and never shown, so
// nobody can use it until the administrator of the machine sets one.
func ensureAdmin(ctx context.Context, env *Env, crm crmsync.CRM, loc dbLocation) error {
	sys := crmsync.System(ctx)
	users, err := crm.Users(sys)
	if err != nil {
		return err
	}
	for _, u := range users {
		if u.IsAdmin || u.Name == "admin" {
			return nil
		}
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return fmt.Errorf("generating a password: %w", err)
	}
	if _, err := crm.AddUser(sys, "admin", hex.EncodeToString(secret[:]), true); err != nil {
		if crmsync.ErrorCode(err) == crmsync.EEXISTS {
			return nil // another node sharing the database created it meanwhile
		}
		return fmt.Errorf("creating the admin user: %w", err)
	}
	fmt.Fprintln(env.Stdout, "Created the administrator 'admin' on this new database. Set its password with:")
	fmt.Fprintf(env.Stdout, "  crmsync user passwd admin --password P%s\n", loc.arg(env.Getenv))
	return nil
}
