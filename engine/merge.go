package engine

import (
	"fmt"
	"strings"
)

// Policy picks the winner of a field changed differently on both sides.
type Policy string

const (
	// PolicyNewest lets the side whose item changed last win; on a tie or
	// an unknown time the CRM wins. It is the default.
	PolicyNewest Policy = "newest"
	PolicyCRM    Policy = "crm"
	PolicyRemote Policy = "outlook"
)

// ParsePolicy accepts "newest", "crm", "outlook" (or "remote"); "" is newest.
func ParsePolicy(s string) (Policy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "newest":
		return PolicyNewest, nil
	case "crm":
		return PolicyCRM, nil
	case "outlook", "remote":
		return PolicyRemote, nil
	}
	return "", fmt.Errorf("unknown conflict policy %q (want newest, crm or outlook)", s)
}

// FieldJournals is the pseudo-field holding the rendered journal block of
// a contact (SPEC S4). Only the CRM produces it; the engine appends it to
// the note it writes to a remote and splits it off the note it reads.
const FieldJournals = "Journals"

// mergeFields is every field the merge decides: the synced fields and the
// journal block.
var mergeFields = append(append([]string(nil), SyncFields...), FieldJournals)

// normalizer is a side's Normalize.
type normalizer func(field, value string) string

// merge is the outcome of the three-way merge of one pair.
type merge struct {
	base      map[string]string // the new agreed values, in CRM form
	toCRM     map[string]string // fields to write to the CRM
	toRemote  map[string]string // fields to write to the remote
	conflicts []Conflict
}

// mergePair merges one pair field by field (SPEC S2). base holds the last
// agreed values in CRM form. crm and remote are the sides' current fields;
// nil means the side did not change, so it still holds the base. A value is
// "changed" on the remote only if it differs from what the remote would
// store for the base (its Normalize), so a value the remote cannot hold in
// full (SPEC S3) never comes back as an edit.
func mergePair(base, crm, remote map[string]string, crmNorm, remoteNorm normalizer, remoteWins bool) merge {
	m := merge{base: map[string]string{}, toCRM: map[string]string{}, toRemote: map[string]string{}}
	for _, f := range mergeFields {
		remoteNorm := remoteNorm
		if f == FieldJournals {
			// The block travels inside the note, which no side cuts.
			remoteNorm = func(_, v string) string { return v }
		}
		b := base[f]
		cv, cChanged := b, false
		if crm != nil {
			cv = crm[f]
			cChanged = cv != b
		}
		rv, rChanged := remoteNorm(f, b), false
		if remote != nil {
			rv = remote[f]
			rChanged = rv != remoteNorm(f, b)
		}
		agreed := b
		switch {
		case f == FieldJournals:
			// The block is rebuilt from CRM journals; edits made to it
			// elsewhere are ignored.
			agreed = cv
		case cChanged && !rChanged:
			agreed = cv
		case rChanged && !cChanged:
			agreed = crmNorm(f, rv)
		case cChanged && rChanged:
			if remoteNorm(f, cv) == rv {
				agreed = cv
				break
			}
			c := Conflict{Field: f, Winner: CRMSide, Kept: cv, Lost: rv}
			agreed = cv
			if remoteWins {
				agreed = crmNorm(f, rv)
				c = Conflict{Field: f, Winner: RemoteSide, Kept: agreed, Lost: cv}
			}
			m.conflicts = append(m.conflicts, c)
		}
		if agreed != "" {
			m.base[f] = agreed
		}
		if f != FieldJournals && cv != agreed {
			m.toCRM[f] = agreed
		}
		if rv != remoteNorm(f, agreed) {
			m.toRemote[f] = agreed
		}
	}
	return m
}

// withGroups adds to fields every member of a group one of them belongs to,
// taking values from all (FieldGroups).
func withGroups(fields, all map[string]string) map[string]string {
	for _, g := range FieldGroups {
		touched := false
		for _, f := range g {
			if _, ok := fields[f]; ok {
				touched = true
				break
			}
		}
		if touched {
			for _, f := range g {
				if _, ok := fields[f]; !ok {
					fields[f] = all[f]
				}
			}
		}
	}
	return fields
}
