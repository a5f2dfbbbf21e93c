package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/ewayapi"
	"github.com/crmsync/crmsync/graph"
	"github.com/crmsync/crmsync/graph/sandbox"
	"github.com/crmsync/crmsync/internal/httpserve"
	"github.com/crmsync/crmsync/outlook"
)

const (
	demoUser     = "demo"
	demoPassword = "demo"
)

func runDemo(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "demo", "demo [--contacts N] [--once] [--dir DIR] [--listen ADDR] [--sandbox URL] [--no-sync]")
	n := fs.Int("contacts", 3000, "how many CRM contacts to seed")
	once := fs.Bool("once", false, "exit after the first sync")
	dir := fs.String("dir", "", "`directory` for the demo's database, kept after it ends (default: a temporary one, removed at the end unless --no-sync)")
	sandboxURL := fs.String("sandbox", "", "`URL` of a running sandbox mailbox to use (default: one in this process)")
	noSync := fs.Bool("no-sync", false, "seed and connect only; run the sync later with 'crmsync sync'")
	listen := fs.String("listen", "127.0.0.1:8080", "`address` of the demo's CRM API (another free port is taken if busy)")
	if _, err := parseFlags(env, fs, args, 0); err != nil {
		return err
	}
	if *n < 0 || *n > 1_000_000 {
		return usagef("--contacts must be between 0 and 1000000, got %d", *n)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// A temporary directory goes when the demo ends, however it ends;
	// with --no-sync it stays for the 'crmsync sync' the demo tells of.
	keep := *dir != "" || *noSync
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "crmsync-demo-")
		if err != nil {
			return err
		}
		*dir = tmp
		if !keep {
			// Deferred first, so it runs after the database is closed.
			defer func() {
				if err := os.RemoveAll(tmp); err != nil {
					fmt.Fprintf(env.Stderr, "crmsync demo: removing its temporary directory: %v\n", err)
					return
				}
				fmt.Fprintf(env.Stdout, "Removed the demo's temporary directory %s (--dir DIR keeps the demo).\n", tmp)
			}()
		}
	} else if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	dbPath := filepath.Join(*dir, "crm.db")
	if _, err := os.Stat(dbPath); err == nil {
		return fmt.Errorf("%s already holds a demo; pick another --dir or remove it", *dir)
	}
	d, err := openSync(ctx, env, dbLocation{Path: dbPath})
	if err != nil {
		return err
	}
	defer d.Close()
	fmt.Fprintf(env.Stdout, "crmsync demo: CRM database %s\n", dbPath)

	// The Outlook side: a sandbox mailbox speaking Graph over HTTP.
	mb := outlook.NewMemory()
	defer mb.Close()
	url := *sandboxURL
	if url == "" {
		_, addr, err := startSandbox(ctx, env, mb, "127.0.0.1:0", sandbox.Options{})
		if err != nil {
			return err
		}
		url = "http://" + addr
	}
	rnd := rand.New(rand.NewPCG(42, uint64(*n)))
	start := time.Now()
	u, contacts, err := seedDemoCRM(ctx, d, rnd, *n)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Seeded the CRM: %d contacts with companies, journals and photos (%v).\n", len(contacts), time.Since(start).Round(time.Millisecond))
	if *sandboxURL == "" {
		only, dups, err := seedDemoMailbox(mb, rnd, contacts, *n)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Seeded the sandbox mailbox at %s: %d Outlook-only contacts and %d duplicates of CRM contacts (same e-mail).\n", url, only, dups)
	}

	rc, err := d.findContactsFolder(ctx, u, remoteConfig{Sandbox: url})
	if err != nil {
		return err
	}
	p := &engine.Partnership{User: u.GUID, Kind: "outlook", Remote: rc.String(), Mode: "automatic", Policy: engine.PolicyNewest, State: "first-sync-pending"}
	if err := d.state.SavePartnership(ctx, p); err != nil {
		return err
	}
	eng, err := d.checkedEngine(ctx, p, u)
	if err != nil {
		return err
	}
	if *noSync {
		fmt.Fprintf(env.Stdout, "Ready. Run the first sync with: crmsync sync --db %s --user %s --once\n", dbPath, demoUser)
		return nil
	}
	fmt.Fprintf(env.Stdout, "Outlook sync is on for user %q. First sync:\n", demoUser)
	run, err := firstSync(ctx, env, eng)
	if run != nil {
		printSummary(env.Stdout, run, "Outlook")
		if len(run.Duplicates) > 0 && keep {
			fmt.Fprintf(env.Stdout, "Review them with: crmsync duplicates list --db %s --user %s\n", dbPath, demoUser)
		}
	}
	if err != nil {
		return err
	}
	p.State = "active"
	if err := d.state.SavePartnership(ctx, p); err != nil {
		return err
	}
	if *once {
		return nil
	}
	return demoContinuous(ctx, env, d, eng, u, url, *listen)
}

// seedDemoCRM creates the demo user and n contacts with companies, journals
// and some photos, owned by that user.
func seedDemoCRM(ctx context.Context, d *syncDeps, r *rand.Rand, n int) (*crmsync.User, []*crmsync.Item, error) {
	sys := crmsync.System(ctx)
	all := func(f crmsync.Folder) crmsync.Rights {
		return crmsync.Rights{Folder: f, View: crmsync.LevelAll, Edit: crmsync.LevelAll, Delete: crmsync.LevelAll, CanCreate: true, CanExport: true}
	}
	if err := d.svc.SaveGroup(sys, "sales", []crmsync.Rights{all(crmsync.Contacts), all(crmsync.Companies), all(crmsync.Journal)}); err != nil {
		return nil, nil, err
	}
	u, err := d.svc.AddUser(sys, demoUser, demoPassword, false)
	if err != nil {
		return nil, nil, err
	}
	if err := d.svc.AddToGroup(sys, demoUser, "sales"); err != nil {
		return nil, nil, err
	}
	if err := d.svc.SetGlobalSetting(sys, crmsync.SettingCreateCompany, "true"); err != nil {
		return nil, nil, err
	}
	enums := map[string]string{}
	enum := func(typ, name string) (string, error) {
		if id, ok := enums[typ+name]; ok {
			return id, nil
		}
		v, err := d.svc.EnsureEnumValue(sys, typ, name)
		if err != nil {
			return "", err
		}
		enums[typ+name] = v.GUID
		return v.GUID, nil
	}
	save := func(folder crmsync.Folder, patches []crmsync.Patch) ([]string, error) {
		var guids []string
		for start := 0; start < len(patches); start += 1000 {
			res, err := d.svc.Save(sys, folder, patches[start:min(start+1000, len(patches))], crmsync.SaveOptions{})
			if err != nil {
				return nil, err
			}
			for _, r := range res {
				if r.Err != nil {
					return nil, fmt.Errorf("seeding %s: %w", folder, r.Err)
				}
				guids = append(guids, r.GUID)
			}
		}
		return guids, nil
	}
	companies := demoCompanies(r, max(1, n/15))
	var patches []crmsync.Patch
	for _, name := range companies {
		patches = append(patches, crmsync.Patch{Set: map[string]string{crmsync.FieldCompanyName: name, crmsync.FieldOwnerGUID: u.GUID}})
	}
	companyGUIDs, err := save(crmsync.Companies, patches)
	if err != nil {
		return nil, nil, err
	}
	patches = patches[:0]
	for i := range n {
		c := r.IntN(len(companies))
		f := demoPerson(r, i, companies[c])
		f[crmsync.FieldCompanyGUID] = companyGUIDs[c]
		f[crmsync.FieldOwnerGUID] = u.GUID
		for field, typ := range map[string]string{crmsync.FieldPrefix: crmsync.EnumPrefix, crmsync.FieldSuffix: crmsync.EnumSuffix, crmsync.AddressBusiness + "CountryEn": crmsync.EnumCountry} {
			if f[field] != "" {
				if f[field], err = enum(typ, f[field]); err != nil {
					return nil, nil, err
				}
			}
		}
		if r.IntN(20) == 0 {
			f[crmsync.FieldPicture] = base64.StdEncoding.EncodeToString(demoPhoto(r))
		}
		patches = append(patches, crmsync.Patch{Set: f})
	}
	contactGUIDs, err := save(crmsync.Contacts, patches)
	if err != nil {
		return nil, nil, err
	}
	patches = patches[:0]
	now := time.Now()
	for _, g := range contactGUIDs {
		for range r.IntN(4) {
			f := demoJournalEntry(r, g, now)
			if f[crmsync.FieldJournalType], err = enum(crmsync.EnumJournalType, f[crmsync.FieldJournalType]); err != nil {
				return nil, nil, err
			}
			f[crmsync.FieldOwnerGUID] = u.GUID
			patches = append(patches, crmsync.Patch{Set: f})
		}
	}
	if _, err := save(crmsync.Journal, patches); err != nil {
		return nil, nil, err
	}
	items, err := d.svc.Items(sys, crmsync.Contacts, contactGUIDs)
	return u, items, err
}

// seedDemoMailbox adds Outlook-only contacts and duplicates (by e-mail) of
// some CRM contacts to the mailbox.
func seedDemoMailbox(mb *outlook.Mailbox, r *rand.Rand, crm []*crmsync.Item, n int) (only, dups int, err error) {
	add := func(fields map[string]string) error {
		c := &outlook.Contact{}
		outlook.ApplyFields(c, fields)
		_, err := mb.Create(mb.DefaultFolder(), c)
		return err
	}
	for i := range max(1, n/60) {
		f := demoPerson(r, n+i, "Outlook Only "+pick(r, demoSuffixC))
		f[crmsync.FieldEmail1] = fmt.Sprintf("outlook.only%d@example.org", i)
		delete(f, crmsync.FieldEmail2)
		if err := add(f); err != nil {
			return only, dups, err
		}
		only++
	}
	for i := 0; i < n/300 && len(crm) > 0; i++ {
		src := crm[r.IntN(len(crm))]
		f := map[string]string{crmsync.FieldFirstName: src.Get(crmsync.FieldFirstName), crmsync.FieldLastName: src.Get(crmsync.FieldLastName),
			crmsync.FieldEmail1: src.Get(crmsync.FieldEmail1), crmsync.FieldPhoneMobile: "+420 600 000 " + fmt.Sprintf("%03d", i)}
		if err := add(f); err != nil {
			return only, dups, err
		}
		dups++
	}
	return only, dups, nil
}

// demoContinuous serves the CRM API and keeps syncing until interrupted,
// telling the user how to watch a change flow each way.
func demoContinuous(ctx context.Context, env *Env, d *syncDeps, eng *engine.Engine, u *crmsync.User, sandboxURL, listen string) error {
	mux := http.NewServeMux()
	ewayapi.NewServer(d.svc, ewayapi.Options{Logger: env.Logger}).Handle(mux)
	ui, err := newWebUI(d.svc, newWebSync(ctx, d, graph.AuthConfig{}), "")
	if err != nil {
		return err
	}
	ui.Mount(mux)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
	}
	hs := httpserve.New(mux, env.Logger)
	go hs.Serve(ln)
	defer hs.Close()
	api := "http://" + ln.Addr().String()

	pairs, err := d.state.AllPairs(ctx, eng.Partnership.ID)
	if err != nil || len(pairs) == 0 {
		return err
	}
	p := pairs[0]
	hash := crmsync.PasswordMD5(demoPassword)
	fmt.Fprintf(env.Stdout, "\nOpen the web UI at %s and sign in as %q with password %q.\n", ui.URL(api), demoUser, demoPassword)
	fmt.Fprintf(env.Stdout, `
Sync keeps running (CRM changes go to Outlook at once, Outlook is polled every 2s). Ctrl-C stops.
Try it from another terminal:

  # Edit contact %[1]s in the CRM (user %[2]q, password %[3]q):
  SID=$(curl -s -H 'Content-Type: application/json' %[4]s/API.svc/LogIn -d '{"userName":"%[2]s","passwordHash":"%[5]s"}' | sed 's/.*"SessionId":"\([^"]*\)".*/\1/')
  curl -s -H 'Content-Type: application/json' %[4]s/API.svc/SaveContact -d '{"sessionId":"'$SID'","transmitObject":{"ItemGUID":"%[1]s","Title":"Head of Sales"}}'
  # ...and see it in Outlook (the sandbox mailbox):
  curl -s -H 'Authorization: Bearer demo' '%[6]s/v1.0/me/contacts/%[7]s?$select=displayName,jobTitle'

  # Edit it in Outlook:
  curl -s -X PATCH -H 'Authorization: Bearer demo' -H 'Content-Type: application/json' %[6]s/v1.0/me/contacts/%[7]s -d '{"mobilePhone":"+420 777 123 456"}'
  # ...and see it in the CRM a moment later:
  curl -s -H 'Content-Type: application/json' %[4]s/API.svc/GetContactsByItemGuids -d '{"sessionId":"'$SID'","itemGuids":["%[1]s"]}'

`, p.CRMID, demoUser, demoPassword, api, hash, sandboxURL, p.RemoteID)
	r := &engine.Runner{Engine: eng, Changes: d.svc.WatchChanges(ctx), PollInterval: 2 * time.Second, OnRun: func(run *engine.Run, err error) {
		if err != nil {
			fmt.Fprintf(env.Stdout, "%s sync failed: %v\n", time.Now().Format("15:04:05"), err)
			return
		}
		c := run.Counts
		if c != (engine.Counts{}) {
			fmt.Fprintf(env.Stdout, "%s synced: %d to Outlook, %d to the CRM, %d conflicts\n", time.Now().Format("15:04:05"),
				c.CreatedInRemote+c.UpdatedInRemote+c.DeletedInRemote, c.CreatedInCRM+c.UpdatedInCRM+c.DeletedInCRM, c.Conflicts)
		}
	}}
	return r.Run(ctx)
}
