package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/carddav/remote"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/graph"
	"github.com/crmsync/crmsync/service"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/oauth2"
	"golang.org/x/term"
)

// remoteConfig is how a partnership reaches its remote; it is stored as
// JSON in Partnership.Remote. It never holds a secret: tokens and
// passwords live in the secrets directory beside the database.
type remoteConfig struct {
	// Sandbox is the URL of a sandbox mailbox (crmsync sandbox / demo).
	Sandbox string `json:"sandbox,omitempty"`
	// Tenant and ClientID name the Microsoft 365 sign-in.
	Tenant   string `json:"tenant,omitempty"`
	ClientID string `json:"clientId,omitempty"`
	// GraphURL is Graph's root for a Microsoft 365 mailbox when it is not
	// graph.DefaultBaseURL (a national cloud; tests on loopback).
	GraphURL string `json:"graphUrl,omitempty"`
	// FolderID is the mailbox's Contacts folder, found when connecting.
	FolderID string `json:"folderId,omitempty"`
	// URL, Username, AddressBook and DuplicatesBook reach a CardDAV
	// address book; the password is in the secrets directory.
	URL            string `json:"url,omitempty"`
	Username       string `json:"username,omitempty"`
	AddressBook    string `json:"addressBook,omitempty"`
	DuplicatesBook string `json:"duplicatesBook,omitempty"`
}

// mailbox names the Outlook mailbox of rc for user u, whose Graph budget
// every client of it shares: a sandbox serves one mailbox; a Microsoft 365
// one is the account u signed in with.
func (rc remoteConfig) mailbox(u *crmsync.User) string {
	if rc.Sandbox != "" {
		return rc.Sandbox
	}
	return rc.GraphURL + "|" + rc.Tenant + "|" + u.GUID
}

func parseRemote(s string) (remoteConfig, error) {
	var rc remoteConfig
	if s == "" {
		return rc, crmsync.Errorf(crmsync.EPRECONDITION, "this partnership has no remote configured")
	}
	if err := json.Unmarshal([]byte(s), &rc); err != nil {
		return rc, fmt.Errorf("reading the partnership's remote settings: %w", err)
	}
	return rc, nil
}

func (rc remoteConfig) String() string {
	b, _ := json.Marshal(rc)
	return string(b)
}

// secretsDir is where tokens of the database at loc are kept (0700).
func secretsDir(loc dbLocation) string { return loc.Path + ".secrets" }

// syncDeps are what sync commands need of an open CRM.
type syncDeps struct {
	env   *Env
	svc   *service.Service
	db    *crmDB
	state engine.StateStore
	loc   dbLocation
	// budgets share each mailbox's Graph limits among the partnerships and
	// web sign-ins of this process (nil: a client has its own).
	budgets *graph.Budgets
	// requests counts the requests to remotes for /metrics (nil: not counted).
	requests *requestCounts
}

func openSync(ctx context.Context, env *Env, loc dbLocation) (*syncDeps, error) {
	crm, db, err := openCRM(ctx, env, loc)
	if err != nil {
		return nil, err
	}
	d, ok := newSyncDeps(env, crm, db, loc)
	if !ok {
		db.Close()
		return nil, fmt.Errorf("the CRM store does not support sync")
	}
	return d, nil
}

// newSyncDeps wires sync to crm, open on db at loc; ok is false when crm
// is not the service, whose system journals the sync needs.
func newSyncDeps(env *Env, crm crmsync.CRM, db *crmDB, loc dbLocation) (d *syncDeps, ok bool) {
	svc, ok := asService(crm)
	if !ok {
		return nil, false
	}
	return &syncDeps{env: env, svc: svc, db: db, state: db.state, loc: loc}, true
}

// syncDeps is the sync wiring of the server's CRM, with the process's
// shared Graph budgets and request counts; ok is false when the CRM
// cannot sync.
func (s *Server) syncDeps() (d *syncDeps, ok bool) {
	if d, ok = newSyncDeps(s.Env, s.CRM, s.DB, s.DBLocation); ok {
		d.budgets, d.requests = s.Budgets, s.Requests
	}
	return d, ok
}

func (d *syncDeps) Close() error { return d.db.Close() }

// user looks a user up by name for the CLI.
func (d *syncDeps) user(ctx context.Context, name string) (*crmsync.User, error) {
	if name == "" {
		return nil, usagef("--user is required")
	}
	return d.svc.UserByName(crmsync.System(ctx), name)
}

// usersByGUID is every user by GUID, as partnerships name their users:
// one listing for all the partnerships at hand.
func (d *syncDeps) usersByGUID(ctx context.Context) (map[string]*crmsync.User, error) {
	users, err := d.svc.Users(crmsync.System(ctx))
	if err != nil {
		return nil, err
	}
	byGUID := make(map[string]*crmsync.User, len(users))
	for _, u := range users {
		byGUID[u.GUID] = u
	}
	return byGUID, nil
}

// partnershipOf returns the user's partnership of a kind ("outlook" or
// "carddav").
func (d *syncDeps) partnershipOf(ctx context.Context, u *crmsync.User, kind string) (*engine.Partnership, error) {
	p, err := d.state.Partnership(ctx, u.GUID, kind)
	if crmsync.ErrorCode(err) == crmsync.ENOTFOUND {
		if kind == "carddav" {
			return nil, crmsync.Errorf(crmsync.EPRECONDITION,
				"%s has no CardDAV sync yet: run 'crmsync carddav enable --user %s --url URL --username NAME --password P'", u.Name, u.Name)
		}
		return nil, crmsync.Errorf(crmsync.EPRECONDITION,
			"%s is not connected to Outlook yet: run 'crmsync outlook connect --user %s' (or add --sandbox URL for a sandbox mailbox)", u.Name, u.Name)
	}
	return p, err
}

// remoteReplica builds the remote side of p.
func (d *syncDeps) remoteReplica(ctx context.Context, p *engine.Partnership, u *crmsync.User) (engine.Replica, error) {
	rc, err := parseRemote(p.Remote)
	if err != nil {
		return nil, err
	}
	if p.Kind == "carddav" {
		password, err := readSecret(d.loc, u.Name, "carddav")
		if err != nil {
			return nil, &crmsync.Error{Code: crmsync.EPRECONDITION, Message: fmt.Sprintf("the CardDAV password of %s is missing: run 'crmsync carddav enable' again", u.Name), Err: err}
		}
		return remote.Open(ctx, remote.Config{URL: rc.URL, Username: rc.Username, Password: password, HTTPClient: d.requests.client("carddav", remote.DefaultHTTPClient()),
			AddressBook: rc.AddressBook, DuplicatesBook: rc.DuplicatesBook, Logger: d.env.Logger})
	}
	cfg := graph.Config{Logger: d.env.Logger, FolderID: rc.FolderID, Budget: d.budgets.For(rc.mailbox(u)), HTTPClient: d.requests.client("graph", nil),
		BatchedStatus: d.requests.batchedStatus("graph")}
	switch {
	case rc.Sandbox != "":
		cfg.BaseURL = rc.Sandbox
		cfg.TokenSource = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "sandbox"})
	default:
		cfg.BaseURL = rc.GraphURL
		store := graph.NewTokenStore(secretsDir(d.loc))
		ts, err := store.TokenSource(ctx, graph.AuthConfig{Tenant: rc.Tenant, ClientID: rc.ClientID}, u.Name)
		if err != nil {
			return nil, &crmsync.Error{Code: crmsync.EPRECONDITION, Message: fmt.Sprintf("%s is not signed in to Microsoft 365: run 'crmsync outlook connect --user %s'", u.Name, u.Name), Err: err}
		}
		cfg.TokenSource = ts
	}
	return graph.New(cfg)
}

// engineFor builds the engine of partnership p of user u.
func (d *syncDeps) engineFor(ctx context.Context, p *engine.Partnership, u *crmsync.User) (*engine.Engine, error) {
	remote, err := d.remoteReplica(ctx, p, u)
	if err != nil {
		return nil, err
	}
	side := &engine.CRMReplica{CRM: d.svc, User: u, Mode: p.Mode, Filter: p.Filter,
		SystemJournal: func(ctx context.Context, id, subject, note string) error {
			_, err := d.svc.AddSystemJournal(ctx, id, subject, note)
			return err
		}}
	return &engine.Engine{Partnership: p, State: d.state, CRM: side, Remote: remote, Journal: side, Logger: d.env.Logger}, nil
}

// findContactsFolder checks that the Outlook mailbox of rc answers and
// returns rc with its Contacts folder, which syncs then need not look up.
func (d *syncDeps) findContactsFolder(ctx context.Context, u *crmsync.User, rc remoteConfig) (remoteConfig, error) {
	r, err := d.remoteReplica(ctx, &engine.Partnership{Kind: "outlook", Remote: rc.String()}, u)
	if err != nil {
		return rc, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if rc.FolderID, err = r.(*graph.Client).FolderID(ctx); err != nil {
		return rc, fmt.Errorf("the Outlook mailbox does not answer: %w", err)
	}
	return rc, nil
}

// checkedEngine builds the engine of p once sync may run for u: the
// prerequisites pass (rights, settings) and the remote answers.
func (d *syncDeps) checkedEngine(ctx context.Context, p *engine.Partnership, u *crmsync.User) (*engine.Engine, error) {
	eng, err := d.engineFor(ctx, p, u)
	if err != nil {
		return nil, err
	}
	if err := engine.CheckPrerequisites(ctx, d.svc, u, reachable(eng.Remote)); err != nil {
		return nil, err
	}
	return eng, nil
}

// reachable checks that a remote answers (SPEC M10).
func reachable(r engine.Replica) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := r.Get(ctx, []string{"crmsync-connection-check"})
		return err
	}
}

// progressReporter shows progress on a terminal as a bar, elsewhere as a
// line every tenth of the work.
func progressReporter(w io.Writer, label string) (report func(engine.Progress), finish func()) {
	var bar *progressbar.ProgressBar
	lastTenth := -1
	isTerm := false
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		isTerm = true
	}
	report = func(p engine.Progress) {
		if isTerm {
			if bar == nil {
				bar = progressbar.NewOptions(p.Total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(label),
					progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("contacts"),
					progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
			}
			bar.Set(p.Done)
			return
		}
		if p.Total == 0 {
			return
		}
		if tenth := p.Done * 10 / p.Total; tenth != lastTenth {
			lastTenth = tenth
			fmt.Fprintf(w, "%s: %d/%d contacts (%d%%)\n", label, p.Done, p.Total, p.Done*100/p.Total)
		}
	}
	finish = func() {
		if bar != nil {
			bar.Finish()
		}
	}
	return report, finish
}

// remoteName is how summaries call the remote side of a partnership.
func remoteName(kind string) string {
	if kind == "carddav" {
		return "the address book"
	}
	return "Outlook"
}

// printSummary writes a run's summary (SPEC M11).
func printSummary(w io.Writer, run *engine.Run, remote string) {
	c := run.Counts
	took := run.Finished.Sub(run.Started).Round(time.Millisecond)
	fmt.Fprintf(w, "Sync %s in %v: %d created in %s, %d created in the CRM, %d updated in %s, %d updated in the CRM, %d deleted in %s, %d deleted in the CRM\n",
		outcomeWord(run.Outcome), took, c.CreatedInRemote, remote, c.CreatedInCRM, c.UpdatedInRemote, remote, c.UpdatedInCRM, c.DeletedInRemote, remote, c.DeletedInCRM)
	if len(run.Duplicates) > 0 {
		fmt.Fprintf(w, "%d duplicates moved to the folder \"Duplicate contacts\" of %s (review with 'crmsync duplicates list'):\n", len(run.Duplicates), remote)
		for i, d := range run.Duplicates {
			if i == 20 {
				fmt.Fprintf(w, "  ... and %d more\n", len(run.Duplicates)-i)
				break
			}
			fmt.Fprintf(w, "  %s <%s> matches CRM contact %s\n", d.Name, d.Email, d.CRMID)
		}
	}
	if len(run.Conflicts) > 0 {
		fmt.Fprintf(w, "%d conflicts resolved; the values not kept are in \"Item conflict\" journals\n", len(run.Conflicts))
	}
	for i, e := range run.Errors {
		if i == 20 {
			fmt.Fprintf(w, "  ... and %d more errors\n", len(run.Errors)-i)
			break
		}
		fmt.Fprintf(w, "  skipped %s %s: %s\n", e.Side, e.ID, e.Message)
	}
	if len(run.Retry) > 0 {
		fmt.Fprintf(w, "%d contacts will be retried on the next run\n", len(run.Retry))
	}
	if run.Message != "" {
		fmt.Fprintln(w, run.Message)
	}
}

func outcomeWord(o string) string {
	switch o {
	case "ok":
		return "finished"
	case "partial":
		return "finished with contacts to retry"
	case "needs-confirmation":
		return "stopped before deleting"
	}
	return strings.ReplaceAll(o, "-", " ")
}

// firstSync runs cycles until one completes (retrying transient failures a
// few times), reporting progress.
func firstSync(ctx context.Context, env *Env, eng *engine.Engine) (*engine.Run, error) {
	report, finish := progressReporter(env.Stderr, "First sync")
	defer finish()
	return runFirstSync(ctx, eng, report)
}

// runFirstSync is the first sync of the CLI and of the web UI: cycles
// until one completes, retrying transient failures a few times.
func runFirstSync(ctx context.Context, eng *engine.Engine, report func(engine.Progress)) (*engine.Run, error) {
	eng.Progress = report
	defer func() { eng.Progress = nil }()
	var run *engine.Run
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		run, err = eng.Cycle(ctx)
		if err != nil || run.Outcome == "ok" {
			break
		}
		time.Sleep(time.Duration(attempt+1) * time.Second)
	}
	return run, err
}

// asService returns the CRM as the service type, whose system journals the
// sync needs.
func asService(c crmsync.CRM) (*service.Service, bool) {
	svc, ok := c.(*service.Service)
	return svc, ok
}

// secretFile is where the secret of kind for user lives: one file in the
// secrets directory whatever the user name holds ("../x" stays inside),
// named as graph.TokenStore names its files.
func secretFile(loc dbLocation, user, kind string) string {
	name := strings.ReplaceAll(url.PathEscape(user), `\`, "%5C") + "." + kind
	return filepath.Join(secretsDir(loc), name)
}

// writeSecret stores a secret of kind for user beside the database,
// readable by the owner only (0600 in a 0700 directory).
func writeSecret(loc dbLocation, user, kind, secret string) error {
	dir := secretsDir(loc)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".secret-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(secret); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), secretFile(loc, user, kind))
}

func readSecret(loc dbLocation, user, kind string) (string, error) {
	b, err := os.ReadFile(secretFile(loc, user, kind))
	return string(b), err
}

// openPartnership opens the CRM and finds a user and their partnership of
// kind; the caller closes the returned deps.
func openPartnership(ctx context.Context, env *Env, loc dbLocation, userName, kind string) (*syncDeps, *crmsync.User, *engine.Partnership, error) {
	d, err := openSync(ctx, env, loc)
	if err != nil {
		return nil, nil, nil, err
	}
	u, err := d.user(ctx, userName)
	if err != nil {
		d.Close()
		return nil, nil, nil, err
	}
	p, err := d.partnershipOf(ctx, u, kind)
	if err != nil {
		d.Close()
		return nil, nil, nil, err
	}
	return d, u, p, nil
}

// turnOn switches a partnership on after its prerequisites passed: the
// first sync runs now, or waits (SPEC M11) with later telling how to run it.
func turnOn(ctx context.Context, env *Env, d *syncDeps, eng *engine.Engine, u *crmsync.User, now, later bool, laterHint string) error {
	p := eng.Partnership
	runNow := now
	if !now && !later {
		runNow = askYesNo(env, "Run the first sync now?")
	}
	p.State = "active"
	if !runNow && !p.Synced {
		p.State = "first-sync-pending"
	}
	if err := d.state.SavePartnership(ctx, p); err != nil {
		return err
	}
	if !runNow {
		fmt.Fprintln(env.Stdout, laterHint)
		return nil
	}
	run, err := firstSync(ctx, env, eng)
	if run != nil {
		printSummary(env.Stdout, run, remoteName(p.Kind))
	}
	if err != nil {
		return err
	}
	p.State = "active"
	return d.state.SavePartnership(ctx, p)
}

// printRuns lists a partnership's latest runs (SPEC X5).
func printRuns(w io.Writer, runs []engine.Run) {
	if len(runs) > 0 {
		fmt.Fprintln(w, "Last runs (created/updated/deleted, remote/CRM):")
	}
	for _, r := range runs {
		c := r.Counts
		fmt.Fprintf(w, "  %s  %-18s  +%d/+%d ~%d/~%d -%d/-%d  conflicts %d  errors %d  %s\n",
			r.Started.Local().Format("2006-01-02 15:04:05"), r.Outcome,
			c.CreatedInRemote, c.CreatedInCRM, c.UpdatedInRemote, c.UpdatedInCRM, c.DeletedInRemote, c.DeletedInCRM,
			c.Conflicts, c.Errors, r.Message)
	}
}
