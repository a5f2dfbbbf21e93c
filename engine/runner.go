package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	crm "github.com/crmsync/crmsync"
)

// RetryAfterError is implemented by replica errors that say when to try
// again (Graph's 429 and 503 with Retry-After).
type RetryAfterError interface {
	error
	RetryAfter() time.Duration
}

// Runner keeps one partnership in sync (SPEC M12): it runs a cycle when the
// CRM commits a change and every PollInterval for the remote side, backing
// off after failures and honouring Retry-After. It never blocks CRM users:
// it works only through the service, like any other client.
type Runner struct {
	Engine *Engine
	// Changes wakes the runner; usually CRM.WatchChanges.
	Changes <-chan int64
	// PollInterval is how often the remote is polled (default 30s).
	PollInterval time.Duration
	// MaxBackoff caps the wait after repeated failures (default 5 min).
	MaxBackoff time.Duration
	// OnRun is told about every cycle (for logs and tests).
	OnRun func(*Run, error)
}

// Run loops until ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	poll := r.PollInterval
	if poll <= 0 {
		poll = 30 * time.Second
	}
	maxBackoff := r.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 5 * time.Minute
	}
	failures := 0
	for {
		run, err := r.Engine.Cycle(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if r.OnRun != nil {
			r.OnRun(run, err)
		}
		var wait time.Duration
		wait, failures = NextWait(poll, maxBackoff, failures, run, err)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		case <-r.Changes:
			timer.Stop()
			if failures > 0 {
				// A failing side is not fixed by a CRM edit: keep the back-off.
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(wait):
				}
			}
		}
	}
}

// NextWait is how long to wait before the next cycle of a partnership
// whose cycle just returned run and err after failures failed ones in a
// row, and the new count: poll after a success or while a person must
// confirm, a doubling back-off capped at maxBackoff after errors (longer
// if the remote said Retry-After), a short one after a partial run.
func NextWait(poll, maxBackoff time.Duration, failures int, run *Run, err error) (time.Duration, int) {
	switch {
	case err != nil && crm.ErrorCode(err) == crm.EPRECONDITION:
		// Waiting for a person to confirm: keep polling gently.
		return poll, 0
	case err != nil:
		failures++
		wait := min(maxBackoff, time.Second<<min(failures, 16))
		var ra RetryAfterError
		if errors.As(err, &ra) && ra.RetryAfter() > wait {
			wait = ra.RetryAfter()
		}
		return wait, failures
	case run.Outcome == "partial":
		failures++
		return min(poll, time.Second<<min(failures, 16)), failures
	}
	return poll, 0
}

// CheckPrerequisites returns an EPRECONDITION error naming everything that
// stops the user from turning sync on (SPEC M10): Contacts Create, Edit and
// Export rights; Companies Create when companies are created from Outlook;
// and a reachable, authorized remote (reach may be nil to skip it).
func CheckPrerequisites(ctx context.Context, service crm.CRM, user *crm.User, reach func(context.Context) error) error {
	checks, err := Prerequisites(ctx, service, user, reach)
	if err != nil {
		return err
	}
	var missing []string
	for _, c := range checks {
		if !c.OK {
			missing = append(missing, c.Missing)
		}
	}
	if len(missing) > 0 {
		return crm.Errorf(crm.EPRECONDITION, "sync cannot be turned on for %s: missing %s", user.Name, strings.Join(missing, "; "))
	}
	return nil
}

// Prerequisite is one condition of turning sync on, for a settings page
// that shows each with a tick.
type Prerequisite struct {
	Name    string // create, edit, export, companies or remote
	OK      bool
	Missing string // what is missing, when not OK
}

// Prerequisites checks each condition of CheckPrerequisites; the
// companies one is listed only while its setting is on, the remote one
// only when reach is given.
func Prerequisites(ctx context.Context, service crm.CRM, user *crm.User, reach func(context.Context) error) ([]Prerequisite, error) {
	ctx = crm.WithUser(ctx, user)
	rights, err := service.MyRights(ctx)
	if err != nil {
		return nil, err
	}
	by := map[crm.Folder]crm.Rights{}
	for _, r := range rights {
		by[r.Folder] = r
	}
	c := by[crm.Contacts]
	checks := []Prerequisite{
		{Name: "create", OK: c.CanCreate, Missing: "the right to create contacts"},
		{Name: "edit", OK: c.Edit != crm.LevelNone, Missing: "the right to edit contacts"},
		{Name: "export", OK: c.CanExport, Missing: "the right to export contacts"},
	}
	settings, err := service.GlobalSettings(ctx)
	if err != nil {
		return nil, err
	}
	if settings[crm.SettingCreateCompany] == "true" {
		checks = append(checks, Prerequisite{Name: "companies", OK: by[crm.Companies].CanCreate,
			Missing: "the right to create companies (needed because " + crm.SettingCreateCompany + " is on)"})
	}
	if reach != nil {
		p := Prerequisite{Name: "remote", OK: true}
		if err := reach(ctx); err != nil {
			p.OK, p.Missing = false, fmt.Sprintf("a working connection to Outlook (%v)", err)
		}
		checks = append(checks, p)
	}
	return checks, nil
}
