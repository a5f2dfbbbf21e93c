package sqlite

import (
	"net/url"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// driverName is the database/sql name modernc.org/sqlite registers.
const driverName = "sqlite"

// dsn builds the connection string for path. WAL lets readers run beside the
// single writer; synchronous=FULL syncs the WAL at every commit, so an
// acknowledged write survives a power loss too (NORMAL survives only a
// crash of the process, and lost the last commits when the machine went
// down); busy_timeout makes a reader wait out a checkpoint instead of
// failing; _txlock=immediate takes the write lock at BEGIN so two writers
// never deadlock upgrading a read lock.
func dsn(path string, write bool) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	// A larger page cache and memory-mapped reads keep lookups of scattered
	// items (the change feed) from paying a system call per page.
	q.Add("_pragma", "cache_size(-32768)")
	q.Add("_pragma", "mmap_size(268435456)")
	if write {
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + uriPath.Replace(path) + "?" + q.Encode()
}

// uriPath escapes what SQLite's URI file names give a meaning to, so that a
// path with "%", "?" or "#" names the file it says.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
