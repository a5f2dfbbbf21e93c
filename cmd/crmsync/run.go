package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/carddav"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/postgres"
	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/sqlite"
)

// command is one entry of the command table: `crmsync NAME ...` runs run
// with the arguments after NAME. Summary is its line in `crmsync help`.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

// commands is the command table. Each command lives in its own file and
// adds one line here; `help` is listed by printHelp itself.
var commands = []command{
	{"serve", "run the CRM server (eWay API, CardDAV, web UI, sync workers) until interrupted", runServe},
	{"user", "manage users: add, passwd, disable, enable, list", runUser},
	{"group", "manage groups and their rights: set, list, add-user, remove-user", runGroup},
	{"setting", "show or change global settings: list, set NAME VALUE", runSetting},
	{"outlook", "connect a user to Outlook and turn sync on or off: connect, enable, disable, status", runOutlook},
	{"sync", "run the sync of one user's contacts with Outlook: once, continuously, or as a dry run", runSync},
	{"duplicates", "review contacts found twice on the first sync: list, merge, keep", runDuplicates},
	{"carddav", "sync a user's contacts with any CardDAV address book: enable, disable, status", runCardDAV},
	{"demo", "seed a CRM and a sandbox Outlook mailbox, run the first sync, then keep syncing", runDemo},
	{"nodes", "show the nodes sharing a PostgreSQL CRM, who runs each partnership and its last run", runNodes},
	{"migrate", "copy a SQLite CRM with its sync state into an empty PostgreSQL database, verifying the counts", runMigrate},
	{"sandbox", "run a sandbox Outlook mailbox speaking Microsoft Graph's contact API", runSandbox},
}

// Env is what a command may touch of the process: its streams, its
// environment and its logger. Tests pass their own.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads CRMSYNC_* defaults for flags; os.Getenv in main.
	Getenv func(string) string
	// Logger writes to Stderr; its level comes from CRMSYNC_LOG_LEVEL
	// (debug, info, warn, error; default info).
	Logger *slog.Logger
}

// usageError is a command line the command does not understand: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

// Run runs the crmsync command line args (without the program name) and
// returns the exit code: 0 success, 1 failure, 2 bad usage. Errors are
// printed to stderr.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &Env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: os.Getenv}
	env.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel(env.Getenv("CRMSYNC_LOG_LEVEL"))}))
	if len(args) == 0 {
		printHelp(stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && rest[0] != "help" {
			c, ok := lookup(rest[0])
			if !ok {
				fmt.Fprintf(stderr, "crmsync help: unknown command %q; run 'crmsync help' for the list\n", rest[0])
				return 2
			}
			return exitCode(env, c.name, c.run(ctx, env, []string{"-h"}))
		}
		printHelp(stdout)
		return 0
	}
	c, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "crmsync: unknown command %q; run 'crmsync help' for the list\n", name)
		return 2
	}
	return exitCode(env, name, c.run(ctx, env, rest))
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func exitCode(env *Env, name string, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(env.Stderr, "crmsync %s: %v\n", name, err)
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func logLevel(s string) slog.Level {
	var l slog.Level
	if l.UnmarshalText([]byte(s)) != nil {
		return slog.LevelInfo
	}
	return l
}

// newFlags returns a flag set for one (sub)command that reports errors
// instead of exiting.
func newFlags(env *Env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The flag package would print a parse error before the usage; the
	// command's error line says it once, after the usage.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: crmsync %s\n", usage)
		if hasFlags(fs) {
			fmt.Fprintln(env.Stderr, "Flags:")
			fs.SetOutput(env.Stderr)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// envName is the environment variable of a flag: --poll-interval → CRMSYNC_POLL_INTERVAL.
func envName(flagName string) string {
	return "CRMSYNC_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags sets fs's flags from CRMSYNC_* variables, then from args,
// which may mix flags and positional arguments (`user add NAME --admin`).
// It returns the positional arguments; want is how many there must be
// (-1: any number).
func parseFlags(env *Env, fs *flag.FlagSet, args []string, want int) ([]string, error) {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		v := env.Getenv(envName(f.Name))
		if v == "" || envErr != nil {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			envErr = usagef("invalid value %q for %s: %v", v, envName(f.Name), err)
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{msg: err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	if want >= 0 && len(positional) != want {
		fs.Usage()
		return nil, usagef("want %d argument(s), got %d", want, len(positional))
	}
	return positional, nil
}

// dbLocation is where a command's CRM lives: the SQLite file of --db, or
// the PostgreSQL database of --postgres (CRMSYNC_POSTGRES) when that is
// set. Secrets (tokens, CardDAV passwords) stay in an owner-only directory
// beside the --db path either way.
type dbLocation struct {
	Path     string
	Postgres string
	// PoolSize is the least number of PostgreSQL connections a process
	// needs (serve: its workers and its own); 0 leaves pgx's default.
	PoolSize int
	// MustExist refuses a SQLite file that is not there instead of
	// creating an empty CRM: a mistyped --db must not start a new one.
	MustExist bool
}

// dbFlag adds the --db and --postgres flags of a command that works on an
// existing CRM: a --db file that does not exist is refused.
func dbFlag(fs *flag.FlagSet) *dbLocation {
	return addDBFlags(fs, true, "SQLite database `file` of the CRM (must exist: 'crmsync serve' creates it); with --postgres, secrets are kept beside it")
}

// creatingDBFlag is dbFlag for the commands that may start a new CRM
// (serve, and user add and group set for a set-up scripted before the
// first start).
func creatingDBFlag(fs *flag.FlagSet) *dbLocation {
	return addDBFlags(fs, false, "SQLite database `file` of the CRM (created if missing); with --postgres, secrets are kept beside it")
}

func addDBFlags(fs *flag.FlagSet, mustExist bool, dbUsage string) *dbLocation {
	loc := &dbLocation{MustExist: mustExist}
	fs.StringVar(&loc.Path, "db", "crmsync.db", dbUsage)
	fs.StringVar(&loc.Postgres, "postgres", "", "PostgreSQL `URL` of the CRM (postgres://user@host:port/db), instead of the SQLite file")
	return loc
}

// isNew says whether opening loc would create a new SQLite CRM.
func (l dbLocation) isNew() bool {
	if l.Postgres != "" {
		return false
	}
	_, err := os.Stat(l.Path)
	return errors.Is(err, os.ErrNotExist)
}

// arg is how hints printed for the user name this database on a command
// line: nothing for the default file, nor for what the environment
// (getenv: CRMSYNC_POSTGRES, CRMSYNC_DB) already says, so that a hint
// copied as printed reaches the same database. A PostgreSQL URL given on
// the command line is shown without its password.
func (l dbLocation) arg(getenv func(string) string) string {
	switch {
	case l.Postgres != "":
		if getenv("CRMSYNC_POSTGRES") == l.Postgres {
			return ""
		}
		return " --postgres " + redactURL(l.Postgres)
	case l.Path != "crmsync.db" && getenv("CRMSYNC_DB") != l.Path:
		return " --db " + l.Path
	}
	return ""
}

// String names the database in logs and messages, without a password.
func (l dbLocation) String() string {
	if l.Postgres != "" {
		return redactURL(l.Postgres)
	}
	return l.Path
}

// redactURL hides the password of a postgres:// URL; a string that does not
// parse as a URL (key=value form) is not shown at all.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return "(PostgreSQL connection string)"
	}
	return u.Redacted()
}

// crmDB is an open CRM database, SQLite or PostgreSQL, with the stores
// beside the CRM's.
type crmDB struct {
	service.Store
	io.Closer
	state   engine.StateStore
	cardDAV func(context.Context) (carddav.Store, error)
	pg      *postgres.DB // set on PostgreSQL: leases and notifications between nodes
}

// openDB opens the database at loc.
func openDB(ctx context.Context, loc dbLocation) (*crmDB, error) {
	if loc.Postgres != "" {
		db, err := postgres.Open(ctx, loc.Postgres, postgres.PoolSize(loc.PoolSize))
		if err != nil {
			return nil, err
		}
		return &crmDB{Store: db, Closer: db, state: db.SyncState(), pg: db,
			cardDAV: func(context.Context) (carddav.Store, error) { return db.CardDAVStore(), nil }}, nil
	}
	db, err := sqlite.Open(ctx, loc.Path)
	if err != nil {
		return nil, err
	}
	return &crmDB{Store: db, Closer: db, state: db.SyncState(),
		cardDAV: func(ctx context.Context) (carddav.Store, error) { return carddav.NewSQLStore(ctx, db) }}, nil
}

// openCRM opens the CRM at loc for a command. The caller closes db.
//
// Its service logs only warnings and errors unless CRMSYNC_LOG_LEVEL asks
// for more: what a command did it prints itself, once, on stdout, and
// "user disabled" on stderr as well would say it twice. serve keeps the
// service's info lines in its log.
func openCRM(ctx context.Context, env *Env, loc dbLocation) (crmsync.CRM, *crmDB, error) {
	logger := env.Logger
	if env.Getenv("CRMSYNC_LOG_LEVEL") == "" {
		logger = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return openCRMLogging(ctx, env, loc, logger)
}

// openCRMLogging is openCRM with the service's logger.
func openCRMLogging(ctx context.Context, env *Env, loc dbLocation, logger *slog.Logger) (crmsync.CRM, *crmDB, error) {
	if loc.MustExist && loc.isNew() {
		return nil, nil, fmt.Errorf("no CRM database at %s; 'crmsync serve%s' creates one", loc.Path, loc.arg(env.Getenv))
	}
	db, err := openDB(ctx, loc)
	if err != nil {
		return nil, nil, err
	}
	return service.New(db, service.Options{Logger: logger}), db, nil
}

// openNewableCRM is openCRM for the set-up commands that may start a new
// CRM (user add, group set); it says so when it did, so that a mistyped
// --db shows at once.
func openNewableCRM(ctx context.Context, env *Env, loc dbLocation) (crmsync.CRM, *crmDB, error) {
	isNew := loc.isNew()
	crm, db, err := openCRM(ctx, env, loc)
	if err == nil && isNew {
		fmt.Fprintf(env.Stdout, "created a new CRM database at %s\n", loc.Path)
	}
	return crm, db, err
}

// readPassword returns p, or the first line of stdin when p is "-", so
// that a password need not appear in the process list or shell history.
func readPassword(env *Env, p string) (string, error) {
	if p != "-" {
		return p, nil
	}
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
