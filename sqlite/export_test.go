package sqlite

// Exported for the tests in package sqlite_test.
var (
	CompareVersions = compareVersions
	EncodeFields    = encodeFields
	DecodeFields    = decodeFields
)
