package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/crmsync/crmsync"
)

var groupCommands = []subcommand{
	{"set", "set NAME --module M[,M] [--view L] [--edit L] [--delete L] [--create] [--export] [--db FILE | --postgres URL]", groupSet},
	{"list", "list [--db FILE | --postgres URL]", groupList},
	{"add-user", "add-user GROUP USER [--db FILE | --postgres URL]", groupAddUser},
	{"remove-user", "remove-user GROUP USER [--db FILE | --postgres URL]", groupRemoveUser},
}

func runGroup(ctx context.Context, env *Env, args []string) error {
	return dispatch(ctx, env, "group", groupCommands, args)
}

// groupSet creates the group if needed and sets its rights on the given
// modules exactly as the flags say (a level not given is None, a switch
// not given is off); its rights on other modules stay as they were.
func groupSet(ctx context.Context, env *Env, sub subcommand, args []string) error {
	fs := newFlags(env, "group "+sub.name, "group "+sub.usage)
	dbPath := creatingDBFlag(fs)
	modules := fs.String("module", "", "`modules` to set, comma-separated: Contacts, Companies, Journal (or all)")
	view := fs.String("view", "None", "which items members see: All, Related, Own or None")
	edit := fs.String("edit", "None", "which items members may change: All, Related, Own or None")
	del := fs.String("delete", "None", "which items members may delete: All, Related, Own or None")
	create := fs.Bool("create", false, "members may create items")
	export := fs.Bool("export", false, "members may export items (sync them to Outlook)")
	pos, err := parseFlags(env, fs, args, 1)
	if err != nil {
		return err
	}
	folders, err := parseModules(*modules)
	if err != nil {
		return err
	}
	var levels [3]crmsync.Level
	for i, l := range []struct{ flag, value string }{{"view", *view}, {"edit", *edit}, {"delete", *del}} {
		lv, ok := crmsync.ParseLevel(l.value)
		if !ok {
			return usagef("--%s: unknown level %q (want All, Related, Own or None)", l.flag, l.value)
		}
		levels[i] = lv
	}

	crm, db, err := openNewableCRM(ctx, env, *dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	sys := crmsync.System(ctx)
	groups, err := crm.Groups(sys)
	if err != nil {
		return err
	}
	rights := slices.DeleteFunc(slices.Clone(groups[pos[0]]), func(r crmsync.Rights) bool {
		return slices.Contains(folders, r.Folder)
	})
	for _, f := range folders {
		rights = append(rights, crmsync.Rights{Folder: f, View: levels[0], Edit: levels[1], Delete: levels[2],
			CanCreate: *create, CanExport: *export})
	}
	if err := crm.SaveGroup(sys, pos[0], rights); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "group %s: rights on %s set\n", pos[0], *modules)
	return nil
}

func parseModules(s string) ([]crmsync.Folder, error) {
	if s == "" {
		return nil, usagef("--module is required (Contacts, Companies, Journal or all)")
	}
	if s == "all" {
		return crmsync.Folders, nil
	}
	var folders []crmsync.Folder
	for _, m := range strings.Split(s, ",") {
		f := crmsync.Folder(strings.TrimSpace(m))
		if !f.Valid() {
			return nil, usagef("--module: unknown module %q (want Contacts, Companies, Journal or all)", m)
		}
		if !slices.Contains(folders, f) {
			folders = append(folders, f)
		}
	}
	return folders, nil
}

func groupList(ctx context.Context, env *Env, sub subcommand, args []string) error {
	fs := newFlags(env, "group "+sub.name, "group "+sub.usage)
	dbPath := dbFlag(fs)
	if _, err := parseFlags(env, fs, args, 0); err != nil {
		return err
	}
	crm, db, err := openCRM(ctx, env, *dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	groups, err := crm.Groups(crmsync.System(ctx))
	if err != nil {
		return err
	}
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	slices.Sort(names)
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tMODULE\tVIEW\tEDIT\tDELETE\tCREATE\tEXPORT")
	for _, n := range names {
		if len(groups[n]) == 0 {
			fmt.Fprintf(tw, "%s\t-\t\t\t\t\t\n", n)
		}
		for _, r := range groups[n] {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\t%t\n", n, r.Folder, r.View, r.Edit, r.Delete, r.CanCreate, r.CanExport)
		}
	}
	return tw.Flush()
}

func groupAddUser(ctx context.Context, env *Env, sub subcommand, args []string) error {
	return groupMembership(ctx, env, args, sub, true)
}

func groupRemoveUser(ctx context.Context, env *Env, sub subcommand, args []string) error {
	return groupMembership(ctx, env, args, sub, false)
}

func groupMembership(ctx context.Context, env *Env, args []string, sub subcommand, add bool) error {
	fs := newFlags(env, "group "+sub.name, "group "+sub.usage)
	dbPath := dbFlag(fs)
	pos, err := parseFlags(env, fs, args, 2)
	if err != nil {
		return err
	}
	crm, db, err := openCRM(ctx, env, *dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	sys := crmsync.System(ctx)
	group, user := pos[0], pos[1]
	if add {
		err = crm.AddToGroup(sys, user, group)
	} else {
		err = crm.RemoveFromGroup(sys, user, group)
	}
	if err != nil {
		return err
	}
	verb := map[bool]string{true: "added to", false: "removed from"}[add]
	fmt.Fprintf(env.Stdout, "user %s %s group %s\n", user, verb, group)
	return nil
}
