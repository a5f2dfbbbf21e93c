package schema

import (
	"encoding/json"
	"fmt"

	"github.com/crmsync/crmsync/engine"
)

// runReport is the JSON column of a sync run: what the run found beyond
// its times and outcome.
type runReport struct {
	Counts     engine.Counts
	Conflicts  []engine.Conflict  `json:",omitempty"`
	Duplicates []engine.Duplicate `json:",omitempty"`
	Errors     []engine.ItemError `json:",omitempty"`
}

// EncodeRunReport renders the details of r for the report column.
func EncodeRunReport(r *engine.Run) (string, error) {
	b, err := json.Marshal(runReport{Counts: r.Counts, Conflicts: r.Conflicts, Duplicates: r.Duplicates, Errors: r.Errors})
	return string(b), err
}

// DecodeRunReport fills r's details from a report column.
func DecodeRunReport(report string, r *engine.Run) error {
	var rep runReport
	if err := json.Unmarshal([]byte(report), &rep); err != nil {
		return fmt.Errorf("report of sync run %d is unreadable: %w", r.ID, err)
	}
	r.Counts, r.Conflicts, r.Duplicates, r.Errors = rep.Counts, rep.Conflicts, rep.Duplicates, rep.Errors
	return nil
}

// PendingKind is the kind a pending write is stored with; the zero value
// means a create.
func PendingKind(p engine.Pending) engine.OpKind {
	if p.Kind == 0 {
		return engine.Create
	}
	return p.Kind
}
