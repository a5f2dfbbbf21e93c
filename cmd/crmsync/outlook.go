package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/graph"
	"golang.org/x/oauth2"
	"golang.org/x/term"
)

func runOutlook(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(env.Stderr, `Usage: crmsync outlook SUBCOMMAND --user NAME [flags]

  connect   sign the user in to Microsoft 365 (device code), or with --sandbox URL
            connect them to a sandbox mailbox
  enable    turn sync on after checking the prerequisites; --now runs the first
            sync at once, --later postpones it (asked again at the next start)
  disable   turn sync off (Outlook and CRM contacts stay as they are)
  status    show the sync state, the last runs and duplicates awaiting review
`)
		if len(args) == 0 {
			return usagef("a subcommand is required")
		}
		return nil
	}
	switch args[0] {
	case "connect":
		return outlookConnect(ctx, env, args[1:])
	case "enable":
		return outlookEnable(ctx, env, args[1:])
	case "disable":
		return outlookDisable(ctx, env, args[1:])
	case "status":
		return outlookStatus(ctx, env, args[1:])
	}
	return usagef("unknown subcommand %q of outlook (connect, enable, disable, status)", args[0])
}

func outlookConnect(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "outlook connect", "outlook connect --user NAME [--sandbox URL | --tenant T --client-id ID]")
	dbPath := dbFlag(fs)
	userName := fs.String("user", "", "CRM user `name`")
	sandbox := fs.String("sandbox", "", "`URL` of a sandbox mailbox (crmsync sandbox) to use instead of Microsoft 365")
	tenant := fs.String("tenant", "common", "Microsoft Entra `tenant`: common, organizations or a tenant id")
	clientID := fs.String("client-id", "", "application (client) `id` of the app registration allowed to sign in (public client flows on)")
	if _, err := parseFlags(env, fs, args, 0); err != nil {
		return err
	}
	d, err := openSync(ctx, env, *dbPath)
	if err != nil {
		return err
	}
	defer d.Close()
	u, err := d.user(ctx, *userName)
	if err != nil {
		return err
	}
	rc := remoteConfig{Sandbox: strings.TrimRight(*sandbox, "/")}
	var moved bool
	if rc.Sandbox == "" {
		if *clientID == "" {
			return usagef("--client-id is required to sign in to Microsoft 365 (or use --sandbox URL)")
		}
		rc.Tenant, rc.ClientID = *tenant, *clientID
		auth := graph.AuthConfig{Tenant: rc.Tenant, ClientID: rc.ClientID}
		tok, err := graph.DeviceLogin(ctx, auth, env.Stdout)
		if err != nil {
			return err
		}
		if moved, err = d.connectMicrosoft365(ctx, u, rc, tok); err != nil {
			return err
		}
	} else if moved, err = d.connectOutlook(ctx, u, rc); err != nil {
		return err
	}
	if moved {
		fmt.Fprintf(env.Stdout, "Note: %s was synced with another mailbox; the sync state is kept, so contacts are matched by their CRM ids.\n", u.Name)
	}
	where := "Microsoft 365"
	if rc.Sandbox != "" {
		where = "the sandbox mailbox at " + rc.Sandbox
	}
	fmt.Fprintf(env.Stdout, "Connected %s to %s. Turn sync on with: crmsync outlook enable --user %s --now\n", u.Name, where, u.Name)
	return nil
}

func outlookEnable(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "outlook enable", "outlook enable --user NAME [--now | --later] [--mode automatic|manual] [--filter F] [--policy P]")
	dbPath := dbFlag(fs)
	userName := fs.String("user", "", "CRM user `name`")
	now := fs.Bool("now", false, "run the first sync now")
	later := fs.Bool("later", false, "postpone the first sync; it is asked again at the next start")
	mode := fs.String("mode", "automatic", "`mode`: automatic (every contact the user may see, narrowed by --filter) or manual (contacts the user marked)")
	filter := fs.String("filter", "", "automatic mode `filter`: \"\" (all), own, or companies:GUID,GUID")
	policy := fs.String("policy", "newest", "conflict `policy`: newest, crm or outlook")
	if _, err := parseFlags(env, fs, args, 0); err != nil {
		return err
	}
	if *now && *later {
		return usagef("--now and --later exclude each other")
	}
	o, err := parseSyncOptions(*mode, *filter, *policy)
	if err != nil {
		return usagef("%v", err)
	}
	d, u, p, err := openPartnership(ctx, env, *dbPath, *userName, "outlook")
	if err != nil {
		return err
	}
	defer d.Close()
	eng, err := d.enableOutlook(ctx, u, p, o)
	if err != nil {
		return err
	}
	return turnOn(ctx, env, d, eng, u, *now, *later, fmt.Sprintf(
		"Outlook sync is on for %s; the first sync waits. Run it with: crmsync outlook enable --user %s --now (you will be asked again when crmsync serve starts).", u.Name, u.Name))
}

// askYesNo asks a question on a terminal; elsewhere it answers no and
// says so.
func askYesNo(env *Env, question string) bool {
	f, ok := env.Stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(env.Stdout, "%s Not asked (no terminal): later. Pass --now or --later to choose.\n", question)
		return false
	}
	fmt.Fprintf(env.Stdout, "%s [Y/n] ", question)
	line, _ := bufio.NewReader(env.Stdin).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "" || answer == "y" || answer == "yes"
}

func outlookDisable(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "outlook disable", "outlook disable --user NAME")
	dbPath := dbFlag(fs)
	userName := fs.String("user", "", "CRM user `name`")
	if _, err := parseFlags(env, fs, args, 0); err != nil {
		return err
	}
	d, u, p, err := openPartnership(ctx, env, *dbPath, *userName, "outlook")
	if err != nil {
		return err
	}
	defer d.Close()
	p.State = "off"
	if err := d.state.SavePartnership(ctx, p); err != nil {
		return err
	}
	if err := d.svc.SaveUserSetting(crmsync.WithUser(ctx, u), crmsync.Setting{Path: "Contacts", Name: "SyncWithOutlook", Value: "false"}); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Outlook sync is off for %s. Contacts stay where they are; turning it on again continues where it stopped.\n", u.Name)
	return nil
}

func outlookStatus(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "outlook status", "outlook status --user NAME")
	dbPath := dbFlag(fs)
	userName := fs.String("user", "", "CRM user `name`")
	if _, err := parseFlags(env, fs, args, 0); err != nil {
		return err
	}
	d, u, p, err := openPartnership(ctx, env, *dbPath, *userName, "outlook")
	if err != nil {
		return err
	}
	defer d.Close()
	rc, _ := parseRemote(p.Remote)
	where := "Microsoft 365"
	if rc.Sandbox != "" {
		where = "sandbox " + rc.Sandbox
	}
	pairs, err := d.state.PairCount(ctx, p.ID)
	if err != nil {
		return err
	}
	dups, err := d.state.Duplicates(ctx, p.ID)
	if err != nil {
		return err
	}
	filter := p.Filter
	if filter == "" {
		filter = "all visible contacts"
	}
	fmt.Fprintf(env.Stdout, "User:        %s\nMailbox:     %s\nState:       %s\nMode:        %s (%s)\nPolicy:      %s\nPaired:      %d contacts\nDuplicates:  %d awaiting review\n",
		u.Name, where, p.State, p.Mode, filter, p.Policy, pairs, len(dups))
	runs, err := d.state.Runs(ctx, p.ID, 5)
	if err != nil {
		return err
	}
	printRuns(env.Stdout, runs)
	return nil
}

// connectMicrosoft365 keeps the token u signed in with where syncs find
// it (owner-only beside the database), then connects their mailbox; the
// CLI and the web UI both sign in through it.
func (d *syncDeps) connectMicrosoft365(ctx context.Context, u *crmsync.User, rc remoteConfig, tok *oauth2.Token) (moved bool, err error) {
	if err := graph.NewTokenStore(secretsDir(d.loc)).Save(u.Name, tok); err != nil {
		return false, err
	}
	return d.connectOutlook(ctx, u, rc)
}

// connectOutlook checks that the mailbox of rc answers and stores it (with
// its Contacts folder) as u's Outlook partnership; moved reports that u
// was synced with another mailbox before.
func (d *syncDeps) connectOutlook(ctx context.Context, u *crmsync.User, rc remoteConfig) (moved bool, err error) {
	if rc, err = d.findContactsFolder(ctx, u, rc); err != nil {
		return false, err
	}
	p, err := d.state.Partnership(ctx, u.GUID, "outlook")
	switch crmsync.ErrorCode(err) {
	case "":
		old, _ := parseRemote(p.Remote)
		moved = p.Synced && (old.Sandbox != rc.Sandbox || old.Tenant != rc.Tenant || old.FolderID != rc.FolderID)
		p.Remote = rc.String()
	case crmsync.ENOTFOUND:
		p = &engine.Partnership{User: u.GUID, Kind: "outlook", Remote: rc.String(), Mode: "automatic", Policy: engine.PolicyNewest, State: "off"}
	default:
		return false, err
	}
	return moved, d.state.SavePartnership(ctx, p)
}

// syncOptions are the choices of turning Outlook sync on.
type syncOptions struct {
	mode, filter string
	policy       engine.Policy
}

func parseSyncOptions(mode, filter, policy string) (syncOptions, error) {
	if mode != "automatic" && mode != "manual" {
		return syncOptions{}, crmsync.Errorf(crmsync.EINVALID, "the mode must be automatic or manual, not %q", mode)
	}
	if filter != "" && filter != "own" && !strings.HasPrefix(filter, "companies:") {
		return syncOptions{}, crmsync.Errorf(crmsync.EINVALID, "the filter must be own or companies:GUID,GUID, not %q", filter)
	}
	pol, err := engine.ParsePolicy(policy)
	if err != nil {
		return syncOptions{}, crmsync.Errorf(crmsync.EINVALID, "%v", err)
	}
	return syncOptions{mode, filter, pol}, nil
}

// enableOutlook applies o to p once the prerequisites pass and records the
// user's sync settings; the caller then turns the partnership on.
func (d *syncDeps) enableOutlook(ctx context.Context, u *crmsync.User, p *engine.Partnership, o syncOptions) (*engine.Engine, error) {
	if p.Mode != o.mode || p.Filter != o.filter {
		p.CursorCRM = "" // the set changed: list it again in full
	}
	p.Mode, p.Filter, p.Policy = o.mode, o.filter, o.policy
	eng, err := d.checkedEngine(ctx, p, u)
	if err != nil {
		return nil, err
	}
	userCtx := crmsync.WithUser(ctx, u)
	for name, value := range map[string]string{"SyncWithOutlook": "true", "SyncMode": p.Mode, "SyncFilter": p.Filter} {
		if err := d.svc.SaveUserSetting(userCtx, crmsync.Setting{Path: "Contacts", Name: name, Value: value}); err != nil {
			return nil, err
		}
	}
	return eng, nil
}
