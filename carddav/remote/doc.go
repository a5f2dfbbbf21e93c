// Package remote syncs a CardDAV address book (RFC 6352) as one side of a
// crmsync partnership: Client implements engine.Replica.
//
// Discovery follows RFC 6764 (/.well-known/carddav, current-user-principal,
// addressbook-home-set) from whatever URL the user has. Listing uses
// sync-collection (RFC 6578) when the book offers a DAV:sync-token; the
// cursor is the token from the listing's own answer, never one read after
// our writes (F11). An invalid or expired token, or a server without
// sync-collection, falls back to a Depth:1 ETag listing whose cursor
// remembers each card's ETag hash, so only changed cards are fetched.
// Cards are fetched with addressbook-multiget in bounded batches (F10).
//
// Writes are conditional: a create PUTs <guid>.vcf with If-None-Match: *,
// so a retried create hits the same href and reports EEXISTS with the card
// already there (F2, SPEC S6); updates read the card, change only the
// mapped properties (the vcard package keeps every other property) and PUT
// it with If-Match; deletes send If-Match. A 412 is EPRECONDITION.
//
// The requests are written here rather than through go-webdav's
// carddav.Client: that client decodes cards with go-vcard (whose escaping
// bugs the vcard package exists to avoid), cannot send If-Match or
// If-None-Match, and hides HTTP statuses.
//
// Tests run against real Radicale and Xandikos servers (Debian packages
// radicale, xandikos) started on loopback ports.
package remote
