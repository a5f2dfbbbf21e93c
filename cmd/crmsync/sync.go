package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/engine/schedule"
	"github.com/crmsync/crmsync/postgres"
)

func init() { mounts = append(mounts, mountSyncWorkers) }

func runSync(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "sync", "sync --user NAME [--once] [--dry-run] [--confirm-deletes] [--poll-interval D]")
	dbPath := dbFlag(fs)
	userName := fs.String("user", "", "CRM user `name`")
	once := fs.Bool("once", false, "run one sync cycle and exit")
	dryRun := fs.Bool("dry-run", false, "show what a sync would change, without writing anything")
	confirm := fs.Bool("confirm-deletes", false, "go ahead with a run that deletes more than 20% of the contacts")
	poll := fs.Duration("poll-interval", 30*time.Second, "how often to look for changes when running continuously")
	kind := fs.String("kind", "outlook", "which sync: outlook or carddav")
	if _, err := parseFlags(env, fs, args, 0); err != nil {
		return err
	}
	if *kind != "outlook" && *kind != "carddav" {
		return usagef("--kind must be outlook or carddav, not %q", *kind)
	}
	d, u, p, err := openPartnership(ctx, env, *dbPath, *userName, *kind)
	if err != nil {
		return err
	}
	defer d.Close()
	if u.Disabled {
		return crmsync.Errorf(crmsync.EPRECONDITION, "%s is disabled: their syncs do not run until 'crmsync user enable %s'", u.Name, u.Name)
	}
	if p.State == "off" && !*dryRun {
		return crmsync.Errorf(crmsync.EPRECONDITION, "%s sync is off for %s: turn it on with 'crmsync %s enable --user %s'", *kind, u.Name, *kind, u.Name)
	}
	eng, err := d.engineFor(ctx, p, u)
	if err != nil {
		return err
	}
	eng.DryRun, eng.ConfirmDeletes = *dryRun, *confirm
	if *once || *dryRun {
		var run *engine.Run
		if !p.Synced && !*dryRun {
			run, err = firstSync(ctx, env, eng)
		} else {
			run, err = eng.Cycle(ctx)
		}
		if run != nil {
			if *dryRun {
				fmt.Fprintln(env.Stdout, "Dry run: nothing was written. A sync would do this:")
			}
			printSummary(env.Stdout, run, remoteName(p.Kind))
		}
		if err == nil && p.State == "first-sync-pending" && !*dryRun {
			p.State = "active"
			err = d.state.SavePartnership(ctx, p)
		}
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(env.Stdout, "Syncing %s continuously (every %v, and at once after CRM changes made by this process); Ctrl-C stops.\n", u.Name, *poll)
	r := &engine.Runner{Engine: eng, Changes: d.svc.WatchChanges(ctx), PollInterval: *poll, OnRun: logRun(env, u.Name)}
	return r.Run(ctx)
}

// logRun logs cycles that did something.
func logRun(env *Env, user string) func(*engine.Run, error) {
	return func(run *engine.Run, err error) {
		if err != nil {
			env.Logger.Warn("sync cycle failed", "user", user, "err", err)
			return
		}
		if run.Counts != (engine.Counts{}) || run.Outcome != "ok" {
			c := run.Counts
			env.Logger.Info("synced", "user", user, "outcome", run.Outcome,
				"to_outlook", c.CreatedInRemote+c.UpdatedInRemote+c.DeletedInRemote,
				"to_crm", c.CreatedInCRM+c.UpdatedInCRM+c.DeletedInCRM, "conflicts", c.Conflicts, "errors", c.Errors,
				"took", run.Finished.Sub(run.Started).Round(time.Millisecond))
		}
	}
}

// mountSyncWorkers runs the sync of every active partnership inside
// `crmsync serve`, picking up partnerships turned on or off meanwhile, and
// asks again about postponed first syncs (SPEC M11).
func mountSyncWorkers(ctx context.Context, s *Server) error {
	d, ok := s.syncDeps()
	if !ok {
		return nil
	}
	list, err := d.state.Partnerships(ctx)
	if err != nil {
		return err
	}
	users, _ := d.usersByGUID(ctx) // without them no hints; serve starts all the same
	for _, p := range list {
		if u := users[p.User]; u != nil && p.State == "first-sync-pending" {
			fmt.Fprintf(s.Env.Stdout, "%s sync for %s is on but its first sync was postponed. Run it now with: crmsync %s enable --user %s --now%s\n", p.Kind, u.Name, p.Kind, u.Name, d.loc.arg(s.Env.Getenv))
		}
	}
	if pg := s.DB.pg; pg != nil {
		// CRM writes of every node wake this node's workers.
		s.Go("change notifications", func(ctx context.Context) error { return pg.ListenChanges(ctx, d.svc.Notify) })
	}
	w := newWorkers(s, d)
	s.Mux.Handle("GET /metrics", w.metrics.handler(s.CRM))
	s.Go("sync scheduler", w.sched.Run)
	s.Go("sync wake-ups", func(ctx context.Context) error {
		for range d.svc.WatchChanges(ctx) {
			w.metrics.changed(time.Now())
			w.sched.WakeAll()
		}
		return nil
	})
	s.Go("sync workers", w.passes)
	return nil
}

// passes matches the running partnerships to the active ones (and renews
// the leases) now and then until ctx ends, then stops them all.
func (w *workers) passes(ctx context.Context) error {
	interval := 10 * time.Second
	if w.leased() {
		interval = min(interval, w.s.LeaseTTL/3) // renew well before the lease ends
	}
	for {
		w.pass(ctx)
		select {
		case <-ctx.Done():
			w.stopAll()
			return nil
		case <-time.After(interval):
		}
	}
}

// workers are the sync workers of one `serve` process: its partnerships'
// cycles, run by a scheduler with a bounded pool. On PostgreSQL each runs
// under the partnership's lease, with a state store fenced by it, and the
// node takes no more than its even share of the active partnerships.
type workers struct {
	s       *Server
	d       *syncDeps
	running map[int64]*worker
	skipped map[int64]bool // active partnerships of disabled users, logged once
	mu      *sync.Mutex    // guards running
	sched   *schedule.Scheduler
	metrics *syncMetrics
}

type worker struct {
	cancel func()
	token  int64 // the fencing token it runs under (PostgreSQL)
}

func newWorkers(s *Server, d *syncDeps) *workers {
	w := &workers{s: s, d: d, running: map[int64]*worker{}, skipped: map[int64]bool{}, mu: &sync.Mutex{}, metrics: newSyncMetrics(s.Requests),
		sched: schedule.New(schedule.Config{Workers: s.Workers, PollInterval: s.PollInterval})}
	w.metrics.running = func() int { w.mu.Lock(); defer w.mu.Unlock(); return len(w.running) }
	return w
}

func (w *workers) leased() bool { return w.s.DB.pg != nil }

// pass starts and stops workers to match the active partnerships and, on
// PostgreSQL, the leases this node holds.
func (w *workers) pass(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	list, err := w.d.state.Partnerships(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.s.Logger.Warn("listing sync partnerships", "err", err)
		}
		return
	}
	byGUID, err := w.d.usersByGUID(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.s.Logger.Warn("listing users for sync", "err", err)
		}
		return
	}
	var active []*engine.Partnership
	isActive := map[int64]bool{}
	for _, p := range list {
		if p.State != "active" {
			continue
		}
		if u := byGUID[p.User]; u == nil || u.Disabled {
			if !w.skipped[p.ID] {
				if u == nil {
					w.s.Logger.Warn("sync skipped: the partnership's user no longer exists", "kind", p.Kind, "partnership", p.ID)
				} else {
					w.s.Logger.Info("sync skipped: the user is disabled", "user", u.Name, "kind", p.Kind, "partnership", p.ID)
				}
				w.skipped[p.ID] = true
			}
			continue
		}
		delete(w.skipped, p.ID)
		active = append(active, p)
		isActive[p.ID] = true
	}
	for id := range w.running {
		if !isActive[id] {
			w.stop(ctx, id)
		}
	}
	quota := len(active)
	var state *postgres.SyncState
	var held map[int64]int64 // partnership -> token of the leases this node renewed
	if w.leased() {
		state = w.s.DB.pg.SyncState()
		live, err := state.Heartbeat(ctx, w.s.Node, w.s.LeaseTTL)
		if err != nil {
			w.s.Logger.Warn("recording this node's heartbeat", "err", err)
			return
		}
		quota = (len(active) + live - 1) / max(live, 1)
		// One statement for all, not a round trip per partnership: a
		// node of 1,000 partnerships renews in one go.
		if held, err = state.RenewLeases(ctx, w.s.Node, w.s.LeaseTTL); err != nil {
			w.s.Logger.Warn("renewing this node's leases", "err", err)
			return
		}
	}
	for _, p := range active {
		cur := w.running[p.ID]
		u := byGUID[p.User]
		if !w.leased() {
			if cur == nil {
				w.start(ctx, p, u, w.d.state, 0)
			}
			continue
		}
		if token, ok := held[p.ID]; ok && cur != nil && cur.token == token {
			continue // renewed
		}
		if cur == nil && len(w.running) >= quota {
			continue // leave it to a node below its share
		}
		l, ok, err := state.AcquireLease(ctx, p.ID, w.s.Node, w.s.LeaseTTL)
		if err != nil || !ok {
			if cur != nil { // lost to another node: it runs the partnership now
				cur.cancel()
				delete(w.running, p.ID)
				w.metrics.forget(p.ID)
			}
			continue
		}
		if cur != nil && cur.token == l.Token {
			continue // still ours under the same token (a lapsed lease comes back with a new one)
		}
		if l.Token > 1 {
			w.metrics.tookOver()
		}
		if cur != nil { // our lease lapsed and was taken again: restart under the new token
			cur.cancel()
			delete(w.running, p.ID)
		}
		w.start(ctx, p, u, state.Fenced(l), l.Token)
	}
	// Above our share (another node started): hand the newest ones over.
	for w.leased() && len(w.running) > quota {
		var newest int64
		for id := range w.running {
			newest = max(newest, id)
		}
		w.stop(ctx, newest)
	}
}

// start runs partnership p of user u on the scheduler, its state kept in
// state (fenced by the lease of the given token on PostgreSQL).
func (w *workers) start(ctx context.Context, p *engine.Partnership, u *crmsync.User, state engine.StateStore, token int64) {
	eng, err := w.d.engineFor(ctx, p, u)
	if err != nil {
		w.s.Logger.Warn("cannot start sync", "user", u.Name, "partnership", p.ID, "err", err)
		return
	}
	eng.State = state
	id := p.ID
	w.running[id] = &worker{cancel: func() { w.sched.Remove(id) }, token: token}
	logged := logRun(w.s.Env, u.Name)
	w.metrics.took(id, time.Now())
	w.sched.Add(ctx, id, func(ctx context.Context) (*engine.Run, error) {
		w.metrics.starting(id, time.Now())
		run, err := eng.Cycle(ctx)
		if ctx.Err() == nil {
			w.metrics.observe(id, run, err)
			logged(run, err)
		}
		return run, err
	})
	w.s.Logger.Info("sync worker started", "user", u.Name, "node", w.s.Node)
}

// stop ends a worker and, on PostgreSQL, gives its lease up so that
// another node takes the partnership at once.
func (w *workers) stop(ctx context.Context, id int64) {
	if cur := w.running[id]; cur != nil {
		cur.cancel()
		delete(w.running, id)
	}
	w.metrics.forget(id)
	if w.leased() {
		if err := w.s.DB.pg.SyncState().ReleaseLease(context.WithoutCancel(ctx), id, w.s.Node); err != nil {
			w.s.Logger.Warn("releasing a lease", "partnership", id, "err", err)
		}
	}
}

func (w *workers) stopAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id := range w.running {
		w.stop(context.Background(), id)
	}
}

// nodeFlags adds the flags of a node sharing a PostgreSQL database.
func nodeFlags(fs *flag.FlagSet) (node *string, lease *time.Duration) {
	host, _ := os.Hostname()
	node = fs.String("node", fmt.Sprintf("%s-%d", host, os.Getpid()), "`name` of this node among those sharing a PostgreSQL database")
	lease = fs.Duration("lease", 30*time.Second, "how long a node's hold on a partnership lasts without renewal (PostgreSQL): a dead node's partnerships move within it")
	return node, lease
}
