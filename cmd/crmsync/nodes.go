package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"
)

// runNodes shows the nodes sharing a PostgreSQL database, who holds each
// partnership's lease, and each partnership's last run.
func runNodes(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "nodes", "nodes --postgres URL")
	loc := dbFlag(fs)
	if _, err := parseFlags(env, fs, args, 0); err != nil {
		return err
	}
	if loc.Postgres == "" {
		return usagef("nodes needs --postgres (or CRMSYNC_POSTGRES): a SQLite CRM runs on one node")
	}
	d, err := openSync(ctx, env, *loc)
	if err != nil {
		return err
	}
	defer d.Close()
	nodes, leases, err := d.db.pg.SyncState().Cluster(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	w := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tSTARTED\tLAST SEEN\tLEASES")
	held := map[string]int{}
	holder := map[int64]string{}
	for _, l := range leases {
		if l.Expires.After(now) {
			held[l.Node]++
			holder[l.Partnership] = fmt.Sprintf("%s (token %d, %s left)", l.Node, l.Token, l.Expires.Sub(now).Round(time.Second))
		}
	}
	for _, n := range nodes {
		fmt.Fprintf(w, "%s\t%s\t%s ago\t%d\n", n.Name, n.Started.Local().Format("2006-01-02 15:04:05"), now.Sub(n.Seen).Round(time.Second), held[n.Name])
	}
	fmt.Fprintln(w, "\nPARTNERSHIP\tUSER\tKIND\tSTATE\tRUN BY\tLAST RUN")
	list, err := d.state.Partnerships(ctx)
	if err != nil {
		return err
	}
	users, err := d.usersByGUID(ctx)
	if err != nil {
		return err
	}
	for _, p := range list {
		name := p.User
		if u := users[p.User]; u != nil {
			name = u.Name
		}
		last := "never"
		if runs, err := d.state.Runs(ctx, p.ID, 1); err == nil && len(runs) > 0 {
			last = fmt.Sprintf("%s %s", runs[0].Started.Local().Format("2006-01-02 15:04:05"), runs[0].Outcome)
		}
		by := holder[p.ID]
		if by == "" {
			by = "-"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", p.ID, name, p.Kind, p.State, by, last)
	}
	// Fencing refuses these; a count above 0 means it failed somewhere.
	stale, err := d.db.pg.SyncState().StaleWrites(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nState writes accepted from a node that had lost the lease: %d\n", stale)
	return w.Flush()
}
