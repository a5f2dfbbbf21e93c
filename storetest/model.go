package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/crmsync/crmsync"
	"pgregory.net/rapid"
)

// itemModel is what eway-crm.md §3.7 says the stored item should be after a
// sequence of saves, deletes and restores.
type itemModel struct {
	exists, trashed bool
	version         int
	fields          map[string]string
}

var modelFields = []string{"FirstName", "LastName", "Note"}

// save applies a patch to the model and returns the expected error code.
func (m *itemModel) save(p crmsync.Patch, die bool) string {
	switch {
	case !m.exists:
		m.exists, m.version, m.fields = true, 1, map[string]string{}
		for k, v := range p.Set {
			if v != "" {
				m.fields[k] = v
			}
		}
		return ""
	case m.trashed:
		return crmsync.ENOTFOUND
	}
	merge := p.Version != 0 && p.Version <= m.version
	if merge && die {
		if p.Version == 1 && m.version == 1 {
			return crmsync.EEXISTS
		}
		return crmsync.ECONFLICT
	}
	for k, v := range p.Set {
		if v == "" {
			delete(m.fields, k)
		} else {
			m.fields[k] = v
		}
	}
	if !merge {
		for _, k := range p.Null {
			delete(m.fields, k)
		}
	}
	m.version++
	return ""
}

// testVersioningModel runs random sequences of saves (every version and
// DieOnItemConflict combination, sets, empty strings and nulls), deletes
// and restores on one item and compares the store with itemModel after
// every step, including the number of changes logged.
func testVersioningModel(t *testing.T, open Open) {
	e := NewEnv(t, open)
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		g := fmt.Sprintf("22222222-3333-4444-8555-%012d", n)
		var m itemModel
		steps := rapid.IntRange(1, 12).Draw(rt, "steps")
		for range steps {
			before := e.Last()
			var code string
			var err error
			switch op := rapid.SampledFrom([]string{"save", "save", "save", "delete", "restore"}).Draw(rt, "op"); op {
			case "save":
				p := crmsync.Patch{GUID: g, Set: map[string]string{}}
				p.Version = rapid.SampledFrom([]int{0, 1, m.version - 1, m.version, m.version + 1, m.version + 2}).Draw(rt, "version")
				if p.Version < 0 {
					p.Version = 0
				}
				for _, f := range modelFields {
					switch rapid.IntRange(0, 3).Draw(rt, f) {
					case 1:
						p.Set[f] = rapid.SampledFrom([]string{"", "a", "b"}).Draw(rt, f+" value")
					case 2:
						p.Null = append(p.Null, f)
					}
				}
				die := rapid.Bool().Draw(rt, "die")
				code = m.save(p, die)
				res, callErr := e.Svc.Save(e.Sys, crmsync.Contacts, []crmsync.Patch{p}, crmsync.SaveOptions{DieOnItemConflict: die})
				if callErr != nil {
					rt.Fatalf("Save: %v", callErr)
				}
				err = res[0].Err
				if err == nil && res[0].Version != m.version {
					rt.Fatalf("Save returned version %d, model %d", res[0].Version, m.version)
				}
			case "delete":
				if !m.exists || m.trashed {
					code = crmsync.ENOTFOUND
				} else {
					m.trashed = true
					m.version++
				}
				err = e.Svc.Delete(e.Sys, crmsync.Contacts, []string{g})
			case "restore":
				if !m.exists || !m.trashed {
					code = crmsync.ENOTFOUND
				} else {
					m.trashed = false
					m.version++
				}
				err = e.Svc.Restore(e.Sys, crmsync.Contacts, g)
			}
			if got := crmsync.ErrorCode(err); got != code {
				rt.Fatalf("error %v (code %q), model says %q", err, got, code)
			}
			wantChanges := int64(1)
			if code != "" {
				wantChanges = 0
			}
			if got := e.Last() - before; got != wantChanges {
				rt.Fatalf("%d changes logged, want %d", got, wantChanges)
			}
			m.check(rt, e, g)
		}
	})
}

func (m *itemModel) check(rt *rapid.T, e *Env, g string) {
	items, err := e.Svc.Items(e.Sys, crmsync.Contacts, []string{g})
	if err != nil {
		rt.Fatal(err)
	}
	trash, err := e.Svc.Trash(e.Sys, crmsync.Contacts)
	if err != nil {
		rt.Fatal(err)
	}
	inTrash := slices.IndexFunc(trash, func(it *crmsync.Item) bool { return it.GUID == g })
	var it *crmsync.Item
	switch {
	case !m.exists:
		if len(items) != 0 || inTrash >= 0 {
			rt.Fatal("item exists before its creation")
		}
		return
	case m.trashed:
		if len(items) != 0 || inTrash < 0 {
			rt.Fatalf("trashed item: listed %d, in trash %v", len(items), inTrash >= 0)
		}
		it = trash[inTrash]
	default:
		if len(items) != 1 || inTrash >= 0 {
			rt.Fatalf("live item: listed %d, in trash %v", len(items), inTrash >= 0)
		}
		it = items[0]
	}
	if it.Version != m.version {
		rt.Fatalf("version %d, model %d", it.Version, m.version)
	}
	for _, f := range modelFields {
		if it.Get(f) != m.fields[f] {
			rt.Fatalf("%s = %q, model %q", f, it.Get(f), m.fields[f])
		}
	}
}
