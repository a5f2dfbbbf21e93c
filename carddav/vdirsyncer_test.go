package carddav_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/vcard"
)

// vdirsyncer is a real CardDAV client (Debian package vdirsyncer) syncing
// the server with a local folder, with its own config and status.
type vdirsyncer struct {
	tb    testing.TB
	bin   string
	dir   string
	local string
	stdin string
}

func needVdirsyncer(tb testing.TB) string {
	tb.Helper()
	return testenv.Peer(tb, "vdirsyncer", "vdirsyncer")
}

func newVdirsyncer(tb testing.TB, bin, url, user string) *vdirsyncer {
	tb.Helper()
	return newVdirsyncerConfig(tb, bin, url+"/dav/addressbooks/"+user+"/contacts/", user, "null", "")
}

// newVdirsyncerConfig writes a config for url with the pair's collections
// setting; answer is fed to discover's questions.
func newVdirsyncerConfig(tb testing.TB, bin, url, user, collections, answer string) *vdirsyncer {
	tb.Helper()
	dir := tb.TempDir()
	v := &vdirsyncer{tb: tb, bin: bin, dir: dir, local: filepath.Join(dir, "local")}
	must(tb, os.MkdirAll(v.local, 0o700))
	cfg := fmt.Sprintf(`[general]
status_path = "%s/status/"

[pair crm]
a = "local"
b = "server"
collections = %s
conflict_resolution = "b wins"

[storage local]
type = "filesystem"
path = "%s"
fileext = ".vcf"

[storage server]
type = "carddav"
url = "%s"
username = "%s"
password = "%s-pw"
`, dir, collections, v.local, url, user, user)
	must(tb, os.WriteFile(filepath.Join(dir, "config"), []byte(cfg), 0o600))
	v.stdin = answer
	v.run("discover")
	return v
}

// run runs one vdirsyncer command; it fails the test on a non-zero exit
// unless allowFail.
func (v *vdirsyncer) runAllowFail(args ...string) (string, error) {
	v.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, v.bin, append([]string{"-c", filepath.Join(v.dir, "config")}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+v.dir, "LC_ALL=C.UTF-8")
	cmd.Stdin = strings.NewReader(v.stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (v *vdirsyncer) run(args ...string) string {
	v.tb.Helper()
	out, err := v.runAllowFail(args...)
	v.tb.Logf("vdirsyncer %v:\n%s", args, out)
	if err != nil {
		v.tb.Fatalf("vdirsyncer %v: %v\n%s", args, err, out)
	}
	return out
}

// files returns the local cards by UID.
func (v *vdirsyncer) files() map[string]*vcard.Card {
	v.tb.Helper()
	paths, err := filepath.Glob(filepath.Join(v.local, "*.vcf"))
	must(v.tb, err)
	out := map[string]*vcard.Card{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		must(v.tb, err)
		c, err := vcard.Decode(b)
		if err != nil {
			v.tb.Fatalf("%s: %v", p, err)
		}
		if _, dup := out[c.UID()]; dup {
			v.tb.Errorf("UID %s twice in the folder", c.UID())
		}
		out[c.UID()] = c
	}
	return out
}

func (v *vdirsyncer) path(uid string) string {
	v.tb.Helper()
	paths, err := filepath.Glob(filepath.Join(v.local, "*.vcf"))
	must(v.tb, err)
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		if c, err := vcard.Decode(b); err == nil && c.UID() == uid {
			return p
		}
	}
	v.tb.Fatalf("no local file with UID %s", uid)
	return ""
}

// visible lists the contacts user may see in the CRM, LastName by GUID.
func (f *fixture) visible(user string) map[string]string {
	f.tb.Helper()
	u, err := f.crm.UserByName(f.ctx, user)
	must(f.tb, err)
	items, err := f.crm.Items(crm.WithUser(context.Background(), u), crm.Contacts, nil)
	must(f.tb, err)
	out := map[string]string{}
	for _, it := range items {
		out[it.GUID] = it.Get(crm.FieldLastName)
	}
	return out
}

func lastNames(cards map[string]*vcard.Card) []string {
	var out []string
	for _, c := range cards {
		out = append(out, c.Fields()[crm.FieldLastName])
	}
	sort.Strings(out)
	return out
}

func sortedValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func TestVdirsyncer(t *testing.T) {
	bin := needVdirsyncer(t)
	f := newFixture(t)
	var guids []string
	for i := range 5 {
		guids = append(guids, f.create("alice", map[string]string{crm.FieldFirstName: "Al", crm.FieldLastName: fmt.Sprintf("Alice%d", i),
			crm.FieldEmail1: fmt.Sprintf("a%d@example.com", i)}))
	}
	bobs := f.create("bob", map[string]string{crm.FieldLastName: "Bob0"})

	// First sync: the folder gets every contact alice may see.
	alice := newVdirsyncer(t, bin, f.url, "alice")
	alice.run("sync")
	files := alice.files()
	if got, want := lastNames(files), sortedValues(f.visible("alice")); !equal(got, want) {
		t.Fatalf("after first sync the folder has %v, want %v", got, want)
	}
	if _, ok := files[guids[0]]; !ok {
		t.Fatalf("UIDs are not the CRM GUIDs: %v", files)
	}

	// Edits made in the folder reach the CRM: change, create, delete.
	p := alice.path(guids[0])
	b, err := os.ReadFile(p)
	must(t, err)
	edited := strings.Replace(string(b), "N:Alice0;Al;;;", "N:Alice0;Albert;;;", 1)
	if edited == string(b) {
		t.Fatalf("unexpected card layout:\n%s", b)
	}
	edited = strings.Replace(edited, "END:VCARD", "BDAY:1990-05-06\r\nEND:VCARD", 1)
	must(t, os.WriteFile(p, []byte(edited), 0o600))
	newCard := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:local-new-1\r\nN:Folder;Fresh;;;\r\nFN:Fresh Folder\r\nTEL;TYPE=CELL:+420 600 000 000\r\nEND:VCARD\r\n"
	must(t, os.WriteFile(filepath.Join(alice.local, "local-new-1.vcf"), []byte(newCard), 0o600))
	must(t, os.Remove(alice.path(guids[1])))
	alice.run("sync")
	vis := f.visible("alice")
	if it := f.item(guids[0]); it == nil || it.Get(crm.FieldFirstName) != "Albert" {
		t.Errorf("folder edit did not reach the CRM: %+v", it)
	}
	if _, ok := vis[guids[1]]; ok {
		t.Error("contact deleted in the folder is still in the CRM")
	}
	found := ""
	for g, ln := range vis {
		if ln == "Folder" {
			found = g
		}
	}
	if found == "" {
		t.Fatalf("contact created in the folder not in the CRM: %v", vis)
	}
	if it := f.item(found); it.Get(crm.FieldPhoneMobile) != "+420 600 000 000" || it.Get(crm.FieldFirstName) != "Fresh" {
		t.Errorf("created contact fields: %v", it.Fields)
	}

	// Edits made in the CRM reach the folder: change, create, delete.
	res, err := f.crm.Save(f.ctx, crm.Contacts, []crm.Patch{{GUID: guids[2], Set: map[string]string{crm.FieldJobTitle: "Director"}}}, crm.SaveOptions{})
	must(t, err)
	must(t, res[0].Err)
	crmNew := f.create("alice", map[string]string{crm.FieldLastName: "FromCRM"})
	must(t, f.crm.Delete(f.ctx, crm.Contacts, []string{guids[3]}))
	// The CRM edit must not lose what the folder added (BDAY is not mapped).
	res, err = f.crm.Save(f.ctx, crm.Contacts, []crm.Patch{{GUID: guids[0], Set: map[string]string{crm.FieldJobTitle: "Boss"}}}, crm.SaveOptions{})
	must(t, err)
	must(t, res[0].Err)
	alice.run("sync")
	files = alice.files()
	if got, want := lastNames(files), sortedValues(f.visible("alice")); !equal(got, want) {
		t.Errorf("folder %v, CRM %v", got, want)
	}
	if c := files[guids[2]]; c == nil || c.Fields()[crm.FieldJobTitle] != "Director" {
		t.Errorf("CRM edit not in the folder: %v", c)
	}
	if _, ok := files[crmNew]; !ok {
		t.Error("contact created in the CRM not in the folder")
	}
	if _, ok := files[guids[3]]; ok {
		t.Error("contact deleted in the CRM still in the folder")
	}
	if c := files[guids[0]]; c == nil || c.Fields()[crm.FieldJobTitle] != "Boss" || c.Value("BDAY") != "1990-05-06" {
		t.Errorf("merged card lost the CRM edit or the folder's BDAY: %+v", c)
	}

	// Repeated runs change nothing and duplicate nothing.
	before := f.visible("alice")
	for range 2 {
		alice.run("sync")
	}
	files = alice.files()
	after := f.visible("alice")
	if len(after) != len(before) || len(files) != len(after) {
		t.Errorf("repeated syncs: CRM %d → %d contacts, folder %d", len(before), len(after), len(files))
	}

	// bob's own vdirsyncer sees only bob's contacts and cannot write
	// alice's. A card with the GUID of alice's contact is taken like one
	// with an unknown GUID (else the answer would tell bob that the contact
	// exists): it becomes a new contact of bob's, and alice's is untouched.
	bob := newVdirsyncer(t, bin, f.url, "bob")
	bob.run("sync")
	bf := bob.files()
	if len(bf) != 1 || bf[bobs] == nil {
		t.Fatalf("bob's folder: %v", lastNames(bf))
	}
	intruder := fmt.Sprintf("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:%s\r\nN:Hijacked;;;;\r\nFN:Hijacked\r\nEND:VCARD\r\n", guids[4])
	must(t, os.WriteFile(filepath.Join(bob.local, guids[4]+".vcf"), []byte(intruder), 0o600))
	if out, err := bob.runAllowFail("sync"); err != nil {
		t.Errorf("bob's upload of a card with an invisible contact's GUID was refused, unlike one with an unknown GUID:\n%s", out)
	}
	if got := f.item(guids[4]).Get(crm.FieldLastName); got != "Alice4" {
		t.Errorf("bob changed alice's contact to %q", got)
	}
	bobSees := f.visible("bob")
	if _, ok := bobSees[guids[4]]; ok || len(bobSees) != 2 || !slices.Contains(sortedValues(bobSees), "Hijacked") {
		t.Errorf("bob's contacts after the upload: %v, want his own and a new Hijacked", bobSees)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestVdirsyncerDiscovery lets vdirsyncer find the address book from the
// server's root URL: /.well-known/carddav, current-user-principal,
// addressbook-home-set.
func TestVdirsyncerDiscovery(t *testing.T) {
	bin := needVdirsyncer(t)
	f := newFixture(t)
	g := f.create("alice", map[string]string{crm.FieldLastName: "Found"})
	v := newVdirsyncerConfig(t, bin, f.url+"/", "alice", `["from b"]`, "y\ny\n")
	v.run("sync")
	paths, err := filepath.Glob(filepath.Join(v.local, "*", "*.vcf"))
	must(t, err)
	if len(paths) != 1 || filepath.Base(paths[0]) != g+".vcf" {
		t.Fatalf("discovered collection holds %v, want %s.vcf", paths, g)
	}
	if filepath.Base(filepath.Dir(paths[0])) != "contacts" {
		t.Errorf("collection %q, want contacts", filepath.Dir(paths[0]))
	}
}
