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
	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"
)

// TestSQLStoreSurvivesRestart: a client's href and its unmapped
// properties are still there after the server restarts on the same file.
func TestSQLStoreSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "crm.db")
	const href = "/dav/addressbooks/alice/contacts/My%20Card.vcf"
	card := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:abc\r\nN:Kept;Anna;;;\r\nFN:Anna Kept\r\nX-CUSTOM:value\r\nEND:VCARD\r\n"
	for round := range 2 {
		db, err := sqlite.Open(ctx, path)
		must(t, err)
		svc := service.New(db, service.Options{PasswordCost: bcrypt.MinCost})
		if round == 0 {
			sys := crm.System(ctx)
			must(t, svc.SaveGroup(sys, "sales", []crm.Rights{crm.FullRights(crm.Contacts)}))
			_, err := svc.AddUser(sys, "alice", "alice-pw", false)
			must(t, err)
			must(t, svc.AddToGroup(sys, "alice", "sales"))
		}
		store, err := carddav.NewSQLStore(ctx, db)
		must(t, err)
		mux := http.NewServeMux()
		carddav.NewHandler(svc, carddav.Options{Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Mount(mux)
		hs := httptest.NewServer(mux)
		f := &fixture{tb: t, crm: svc, url: hs.URL, ctx: crm.System(ctx)}
		if round == 0 {
			if r := f.do("PUT", href, "alice", card); r.code != http.StatusCreated {
				t.Fatalf("PUT: %d %s", r.code, r.body)
			}
		} else {
			m := parseMS(t, f.do("PROPFIND", "/dav/addressbooks/alice/contacts/", "alice", propfindEtags, "Depth", "1"))
			var hrefs []string
			for _, r := range m.Responses {
				hrefs = append(hrefs, r.Href)
			}
			if diff := cmp.Diff([]string{"/dav/addressbooks/alice/contacts/", href}, hrefs); diff != "" {
				t.Errorf("hrefs after restart (-want +got):\n%s", diff)
			}
			if g := f.do("GET", href, "alice", ""); !strings.Contains(g.body, "X-CUSTOM:value") || !strings.Contains(g.body, "UID:abc") {
				t.Errorf("GET after restart:\n%s", g.body)
			}
		}
		hs.Close()
		must(t, db.Close())
	}
}
