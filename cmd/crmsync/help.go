package main

import (
	"fmt"
	"io"
)

// printHelp lists every command of the table with its one-line summary.
func printHelp(w io.Writer) {
	fmt.Fprintln(w, "crmsync — a CRM contacts server with two-way contact sync to Outlook.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: crmsync COMMAND [ARGS] [FLAGS]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-12s %s\n", "help", "list the commands; 'crmsync help COMMAND' shows its flags")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Only serve, user add and group set create a missing --db file (user add and group set say so);")
	fmt.Fprintln(w, "every other command refuses one that does not exist. demo makes its own in --dir or a temporary one.")
	fmt.Fprintln(w, "Every flag can also come from the environment: --db from CRMSYNC_DB,")
	fmt.Fprintln(w, "--poll-interval from CRMSYNC_POLL_INTERVAL, and so on; a flag on the command line wins.")
	fmt.Fprintln(w, "The sandbox's come from CRMSYNC_SANDBOX_DB, CRMSYNC_SANDBOX_LISTEN and CRMSYNC_SANDBOX_LATENCY.")
}
