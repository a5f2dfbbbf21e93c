// Package sqlite is the embedded CRM store: service.Store on one SQLite
// file (modernc.org/sqlite, pure Go) in WAL mode, with numbered plain-SQL
// migrations embedded in the binary and applied by Open.
//
// Items of every folder share one table; their fields are one compact blob
// beside a few copied columns used for lookups and rights. Every write of an
// item appends to the changes table in the same transaction, which gives the
// monotonic change feed. Other packages that keep state in the same file
// (the sync engine) use Update and View and add migrations numbered 0100
// and up.
package sqlite
