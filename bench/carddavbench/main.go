// Command carddavbench is the Go half of bench/carddav.sh: it generates the
// benchmark's contacts, times a plain PUT loop (the bound any client's first
// sync meets on a server that is slow per write), and times crmsync's first
// sync and no-change re-sync of a CRM with an empty CardDAV address book.
//
//	carddavbench gen     -dir DIR -n N
//	carddavbench putloop -url BOOK -dir DIR
//	carddavbench crmsync -url BOOK -n N -db FILE
//
// Timings go to stdout as "name seconds" lines; everything else to stderr.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/carddav/remote"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/sqlite"
	"github.com/crmsync/crmsync/vcard"
	"golang.org/x/crypto/bcrypt"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "carddavbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: carddavbench gen|putloop|crmsync [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dir := fs.String("dir", "", "folder of .vcf files")
	n := fs.Int("n", 3000, "number of contacts")
	book := fs.String("url", "", "address book URL")
	user := fs.String("user", "alice", "CardDAV user (Basic auth)")
	password := fs.String("password", "x", "CardDAV password")
	db := fs.String("db", "", "CRM database file")
	concurrency := fs.Int("concurrency", remote.DefaultConcurrency, "CardDAV writes in flight")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "gen":
		return gen(*dir, *n)
	case "putloop":
		return putLoop(ctx, stdout, *book, *dir, *user, *password)
	case "crmsync":
		return crmSync(ctx, stdout, *book, *db, *n, *user, *password, *concurrency)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// contact is benchmark contact i as vdirsyncer-baseline.md describes it:
// name, company, job title, one work e-mail, work and cell phones, a work
// address and a note of about 300 bytes.
func contact(i int) map[string]string {
	note := fmt.Sprintf("Met at the trade fair in Brno, spring %d. Interested in the annual support plan; "+
		"asked for a quote covering 25 seats and on-site training. Prefers e-mail, calls only in the morning. "+
		"Follow up after the budget meeting in March and send the case study about the logistics rollout.", 2000+i%25)
	return map[string]string{
		crm.FieldFirstName:                 fmt.Sprintf("Jan%d", i),
		crm.FieldLastName:                  fmt.Sprintf("Novák%d", i),
		crm.FieldCompany:                   fmt.Sprintf("Company %d s.r.o.", i%300),
		crm.FieldJobTitle:                  "Purchasing manager",
		crm.FieldEmail1:                    fmt.Sprintf("jan.novak%d@example.com", i),
		crm.FieldPhoneBusiness:             fmt.Sprintf("+420 222 %06d", i),
		crm.FieldPhoneMobile:               fmt.Sprintf("+420 777 %06d", i),
		crm.AddressBusiness + "Street":     fmt.Sprintf("Vodičkova %d", i%200+1),
		crm.AddressBusiness + "City":       "Praha",
		crm.AddressBusiness + "PostalCode": "110 00",
		crm.AddressBusiness + "CountryEn":  "Czech Republic",
		crm.FieldNote:                      note,
	}
}

func uidOf(i int) string { return fmt.Sprintf("b3a1c2d4-0000-4000-8000-%012d", i) }

// gen writes one vCard 3.0 file per contact, as vdirsyncer's local folder.
func gen(dir string, n int) error {
	if dir == "" {
		return errors.New("gen: -dir is required")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := range n {
		data, err := vcard.Encode(contact(i), nil, uidOf(i), nil, "3.0")
		if err != nil {
			return fmt.Errorf("encoding contact %d: %w", i, err)
		}
		if err := os.WriteFile(filepath.Join(dir, uidOf(i)+".vcf"), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// putLoop PUTs every file of dir into the book, one after the other over
// one keep-alive client: the cost of the server's writes and nothing else.
func putLoop(ctx context.Context, stdout io.Writer, book, dir, user, password string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.vcf"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	hc := &http.Client{Timeout: time.Minute}
	book = strings.TrimSuffix(book, "/") + "/"
	start := time.Now()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, book+filepath.Base(f), bytes.NewReader(data))
		if err != nil {
			return err
		}
		req.SetBasicAuth(user, password)
		req.Header.Set("Content-Type", "text/vcard; charset=utf-8")
		req.Header.Set("If-None-Match", "*")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("PUT %s: %s", f, resp.Status)
		}
	}
	fmt.Fprintf(stdout, "putloop %.2f\n", time.Since(start).Seconds())
	fmt.Fprintf(os.Stderr, "putloop: %d cards\n", len(files))
	return nil
}

// crmSync seeds a CRM with n contacts (not timed), then times the engine's
// first sync with the empty book and a second, no-change sync.
func crmSync(ctx context.Context, stdout io.Writer, book, dbPath string, n int, user, password string, concurrency int) error {
	if dbPath == "" || book == "" {
		return errors.New("crmsync: -db and -url are required")
	}
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := service.New(db, service.Options{PasswordCost: bcrypt.MinCost, Logger: slog.New(slog.DiscardHandler)})
	sys := crm.System(ctx)
	u, err := svc.AddUser(sys, "bench", "bench", true)
	if err != nil {
		return err
	}
	uctx := crm.WithUser(ctx, u)
	country, err := svc.EnsureEnumValue(sys, crm.EnumCountry, "Czech Republic")
	if err != nil {
		return err
	}
	for start := 0; start < n; start += 500 {
		var patches []crm.Patch
		for i := start; i < min(start+500, n); i++ {
			f := contact(i)
			f[crm.AddressBusiness+"CountryEn"] = country.GUID
			patches = append(patches, crm.Patch{Set: f})
		}
		res, err := svc.Save(uctx, crm.Contacts, patches, crm.SaveOptions{})
		if err != nil {
			return err
		}
		for _, r := range res {
			if r.Err != nil {
				return r.Err
			}
		}
	}
	rc, err := remote.Open(ctx, remote.Config{URL: book, Username: user, Password: password, Concurrency: concurrency})
	if err != nil {
		return err
	}
	state := db.SyncState()
	part := &engine.Partnership{User: u.GUID, Kind: "carddav", Remote: book, Mode: "automatic", Policy: engine.PolicyNewest, State: "active"}
	if err := state.SavePartnership(ctx, part); err != nil {
		return err
	}
	cr := &engine.CRMReplica{CRM: svc, User: u, Mode: "automatic"}
	eng := &engine.Engine{Partnership: part, State: state, CRM: cr, Remote: rc, Journal: cr}

	start := time.Now()
	r1, err := eng.Cycle(ctx)
	first := time.Since(start)
	if err != nil {
		return fmt.Errorf("first sync: %w", err)
	}
	if r1.Counts.CreatedInRemote != n || r1.Outcome != "ok" {
		return fmt.Errorf("first sync: outcome %s, counts %+v, errors %v", r1.Outcome, r1.Counts, r1.Errors)
	}
	start = time.Now()
	r2, err := eng.Cycle(ctx)
	second := time.Since(start)
	if err != nil {
		return fmt.Errorf("re-sync: %w", err)
	}
	if r2.Counts != (engine.Counts{}) {
		return fmt.Errorf("no-change re-sync changed something: %+v", r2.Counts)
	}
	// The replica's own share of the re-sync: one sync-collection call.
	start = time.Now()
	cs, err := rc.Changes(ctx, part.CursorRemote)
	changes := time.Since(start)
	if err != nil || len(cs.Records) != 0 {
		return fmt.Errorf("no-change listing: %d records, %v", len(cs.Records), err)
	}
	fmt.Fprintf(stdout, "crmsync_first %.2f\ncrmsync_resync %.3f\ncrmsync_changes %.3f\n", first.Seconds(), second.Seconds(), changes.Seconds())
	fmt.Fprintf(os.Stderr, "crmsync: %d contacts, sync-collection %v\n", n, rc.SyncCollection())
	return nil
}
