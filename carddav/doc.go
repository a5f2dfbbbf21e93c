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
// repeated PUT finds the same contact. A GUID held by a contact the user
// may not see (in use or in the trash) is taken too: the card gets the
// derived GUID, so the answer is the one a free GUID gets and tells nothing
// of the other contact. Names that are not <guid>.vcf are recorded in the
// Store, and forgotten again when the CRM refuses the create.
//
// A PUT that changes nothing (the mapped fields are the CRM's, "USA" naming
// the United States, and the card reads back the same in 3.0 and 4.0)
// writes nothing: no ItemVersion, ETag, ctag, sync token or change-feed
// entry moves. A change to unmapped properties alone is saved as a change,
// so other clients fetch it.
//
// ETags derive from ItemGUID, ItemVersion and the stored client card;
// getctag and DAV:sync-token from the CRM's change feed (LastChangeID), and
// sync-collection answers from ChangeIdentifiers since the token (a token
// from before a rights change, or malformed, gets 403 valid-sync-token so
// the client lists again). Enum fields (prefix, suffix, countries) are
// shown by their English names and written back through EnsureEnumValue;
// a client's own word for the same value ("USA", "Česká republika") is
// kept on its card.
//
// Listings (PROPFIND Depth 1, addressbook-query, multiget, sync-collection)
// read and write 500 contacts at a time and stream the 207 answer once it
// passes 256 KiB, so a request's memory is that of a batch plus the book's
// list of GUIDs, not of the whole answer; a failure after the answer began
// breaks the connection rather than end a partial listing cleanly.
//
// The CRM has no place for vCard properties it does not map (birthday,
// IMPP, categories, labels...), so the last card a client PUT is kept in
// the Store (without its photo) and the CRM's fields are written onto it
// on every GET. Authentication is HTTP Basic with the CRM's users and
// passwords.
package carddav
