package sqlite

import "github.com/crmsync/crmsync/internal/schema"

// Exported for the tests in package sqlite_test.
var (
	CompareVersions = compareVersions
	EncodeFields    = schema.EncodeFields
	DecodeFields    = schema.DecodeFields
)
