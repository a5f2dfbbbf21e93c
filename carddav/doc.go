// Package carddav serves the CRM as CardDAV address books (RFC 6352) for
// phones and mail clients: each user gets one book holding exactly the
// contacts the user may see, with the CRM's rights on every read and
// write.
//
// It is written on net/http rather than go-webdav's Handler, which lacks
// sync-collection and getctag, ignores If-Match on DELETE and re-encodes
// every card with go-vcard (mangling escaped semicolons, CATEGORIES and
// parameter quoting). Cards are converted by the vcard package.
//
// Layout under the prefix (default /dav/):
//
//	/.well-known/carddav            → redirect to the prefix (RFC 6764)
//	/dav/                           current-user-principal
//	/dav/principals/<user>/         addressbook-home-set
//	/dav/addressbooks/<user>/       the home, holding one book
//	/dav/addressbooks/<user>/contacts/             the book
//	/dav/addressbooks/<user>/contacts/<name>.vcf   a contact
//
// A contact created in the CRM is <ItemGUID>.vcf. A contact a client
// creates keeps the client's resource name: a GUID name (any case) gives
// the CRM GUID; other names give the card's UID when that is a free GUID,
// else a GUID derived from the user and the name (UUID version 5), so a
// repeated PUT finds the same contact. Names that are not <guid>.vcf are
// recorded in the Store.
//
// ETags derive from ItemGUID, ItemVersion and the stored client card;
// getctag and DAV:sync-token from the CRM's change feed (LastChangeID), and
// sync-collection answers from ChangeIdentifiers since the token (a token
// from before a rights change, or malformed, gets 403 valid-sync-token so
// the client lists again). Enum fields (prefix, suffix, countries) are
// shown by their English names and written back through EnsureEnumValue.
//
// The CRM has no place for vCard properties it does not map (birthday,
// IMPP, categories, labels...), so the last card a client PUT is kept in
// the Store (without its photo) and the CRM's fields are written onto it
// on every GET. Authentication is HTTP Basic with the CRM's users and
// passwords.
package carddav
