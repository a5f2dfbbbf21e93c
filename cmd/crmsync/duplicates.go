package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
)

func runDuplicates(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(env.Stderr, `Usage: crmsync duplicates list --user NAME
       crmsync duplicates merge|keep --user NAME OUTLOOK-ID

  list    the Outlook contacts moved to "Duplicate contacts" and the CRM contact each matches
  merge   merge one into its CRM contact: empty CRM fields are filled from Outlook,
          differing values go to a journal, the Outlook duplicate is removed
  keep    keep both: the duplicate stays in Outlook's "Duplicate contacts" folder, unsynced
`)
		if len(args) == 0 {
			return usagef("a subcommand is required")
		}
		return nil
	}
	sub := args[0]
	if sub != "list" && sub != "merge" && sub != "keep" {
		return usagef("unknown subcommand %q of duplicates (list, merge, keep)", sub)
	}
	usage := "duplicates " + sub + " --user NAME OUTLOOK-ID [--db FILE | --postgres URL]"
	if sub == "list" {
		usage = "duplicates list --user NAME [--db FILE | --postgres URL]"
	}
	fs := newFlags(env, "duplicates "+sub, usage)
	dbPath := dbFlag(fs)
	userName := fs.String("user", "", "CRM user `name`")
	want := 1
	if sub == "list" {
		want = 0
	}
	pos, err := parseFlags(env, fs, args[1:], want)
	if err != nil {
		return err
	}
	d, u, p, err := openPartnership(ctx, env, *dbPath, *userName, "outlook")
	if err != nil {
		return err
	}
	defer d.Close()
	dups, err := d.state.Duplicates(ctx, p.ID)
	if err != nil {
		return err
	}
	if sub == "list" {
		if len(dups) == 0 {
			fmt.Fprintln(env.Stdout, "No duplicates await review.")
		}
		for _, dup := range dups {
			fmt.Fprintf(env.Stdout, "%s\t%s <%s>\tmatches CRM contact %s\n", dup.RemoteID, dup.Name, dup.Email, dup.CRMID)
		}
		return nil
	}
	dup := findDuplicate(dups, pos[0])
	if dup == nil {
		return crmsync.Errorf(crmsync.ENOTFOUND, "no duplicate %s awaits review; see 'crmsync duplicates list --user %s'", pos[0], u.Name)
	}
	if sub == "keep" {
		if err := d.state.ResolveDuplicate(ctx, p.ID, dup.RemoteID); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Kept both: %s stays in Outlook's \"Duplicate contacts\" folder.\n", dup.Name)
		return nil
	}
	eng, err := d.engineFor(ctx, p, u)
	if err != nil {
		return err
	}
	filled, differing, err := mergeDuplicate(ctx, d, eng, u, dup)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Merged %s into CRM contact %s: %d fields filled, %d differing values kept in a journal. The Outlook copy was removed; the next sync updates the main one.\n",
		dup.Name, dup.CRMID, filled, differing)
	return nil
}

// findDuplicate is the duplicate of Outlook contact remoteID among dups;
// nil: none awaits review.
func findDuplicate(dups []engine.Duplicate, remoteID string) *engine.Duplicate {
	if i := slices.IndexFunc(dups, func(d engine.Duplicate) bool { return d.RemoteID == remoteID }); i >= 0 {
		return &dups[i]
	}
	return nil
}

// mergeDuplicate merges an Outlook duplicate into its CRM contact (SPEC
// X2): the CRM record is the main one, its empty fields are filled from
// Outlook, differing values go to a system journal, and the Outlook copy
// is removed.
func mergeDuplicate(ctx context.Context, d *syncDeps, eng *engine.Engine, u *crmsync.User, dup *engine.Duplicate) (filled, differing int, err error) {
	remote, err := eng.Remote.Get(ctx, []string{dup.RemoteID})
	if err != nil {
		return 0, 0, err
	}
	if len(remote) == 0 {
		return 0, 0, crmsync.Errorf(crmsync.ENOTFOUND, "the Outlook duplicate %s is gone; resolve it with 'keep'", dup.RemoteID)
	}
	main, err := eng.CRM.Get(ctx, []string{dup.CRMID})
	if err != nil {
		return 0, 0, err
	}
	if len(main) == 0 {
		return 0, 0, crmsync.Errorf(crmsync.ENOTFOUND, "CRM contact %s is gone or not visible to %s", dup.CRMID, u.Name)
	}
	dupFields := remote[0].Fields
	note, _ := engine.SplitNote(dupFields[crmsync.FieldNote])
	dupFields[crmsync.FieldNote] = note
	fill := map[string]string{}
	var diffs []string
	for _, f := range engine.SyncFields {
		mine, theirs := main[0].Fields[f], dupFields[f]
		switch {
		case theirs == "" || mine == theirs:
		case mine == "":
			fill[f] = theirs
		case f == crmsync.FieldPicture:
		default:
			diffs = append(diffs, fmt.Sprintf("%s: %q", f, theirs))
		}
	}
	if len(fill) > 0 {
		op := engine.Op{Kind: engine.Update, ID: main[0].ID, IfVersion: main[0].Version, Fields: fill, Photo: remote[0].Photo}
		res, err := eng.CRM.Apply(ctx, []engine.Op{op})
		if err != nil {
			return 0, 0, err
		}
		if res[0].Err != nil {
			return 0, 0, res[0].Err
		}
	}
	if len(diffs) > 0 {
		note := "Values of the merged Outlook duplicate that differ from this contact:\n" + strings.Join(diffs, "\n")
		if _, err := d.svc.AddSystemJournal(crmsync.WithUser(ctx, u), main[0].ID, "Merged duplicate", note); err != nil {
			return 0, 0, err
		}
	}
	res, err := eng.Remote.Apply(ctx, []engine.Op{{Kind: engine.Delete, ID: dup.RemoteID}})
	if err != nil {
		return 0, 0, err
	}
	if res[0].Err != nil && crmsync.ErrorCode(res[0].Err) != crmsync.ENOTFOUND {
		return 0, 0, res[0].Err
	}
	if err := d.state.ResolveDuplicate(ctx, eng.Partnership.ID, dup.RemoteID); err != nil {
		return 0, 0, err
	}
	return len(fill), len(diffs), nil
}
