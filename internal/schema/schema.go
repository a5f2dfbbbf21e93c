// Package schema loads the numbered SQL migrations both stores embed, and
// holds the seed data they share (the enum values), so that SQLite and
// PostgreSQL databases start with the same rows.
package schema

import (
	_ "embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// EnumValues is the seed of enum values (titles, journal types, countries)
// as one INSERT both SQL dialects accept.
//
//go:embed enum_values.sql
var EnumValues string

// Migration is one numbered schema change.
type Migration struct {
	Number int
	Name   string
	SQL    string
}

// Load reads the migrations NNNN_name.sql at the root of fsys, adds extra,
// and returns them in numeric order; two sharing a number are an error.
func Load(fsys fs.FS, extra ...Migration) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("listing migrations: %w", err)
	}
	ms := append([]Migration(nil), extra...)
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		n, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and an underscore", name)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", name, err)
		}
		ms = append(ms, Migration{Number: n, Name: name, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Number < ms[j].Number })
	for i := 1; i < len(ms); i++ {
		if ms[i].Number == ms[i-1].Number {
			return nil, fmt.Errorf("migrations %s and %s share number %d", ms[i-1].Name, ms[i].Name, ms[i].Number)
		}
	}
	return ms, nil
}

// EnumSeed is the migration that seeds the enum values, number 2 in both
// stores.
var EnumSeed = Migration{Number: 2, Name: "0002_enum_values.sql", SQL: EnumValues}
