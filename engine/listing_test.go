package engine

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestFollowedBy(t *testing.T) {
	rec := func(id, version string) Record { return Record{ID: id, Version: version} }
	first := ChangeSet{
		Records: []Record{rec("kept", "1"), rec("changed", "1"), rec("deleted", "1")},
		Deleted: []string{"gone", "back"},
		Cursor:  "c1",
	}
	then := ChangeSet{
		Records: []Record{rec("changed", "2"), rec("back", "3"), rec("new", "1")},
		Deleted: []string{"deleted"},
		Cursor:  "c2",
	}
	want := ChangeSet{
		Records: []Record{rec("kept", "1"), rec("changed", "2"), rec("back", "3"), rec("new", "1")},
		Deleted: []string{"gone", "deleted"},
		Cursor:  "c2",
	}
	sorted := cmpopts.SortSlices(func(a, b string) bool { return a < b })
	byID := cmpopts.SortSlices(func(a, b Record) bool { return a.ID < b.ID })
	if diff := cmp.Diff(want, first.followedBy(then), sorted, byID); diff != "" {
		t.Errorf("joined listing (-want +got):\n%s", diff)
	}
	if got := (ChangeSet{Complete: true}).followedBy(ChangeSet{Cursor: "c"}); !got.Complete || got.Cursor != "c" {
		t.Errorf("a full listing followed by an empty one: %+v", got)
	}
	// A full listing after another: what the first held and the second
	// does not is gone, whether or not it says so.
	full := ChangeSet{Records: []Record{rec("kept", "2")}, Complete: true, Cursor: "c3"}
	if diff := cmp.Diff(full, first.followedBy(full)); diff != "" {
		t.Errorf("a listing followed by a full one (-want +got):\n%s", diff)
	}
}
