package sqlite

import "github.com/crmsync/crmsync/internal/schema"

// Exported for the tests in package sqlite_test.
var (
	CompareVersions = compareVersions
	EncodeFields    = schema.EncodeFields
	DecodeFields    = schema.DecodeFields
)

// Synchronous returns PRAGMA synchronous of the write and of a read
// connection (2 = FULL).
func Synchronous(db *DB) (write, read int, err error) {
	if err = db.write.QueryRow("PRAGMA synchronous").Scan(&write); err != nil {
		return
	}
	err = db.read.QueryRow("PRAGMA synchronous").Scan(&read)
	return
}
