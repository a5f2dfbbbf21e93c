package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/crmsync/crmsync"
)

// subcommand is one verb of a command with subcommands (user, group).
type subcommand struct {
	name, usage string
	run         func(ctx context.Context, env *Env, sub subcommand, args []string) error
}

// dispatch runs the subcommand named by args[0].
func dispatch(ctx context.Context, env *Env, cmd string, subs []subcommand, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(env.Stderr, "Usage:\n")
		for _, s := range subs {
			fmt.Fprintf(env.Stderr, "  crmsync %s %s\n", cmd, s.usage)
		}
		if len(args) == 0 {
			return usagef("missing subcommand")
		}
		return flag.ErrHelp
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, env, s, args[1:])
		}
	}
	return usagef("unknown subcommand %q; run 'crmsync %s -h'", args[0], cmd)
}

var userCommands = []subcommand{
	{"add", "add NAME --password P [--admin] [--group G]... [--db FILE | --postgres URL]", userAdd},
	{"passwd", "passwd NAME --password P [--db FILE | --postgres URL]", userPasswd},
	{"disable", "disable NAME [--db FILE | --postgres URL]", userDisable},
	{"enable", "enable NAME [--db FILE | --postgres URL]", userDisable},
	{"list", "list [--db FILE | --postgres URL]", userList},
}

func runUser(ctx context.Context, env *Env, args []string) error {
	return dispatch(ctx, env, "user", userCommands, args)
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func userAdd(ctx context.Context, env *Env, sub subcommand, args []string) error {
	fs := newFlags(env, "user "+sub.name, "user "+sub.usage)
	dbPath := creatingDBFlag(fs)
	password := fs.String("password", "", "the new user's password (\"-\" reads it from stdin)")
	admin := fs.Bool("admin", false, "make the user an administrator (every right on every module)")
	var groups stringList
	fs.Var(&groups, "group", "add the user to this `group` (repeatable; the group must exist)")
	pos, err := parseFlags(env, fs, args, 1)
	if err != nil {
		return err
	}
	if *password == "" {
		return usagef("--password is required")
	}
	pw, err := readPassword(env, *password)
	if err != nil {
		return err
	}
	crm, db, err := openNewableCRM(ctx, env, *dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	sys := crmsync.System(ctx)
	if len(groups) > 0 {
		existing, err := crm.Groups(sys)
		if err != nil {
			return err
		}
		for _, g := range groups {
			if _, ok := existing[g]; !ok {
				return fmt.Errorf("no group %q: create it first with 'crmsync group set %s --module ...'", g, g)
			}
		}
	}
	u, err := crm.AddUser(sys, pos[0], pw, *admin)
	if err != nil {
		return err
	}
	for _, g := range groups {
		if err := crm.AddToGroup(sys, u.Name, g); err != nil {
			return fmt.Errorf("user %s was created, but adding it to group %s failed: %w", u.Name, g, err)
		}
	}
	fmt.Fprintf(env.Stdout, "added user %s (%s)\n", u.Name, u.GUID)
	return nil
}

func userPasswd(ctx context.Context, env *Env, sub subcommand, args []string) error {
	fs := newFlags(env, "user "+sub.name, "user "+sub.usage)
	dbPath := dbFlag(fs)
	password := fs.String("password", "", "the new password (\"-\" reads it from stdin)")
	pos, err := parseFlags(env, fs, args, 1)
	if err != nil {
		return err
	}
	if *password == "" {
		return usagef("--password is required")
	}
	pw, err := readPassword(env, *password)
	if err != nil {
		return err
	}
	crm, db, err := openCRM(ctx, env, *dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := crm.SetPassword(crmsync.System(ctx), pos[0], pw); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "password of %s changed\n", pos[0])
	return nil
}

// userDisable disables or enables (sub.name) a user: a disabled user
// cannot sign in, and their sessions and syncs stop.
func userDisable(ctx context.Context, env *Env, sub subcommand, args []string) error {
	fs := newFlags(env, "user "+sub.name, "user "+sub.usage)
	dbPath := dbFlag(fs)
	pos, err := parseFlags(env, fs, args, 1)
	if err != nil {
		return err
	}
	crm, db, err := openCRM(ctx, env, *dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := crm.SetDisabled(crmsync.System(ctx), pos[0], sub.name == "disable"); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "user %s %sd\n", pos[0], sub.name)
	return nil
}

func userList(ctx context.Context, env *Env, sub subcommand, args []string) error {
	fs := newFlags(env, "user "+sub.name, "user "+sub.usage)
	dbPath := dbFlag(fs)
	if _, err := parseFlags(env, fs, args, 0); err != nil {
		return err
	}
	crm, db, err := openCRM(ctx, env, *dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	users, err := crm.Users(crmsync.System(ctx))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADMIN\tDISABLED\tGROUPS\tGUID")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%t\t%t\t%s\t%s\n", u.Name, u.IsAdmin, u.Disabled, strings.Join(u.Groups, ","), u.GUID)
	}
	return tw.Flush()
}
