package engine

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func identity(_, v string) string { return v }

// cut256 stands in for a remote that holds at most 256 characters (S3).
func cut256(f, v string) string {
	if f == "Note" || utf8.RuneCountInString(v) <= 256 {
		return v
	}
	return string([]rune(v)[:256])
}

func TestMergeMatrix(t *testing.T) {
	long := strings.Repeat("é", 300)
	tests := []struct {
		name         string
		base         map[string]string
		crm, remote  map[string]string // nil: side unchanged
		remoteWins   bool
		wantBase     map[string]string
		wantCRM      map[string]string
		wantRemote   map[string]string
		wantConflict int
	}{
		{name: "nothing changed", base: m("FirstName", "Jan"), wantBase: m("FirstName", "Jan")},
		{name: "CRM changed", base: m("FirstName", "Jan"), crm: m("FirstName", "Jana"),
			wantBase: m("FirstName", "Jana"), wantRemote: m("FirstName", "Jana")},
		{name: "remote changed", base: m("FirstName", "Jan"), remote: m("FirstName", "Honza"),
			wantBase: m("FirstName", "Honza"), wantCRM: m("FirstName", "Honza")},
		{name: "remote cleared", base: m("FirstName", "Jan", "LastName", "Novák"), remote: m("LastName", "Novák"),
			wantBase: m("LastName", "Novák"), wantCRM: m("FirstName", "")},
		{name: "different fields on both sides", base: m("FirstName", "Jan", "LastName", "Novák"),
			crm: m("FirstName", "Jana", "LastName", "Novák"), remote: m("FirstName", "Jan", "LastName", "Nováková"),
			wantBase: m("FirstName", "Jana", "LastName", "Nováková"), wantCRM: m("LastName", "Nováková"), wantRemote: m("FirstName", "Jana")},
		{name: "same change on both sides", base: m("FirstName", "Jan"), crm: m("FirstName", "Petr"), remote: m("FirstName", "Petr"),
			wantBase: m("FirstName", "Petr")},
		{name: "conflict, CRM wins", base: m("FirstName", "Jan"), crm: m("FirstName", "Petr"), remote: m("FirstName", "Pavel"),
			wantBase: m("FirstName", "Petr"), wantRemote: m("FirstName", "Petr"), wantConflict: 1},
		{name: "conflict, remote wins", base: m("FirstName", "Jan"), crm: m("FirstName", "Petr"), remote: m("FirstName", "Pavel"), remoteWins: true,
			wantBase: m("FirstName", "Pavel"), wantCRM: m("FirstName", "Pavel"), wantConflict: 1},
		{name: "S3: long CRM value cut on the remote is not an edit", base: m("Department", long), remote: m("Department", cut256("Department", long)),
			wantBase: m("Department", long)},
		{name: "S3: long CRM value changed is written", base: m("Department", "x"), crm: m("Department", long),
			wantBase: m("Department", long), wantRemote: m("Department", long)},
		{name: "S3: remote edits the cut value", base: m("Department", long), remote: m("Department", "short"),
			wantBase: m("Department", "short"), wantCRM: m("Department", "short")},
		{name: "S4: journal block rebuilt when a journal changes", base: m("Journals", "old"), crm: m("Journals", "new"),
			wantBase: m("Journals", "new"), wantRemote: m("Journals", "new")},
		{name: "S4: block edited on the remote is put back", base: m("Journals", "block"), remote: m("Journals", "block edited"),
			wantBase: m("Journals", "block"), wantRemote: m("Journals", "block")},
		{name: "S4: note edited on both sides, block untouched", base: m("Note", "a", "Journals", "b"), crm: m("Note", "crm", "Journals", "b"), remote: m("Note", "remote", "Journals", "b"),
			wantBase: m("Note", "crm", "Journals", "b"), wantRemote: m("Note", "crm"), wantConflict: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mergePair(tt.base, tt.crm, tt.remote, identity, cut256, tt.remoteWins)
			if diff := cmp.Diff(tt.wantBase, got.base, emptyNil); diff != "" {
				t.Errorf("base (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCRM, got.toCRM, emptyNil); diff != "" {
				t.Errorf("writes to CRM (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRemote, got.toRemote, emptyNil); diff != "" {
				t.Errorf("writes to remote (-want +got):\n%s", diff)
			}
			if len(got.conflicts) != tt.wantConflict {
				t.Errorf("conflicts = %v, want %d", got.conflicts, tt.wantConflict)
			}
			for _, c := range got.conflicts {
				if c.Lost == c.Kept || c.Lost == "" {
					t.Errorf("conflict %+v does not keep the losing value", c)
				}
			}
		})
	}
}

var emptyNil = cmp.Transformer("emptyNil", func(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
})

func m(kv ...string) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestWithGroups(t *testing.T) {
	all := m("Email1Address", "a@x", "Email2Address", "b@x", "BusinessAddressCity", "Brno", "BusinessAddressStreet", "Main 1")
	got := withGroups(m("Email2Address", "c@x", "BusinessAddressCity", "Praha"), all)
	want := m("Email1Address", "a@x", "Email2Address", "c@x", "Email3Address", "",
		"BusinessAddressCity", "Praha", "BusinessAddressStreet", "Main 1", "BusinessAddressState", "",
		"BusinessAddressPostalCode", "", "BusinessAddressCountryEn", "")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParsePolicy(t *testing.T) {
	for in, want := range map[string]Policy{"": PolicyNewest, "CRM": PolicyCRM, "outlook": PolicyRemote, "remote": PolicyRemote} {
		if got, err := ParsePolicy(in); err != nil || got != want {
			t.Errorf("ParsePolicy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParsePolicy("coin-toss"); err == nil || !strings.Contains(err.Error(), "coin-toss") {
		t.Errorf("ParsePolicy(coin-toss) error = %v, want one naming the value", err)
	}
}
