package main

import (
	"context"
	"fmt"
	"sort"

	"github.com/crmsync/crmsync"
)

func runSetting(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "set") {
		fmt.Fprintf(env.Stderr, "Usage: crmsync setting list | set NAME VALUE\n\nGlobal settings: %s (true/false), %s (true/false).\n",
			crmsync.SettingCreateCompany, crmsync.SettingDuplicityCheck)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return usagef("a subcommand is required: list or set")
	}
	want := 0
	if args[0] == "set" {
		want = 2
	}
	usage := "setting list [--db FILE | --postgres URL]"
	if args[0] == "set" {
		usage = "setting set NAME true|false [--db FILE | --postgres URL]"
	}
	fs := newFlags(env, "setting "+args[0], usage)
	dbPath := dbFlag(fs)
	pos, err := parseFlags(env, fs, args[1:], want)
	if err != nil {
		return err
	}
	if args[0] == "set" {
		if _, known := crmsync.DefaultGlobalSettings[pos[0]]; !known {
			return usagef("unknown global setting %q", pos[0])
		}
		if pos[1] != "true" && pos[1] != "false" {
			return usagef("%s takes true or false, not %q", pos[0], pos[1])
		}
	}
	crm, db, err := openCRM(ctx, env, *dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	sys := crmsync.System(ctx)
	if args[0] == "set" {
		if err := crm.SetGlobalSetting(sys, pos[0], pos[1]); err != nil {
			return err
		}
	}
	settings, err := crm.GlobalSettings(sys)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(settings))
	for n := range settings {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(env.Stdout, "%s=%s\n", n, settings[n])
	}
	return nil
}
