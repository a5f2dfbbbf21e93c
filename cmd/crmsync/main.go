// Command crmsync is the CRM server with two-way contact sync to Outlook;
// see `crmsync help`. All the work happens in Run, so tests can run the
// whole command in-process.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
