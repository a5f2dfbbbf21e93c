package main

import (
	"context"
	"fmt"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
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
	if p.State == "off" && !*dryRun {
		return crmsync.Errorf(crmsync.EPRECONDITION, "%s sync is off for %s: turn it on with 'crmsync %s enable --user %s'", *kind, u.Name, *kind, u.Name)
	}
	eng, err := d.engineFor(ctx, p)
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

// mountSyncWorkers runs one sync worker per active partnership inside
// `crmsync serve`, picking up partnerships turned on or off meanwhile, and
// asks again about postponed first syncs (SPEC M11).
func mountSyncWorkers(ctx context.Context, s *Server) error {
	d := &syncDeps{env: s.Env, db: s.DB, state: s.DB.state, loc: s.DBLocation}
	var ok bool
	if d.svc, ok = asService(s.CRM); !ok {
		return nil
	}
	list, err := d.state.Partnerships(ctx)
	if err != nil {
		return err
	}
	for _, p := range list {
		if p.State == "first-sync-pending" {
			u, err := d.userByGUID(ctx, p.User)
			if err != nil {
				continue
			}
			fmt.Fprintf(s.Env.Stdout, "%s sync for %s is on but its first sync was postponed. Run it now with: crmsync %s enable --user %s --now%s\n", p.Kind, u.Name, p.Kind, u.Name, d.loc.arg())
		}
	}
	s.Go("sync workers", func(ctx context.Context) error {
		running := map[int64]context.CancelFunc{}
		var wg sync.WaitGroup
		defer wg.Wait()
		for {
			list, err := d.state.Partnerships(ctx)
			if err != nil && ctx.Err() == nil {
				s.Logger.Warn("listing sync partnerships", "err", err)
			}
			active := map[int64]bool{}
			for _, p := range list {
				if p.State != "active" {
					continue
				}
				active[p.ID] = true
				if running[p.ID] != nil {
					continue
				}
				eng, err := d.engineFor(ctx, p)
				if err != nil {
					s.Logger.Warn("cannot start sync", "partnership", p.ID, "err", err)
					continue
				}
				u, _ := d.userByGUID(ctx, p.User)
				wctx, cancel := context.WithCancel(ctx)
				running[p.ID] = cancel
				r := &engine.Runner{Engine: eng, Changes: d.svc.WatchChanges(wctx), PollInterval: s.PollInterval, OnRun: logRun(s.Env, u.Name)}
				wg.Add(1)
				go func() { defer wg.Done(); r.Run(wctx) }()
				s.Logger.Info("sync worker started", "user", u.Name)
			}
			for id, cancel := range running {
				if !active[id] {
					cancel()
					delete(running, id)
				}
			}
			select {
			case <-ctx.Done():
				for _, cancel := range running {
					cancel()
				}
				return nil
			case <-time.After(10 * time.Second):
			}
		}
	})
	return nil
}
