package main

import (
	"context"
	"fmt"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
)

func runCardDAV(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(env.Stderr, `Usage: crmsync carddav SUBCOMMAND --user NAME [flags]

  enable    sync the user's CRM contacts with a CardDAV address book (Radicale,
            Nextcloud, iCloud...): --url URL --username U --password P|- [--now]
  disable   stop it (contacts stay as they are)
  status    show the state and the last runs

Run the sync itself with: crmsync sync --kind carddav --user NAME
`)
		if len(args) == 0 {
			return usagef("a subcommand is required")
		}
		return nil
	}
	switch args[0] {
	case "enable":
		return carddavEnable(ctx, env, args[1:])
	case "disable", "status":
		return carddavStateCommand(ctx, env, args[0], args[1:])
	}
	return usagef("unknown subcommand %q of carddav (enable, disable, status)", args[0])
}

func carddavEnable(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "carddav enable", "carddav enable --user NAME --url URL --username U --password P [--book NAME] [--duplicates-book NAME] [--now | --later]")
	dbPath := dbFlag(fs)
	userName := fs.String("user", "", "CRM user `name`")
	url := fs.String("url", "", "`URL` of the CardDAV server, principal or address book")
	username := fs.String("username", "", "CardDAV user `name`")
	password := fs.String("password", "", "CardDAV `password` (- reads it from stdin)")
	book := fs.String("book", "", "address book `name` or path (default: the first one)")
	dupBook := fs.String("duplicates-book", "", "address book `name` for contacts found twice (default: none, they stay unsynced)")
	now := fs.Bool("now", false, "run the first sync now")
	later := fs.Bool("later", false, "postpone the first sync")
	policy := fs.String("policy", "newest", "conflict `policy`: newest, crm or outlook (= the CardDAV side)")
	if _, err := parseFlags(env, fs, args, 0); err != nil {
		return err
	}
	if *url == "" {
		return usagef("--url is required")
	}
	pol, err := engine.ParsePolicy(*policy)
	if err != nil {
		return usagef("%v", err)
	}
	pw, err := readPassword(env, *password)
	if err != nil {
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
	rc := remoteConfig{URL: *url, Username: *username, AddressBook: *book, DuplicatesBook: *dupBook}
	p, err := d.connectCardDAV(ctx, u, rc, pw, pol)
	if err != nil {
		return err
	}
	eng, err := d.checkedEngine(ctx, p, u)
	if err != nil {
		return err
	}
	return turnOn(ctx, env, d, eng, u, *now, *later, fmt.Sprintf(
		"CardDAV sync is on for %s; run the first sync with: crmsync sync --kind carddav --user %s --once", u.Name, u.Name))
}

func carddavStateCommand(ctx context.Context, env *Env, sub string, args []string) error {
	fs := newFlags(env, "carddav "+sub, "carddav "+sub+" --user NAME")
	dbPath := dbFlag(fs)
	userName := fs.String("user", "", "CRM user `name`")
	if _, err := parseFlags(env, fs, args, 0); err != nil {
		return err
	}
	d, u, p, err := openPartnership(ctx, env, *dbPath, *userName, "carddav")
	if err != nil {
		return err
	}
	defer d.Close()
	if sub == "disable" {
		p.State = "off"
		if err := d.state.SavePartnership(ctx, p); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "CardDAV sync is off for %s.\n", u.Name)
		return nil
	}
	rc, _ := parseRemote(p.Remote)
	pairs, err := d.state.PairCount(ctx, p.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "User:     %s\nBook:     %s (as %s)\nState:    %s\nPaired:   %d contacts\n", u.Name, rc.URL, rc.Username, p.State, pairs)
	runs, err := d.state.Runs(ctx, p.ID, 5)
	if err != nil {
		return err
	}
	printRuns(env.Stdout, runs)
	return nil
}

// connectCardDAV stores the book's password (owner-only) and rc as u's
// CardDAV partnership, keeping the sync state of an earlier one, and
// returns the partnership saved.
func (d *syncDeps) connectCardDAV(ctx context.Context, u *crmsync.User, rc remoteConfig, password string, pol engine.Policy) (*engine.Partnership, error) {
	if err := writeSecret(d.loc, u.Name, "carddav", password); err != nil {
		return nil, fmt.Errorf("storing the CardDAV password: %w", err)
	}
	p, err := d.state.Partnership(ctx, u.GUID, "carddav")
	switch crmsync.ErrorCode(err) {
	case "":
		p.Remote, p.Policy = rc.String(), pol
	case crmsync.ENOTFOUND:
		p = &engine.Partnership{User: u.GUID, Kind: "carddav", Remote: rc.String(), Mode: "automatic", Policy: pol, State: "off"}
	default:
		return nil, err
	}
	return p, d.state.SavePartnership(ctx, p)
}
