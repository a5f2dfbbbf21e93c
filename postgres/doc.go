// Package postgres is the CRM store for a company that outgrows one
// machine: service.Store, the sync state (engine.StateStore) and the
// CardDAV server's store on a PostgreSQL database shared by any number of
// crmsync nodes (pgx, hand-written SQL). Numbered migrations are embedded in
// the binary and applied by Open under an advisory lock, so nodes starting
// together migrate once.
//
// The tables are those of the SQLite store, and fields use the same blob
// encoding (internal/schema). CRM writes take one transaction-scoped
// advisory lock, as SQLite has one writer: the service's read-check-write
// of an item can then lose no concurrent update, and change ids, allocated
// under that lock one more than the last, become visible in id order with
// no gaps, which the change feed's readers rely on.
//
// Nodes sharing the database run each partnership under a lease
// (AcquireLease): a fencing token that grows at every change of holder and
// that every write of a Fenced state store checks in its own transaction,
// so a node paused past its lease cannot write stale state.
package postgres
