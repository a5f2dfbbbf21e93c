package service_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/service"
	"github.com/crmsync/crmsync/sqlite"
)

func newService(t *testing.T) *service.Service { return newServiceB(t) }

func newServiceB(t testing.TB) *service.Service {
	t.Helper()
	return service.New(newStore(t), service.Options{})
}

func newStore(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "crm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Watchers that come and go while writers run never see an id go back and
// never make a writer block or panic.
func TestWatchChangesConcurrent(t *testing.T) {
	svc := newService(t)
	sys := crmsync.System(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				ctx, cancel := context.WithCancel(context.Background())
				ch := svc.WatchChanges(ctx)
				var last int64
				for range 3 {
					if _, err := svc.Save(sys, crmsync.Contacts, []crmsync.Patch{{Set: map[string]string{"LastName": "x"}}}, crmsync.SaveOptions{}); err != nil {
						t.Error(err)
					}
					id := <-ch
					if id <= last {
						t.Errorf("watch went from %d to %d", last, id)
					}
					last = id
				}
				cancel()
				for range ch { // drains and ends when closed
				}
			}
		}()
	}
	wg.Wait()
	last, err := svc.LastChangeID(sys)
	if err != nil {
		t.Fatal(err)
	}
	if last != 4*5*3 {
		t.Errorf("last change %d, want %d", last, 4*5*3)
	}
}

func TestRandomGUIDs(t *testing.T) {
	svc := newService(t)
	sys := crmsync.System(context.Background())
	seen := map[string]bool{}
	for range 50 {
		res, err := svc.Save(sys, crmsync.Companies, []crmsync.Patch{{Set: map[string]string{"CompanyName": "c"}}}, crmsync.SaveOptions{})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
		g := res[0].GUID
		if !crmsync.IsGUID(g) || g != crmsync.NormalizeGUID(g) || g[14] != '4' || seen[g] {
			t.Fatalf("bad or repeated GUID %q", g)
		}
		seen[g] = true
	}
}
