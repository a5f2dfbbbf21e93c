// Command crmsync is the CRM server with two-way contact sync to Outlook;
// see `crmsync help`. All the work happens in Run, so tests can run the
// whole command in-process.
package main

import (
	"context"
	"os"
	"runtime/debug"
)

// defaultMemoryLimit is the soft heap limit crmsync keeps when GOMEMLIMIT
// does not set one: the garbage collector works harder near it instead of
// letting a 100,000-contact first sync double its live heap.
const defaultMemoryLimit = 400 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	os.Exit(Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
