package storetest

import (
	"context"
	"testing"

	"github.com/crmsync/crmsync/carddav"
	"github.com/google/go-cmp/cmp"
)

// CardDAV checks a carddav.Store: names per user, a name moving to the
// contact that takes it, cards and their tags replaced on a second PUT.
func CardDAV(t *testing.T, s carddav.Store) {
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.PutName(ctx, "alice", "g1", "Mine.vcf"))
	must(s.PutName(ctx, "alice", "g2", "Other.vcf"))
	must(s.PutName(ctx, "bob", "g1", "Bobs.vcf"))
	must(s.PutName(ctx, "alice", "g2", "Mine.vcf")) // g2 takes g1's name
	names, err := s.Names(ctx, "alice")
	must(err)
	if diff := cmp.Diff(map[string]string{"g2": "Mine.vcf"}, names); diff != "" {
		t.Errorf("alice's names (-want +got):\n%s", diff)
	}
	names, err = s.Names(ctx, "bob")
	must(err)
	if diff := cmp.Diff(map[string]string{"g1": "Bobs.vcf"}, names); diff != "" {
		t.Errorf("bob's names (-want +got):\n%s", diff)
	}
	must(s.DeleteName(ctx, "bob", "g1")) // a refused create forgets its name
	must(s.DeleteName(ctx, "bob", "never-named"))
	if names, err := s.Names(ctx, "bob"); err != nil || len(names) != 0 {
		t.Errorf("bob's names after DeleteName: %v, %v", names, err)
	}
	if names, err := s.Names(ctx, "alice"); err != nil || names["g2"] != "Mine.vcf" {
		t.Errorf("alice's names after bob's DeleteName: %v, %v", names, err)
	}

	first, second := []byte("BEGIN:VCARD\r\nFN:A\r\nEND:VCARD\r\n"), []byte("BEGIN:VCARD\r\nFN:B\xff\x00\r\nEND:VCARD\r\n")
	must(s.PutCard(ctx, "g1", first))
	must(s.PutCard(ctx, "g2", first))
	must(s.PutCard(ctx, "g2", second))
	cards, err := s.Cards(ctx, []string{"g1", "g2", "missing"})
	must(err)
	if diff := cmp.Diff(map[string][]byte{"g1": first, "g2": second}, cards); diff != "" {
		t.Errorf("cards (-want +got):\n%s", diff)
	}
	tags, err := s.Tags(ctx, []string{"g1", "g2", "missing"})
	must(err)
	if diff := cmp.Diff(map[string]string{"g1": carddav.CardTag(first), "g2": carddav.CardTag(second)}, tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if cards, err := s.Cards(ctx, nil); err != nil || len(cards) != 0 {
		t.Errorf("Cards(nil) = %v, %v", cards, err)
	}
	if tags, err := s.Tags(ctx, []string{"g2"}); err != nil || len(tags) != 1 || tags["g2"] != carddav.CardTag(second) {
		t.Errorf("Tags(g2) = %v, %v", tags, err)
	}
	if tags, err := s.Tags(ctx, nil); err != nil || len(tags) != 0 {
		t.Errorf("Tags(nil) = %v, %v", tags, err)
	}
}
