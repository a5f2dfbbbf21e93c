package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/web"
)

// BenchmarkPages measures a signed-in page load over loopback HTTP (the
// first page of the list, a search, a contact opened) at 3,000 and
// 100,000 contacts:
//
//	go test ./web -run '^$' -bench Pages -benchtime 200x
func BenchmarkPages(b *testing.B) {
	for _, n := range []int{3000, 100000} {
		b.Run(fmt.Sprintf("contacts=%d", n), func(b *testing.B) {
			w := newWorld(b, web.Options{})
			sys := crmsync.System(context.Background())
			var last string
			for start := 0; start < n; start += 2000 {
				var patches []crmsync.Patch
				for i := start; i < min(n, start+2000); i++ {
					patches = append(patches, crmsync.Patch{Set: map[string]string{
						crmsync.FieldFirstName: fmt.Sprintf("Jan%d", i%97), crmsync.FieldLastName: fmt.Sprintf("Novák %06d", i),
						crmsync.FieldEmail1: fmt.Sprintf("jan%d@example.com", i), crmsync.FieldPhoneMobile: fmt.Sprintf("+420 777 %06d", i),
						crmsync.FieldCompany: fmt.Sprintf("Firma %d", i%500)}})
				}
				res, err := w.svc.Save(sys, crmsync.Contacts, patches, crmsync.SaveOptions{})
				if err != nil {
					b.Fatal(err)
				}
				last = res[len(res)-1].GUID
			}
			br := w.signIn("alice", "alice-pw")
			for _, c := range []struct{ name, path, want string }{
				{"list", "/contacts", "Novák 000000"},
				{"search-name", "/contacts?q=" + url.QueryEscape(fmt.Sprintf("novák %06d", n-1)), fmt.Sprintf("Novák %06d", n-1)},
				{"search-rare-none", "/contacts?q=nobody-has-this", "Nothing matches"},
				{"search-phone", "/contacts?q=777000042", "Novák 000042"},
				{"open", "/contacts/" + last, fmt.Sprintf("Novák %06d", n-1)},
			} {
				b.Run(c.name, func(b *testing.B) {
					for b.Loop() {
						p := br.get(c.path)
						if p.status != http.StatusOK || !contains(p.body, c.want) {
							b.Fatalf("%s: %d", c.path, p.status)
						}
					}
				})
			}
		})
	}
}
