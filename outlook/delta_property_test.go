package outlook_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/crmsync/crmsync/outlook"
)

// TestDeltaConverges runs random schedules of creates, updates, photo
// changes, moves and deletes over two folders, interleaved with delta
// rounds of random page sizes (some abandoned half-way), and checks that a
// client applying every round holds exactly each folder's contacts, with
// their current changeKeys.
func TestDeltaConverges(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		mb := outlook.NewMemory()
		dup, _ := mb.EnsureFolder(outlook.DuplicatesFolder)
		folders := []string{mb.DefaultFolder(), dup.ID}
		type view struct {
			token string
			seen  map[string]string // id → changeKey
		}
		views := []*view{{seen: map[string]string{}}, {seen: map[string]string{}}}
		var ids []string
		pick := func() (string, bool) {
			if len(ids) == 0 {
				return "", false
			}
			return ids[rapid.IntRange(0, len(ids)-1).Draw(rt, "idx")], true
		}
		steps := rapid.IntRange(1, 60).Draw(rt, "steps")
		for s := range steps {
			switch rapid.IntRange(0, 6).Draw(rt, "op") {
			case 0, 1:
				f := folders[rapid.IntRange(0, 1).Draw(rt, "folder")]
				e, err := mb.Create(f, &outlook.Contact{GivenName: fmt.Sprint(s)})
				if err != nil {
					rt.Fatal(err)
				}
				ids = append(ids, e.Contact.ID)
			case 2:
				if id, ok := pick(); ok {
					mb.Update(id, "", func(c *outlook.Contact) error { c.Surname = fmt.Sprint(s); return nil })
				}
			case 3:
				if id, ok := pick(); ok {
					mb.SetPhoto(id, "", []byte(fmt.Sprintf("\x89PNG\r\n\x1a\n%d", s)), "image/png")
				}
			case 4:
				if id, ok := pick(); ok {
					mb.Move(id, folders[rapid.IntRange(0, 1).Draw(rt, "dest")])
				}
			case 5:
				if id, ok := pick(); ok {
					mb.Delete(id, "")
				}
			case 6:
				i := rapid.IntRange(0, 1).Draw(rt, "view")
				v := views[i]
				page := rapid.IntRange(0, 4).Draw(rt, "page")
				abandon := rapid.Bool().Draw(rt, "abandon")
				token := v.token
				staged := map[string]string{}
				var removed []string
				for {
					p, err := mb.Delta(folders[i], token, page)
					if err != nil {
						rt.Fatal(err)
					}
					for _, e := range p.Changed {
						staged[e.Contact.ID] = e.Contact.ChangeKey
					}
					removed = append(removed, p.Removed...)
					if p.SkipToken == "" {
						if token == "" {
							v.seen = map[string]string{} // an initial round replaces the view
						}
						for id, ck := range staged {
							v.seen[id] = ck
						}
						for _, id := range removed {
							delete(v.seen, id)
						}
						v.token = p.DeltaToken
						break
					}
					if abandon {
						break // a client that crashed mid-round keeps its old token
					}
					token = p.SkipToken
				}
			}
		}
		// finish: one complete round per folder, then compare
		for i, v := range views {
			token := v.token
			for {
				p, err := mb.Delta(folders[i], token, 3)
				if err != nil {
					rt.Fatal(err)
				}
				if token == "" {
					v.seen = map[string]string{}
				}
				for _, e := range p.Changed {
					v.seen[e.Contact.ID] = e.Contact.ChangeKey
				}
				for _, id := range p.Removed {
					delete(v.seen, id)
				}
				if p.SkipToken == "" {
					break
				}
				token = p.SkipToken
			}
			want := map[string]string{}
			mb.List(folders[i], func(c *outlook.Contact, _ string) bool {
				want[c.ID] = c.ChangeKey
				return true
			})
			if diff := cmp.Diff(want, v.seen); diff != "" {
				rt.Fatalf("folder %d: client view differs from the mailbox (-mailbox +client):\n%s", i, diff)
			}
		}
	})
}
