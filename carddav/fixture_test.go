package carddav_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/carddav"
	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/sqlite"
	"golang.org/x/crypto/bcrypt"
)

// fixture is the real CRM (service on a SQLite file) behind the CardDAV
// handler on a loopback HTTP server. Users: alice (all rights), bob (only
// his own contacts), vera (sees all, may change nothing).
type fixture struct {
	tb    testing.TB
	crm   crm.CRM
	store carddav.Store
	url   string
	ctx   context.Context // System: full rights, for setting up and checking
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "crm.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	svc := service.New(db, service.Options{PasswordCost: bcrypt.MinCost})
	sys := crm.System(ctx)
	var full, own, view []crm.Rights
	for _, f := range crm.Folders {
		full = append(full, crm.FullRights(f))
		own = append(own, crm.Rights{Folder: f, View: crm.LevelOwn, Edit: crm.LevelOwn, Delete: crm.LevelOwn, CanCreate: true, CanExport: true})
		view = append(view, crm.Rights{Folder: f, View: crm.LevelAll, CanExport: true})
	}
	must(tb, svc.SaveGroup(sys, "sales", full))
	must(tb, svc.SaveGroup(sys, "own", own))
	must(tb, svc.SaveGroup(sys, "view", view))
	for _, u := range []struct{ name, group string }{{"alice", "sales"}, {"bob", "own"}, {"vera", "view"}} {
		if _, err := svc.AddUser(sys, u.name, u.name+"-pw", false); err != nil {
			tb.Fatal(err)
		}
		must(tb, svc.AddToGroup(sys, u.name, u.group))
	}
	store, err := carddav.NewSQLStore(ctx, db)
	if err != nil {
		tb.Fatal(err)
	}
	h := carddav.NewHandler(svc, carddav.Options{Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxCardSize: 1 << 20})
	mux := http.NewServeMux()
	h.Mount(mux)
	hs := httptest.NewServer(mux)
	tb.Cleanup(hs.Close)
	return &fixture{tb: tb, crm: svc, store: store, url: hs.URL, ctx: sys}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

type reply struct {
	code   int
	header http.Header
	body   string
}

// do sends one request as user (password user+"-pw"; "" = anonymous).
func (f *fixture) do(method, path, user, body string, header ...string) reply {
	f.tb.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		f.tb.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, user+"-pw")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		f.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

// create saves a contact in the CRM as user (System when "").
func (f *fixture) create(user string, fields map[string]string) string {
	f.tb.Helper()
	ctx := f.ctx
	if user != "" {
		u, err := f.crm.UserByName(f.ctx, user)
		must(f.tb, err)
		ctx = crm.WithUser(context.Background(), u)
	}
	res, err := f.crm.Save(ctx, crm.Contacts, []crm.Patch{{Set: fields}}, crm.SaveOptions{})
	must(f.tb, err)
	must(f.tb, res[0].Err)
	return res[0].GUID
}

func (f *fixture) item(guid string) *crm.Item {
	f.tb.Helper()
	items, err := f.crm.Items(f.ctx, crm.Contacts, []string{guid})
	must(f.tb, err)
	if len(items) != 1 {
		return nil
	}
	return items[0]
}

func (f *fixture) enumName(guid string) string {
	f.tb.Helper()
	vals, err := f.crm.EnumValues(f.ctx, "")
	must(f.tb, err)
	for _, v := range vals {
		if v.GUID == guid {
			return v.En
		}
	}
	return ""
}

const propfindEtags = `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:resourcetype/></d:prop></d:propfind>`
