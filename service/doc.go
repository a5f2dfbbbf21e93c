// Package service implements crmsync.CRM: the business rules of the CRM
// (eWay-CRM's versioning, rights, trash, change feed, duplicity check) over a
// small transactional Store that a database adapter implements (package
// sqlite; storetest is the suite every Store must pass).
//
// Choices where eWay-CRM's documentation is silent:
//
//   - Versions: a sent ItemVersion above stored+1 is accepted like
//     stored+1; the new version is always stored+1. A create ignores the
//     sent version and stores 1.
//   - Deletion moves an item to the trash (it keeps its row, its version is
//     raised and the change log records a removal). A trashed item cannot be
//     saved (ENOTFOUND) until Restore, which needs the Edit level.
//   - FileAs, when not given: "LastName FirstName MiddleName" for contacts
//     (then Company, then Email1Address), CompanyName for companies; it
//     follows later name changes until someone sets it explicitly. A
//     journal's FileAs is its subject and has no default.
//   - The change feed lists each item once, with its last change in the
//     range. An item the caller cannot see now is reported as removed only
//     if the caller could see it at one of those changes or just before the
//     range (the change log keeps who could see each version), so the feed
//     never reveals an item the caller never saw.
//   - Items created by the system caller (no user) have no owner unless one
//     is given; they are visible to users with the All level only.
//   - System journals (IsSystem) are made by AddSystemJournal only; users
//     cannot edit them but may delete them within their Delete level.
//   - HavePermissionsChanged reports changes of the caller's groups' rights,
//     of the caller's memberships and of the caller's administrator flag.
//     A change of who owns a linked company (which moves items in and out
//     of the Related level) is not a permission change: like eWay-CRM's
//     feed, it surfaces on the next full reconcile.
//
// # Signing in
//
// Authenticate is the one way in for every adapter (API LogIn, CardDAV
// Basic auth, the web UI, OAuth), so its limits hold for all of them
// together. The name is trimmed and put in Unicode NFC; the lockout counts
// the user, not the spelling. Failures count per client address (from
// crmsync.WithClientAddr; an IPv6 client by its /64) and per user within
// Options.SignInWindow: the address limit is the lower, so one guesser is
// stopped before the user is locked, and an address where the user signed
// in before (remembered in memory for 30 days; a restart forgets) keeps
// its own count, so the right password from a known client works while
// guessers elsewhere hold the user's lock. A refused attempt checks no
// password (crmsync.ErrThrottled tells it apart). A verified password is cached,
// keyed by an HMAC and valid only while the stored hash is the one it was
// checked against; a User returned by Authenticate carries
// PasswordStamp, so every session built on it ends with the password.
package service
