// Package graph is crmsync's Outlook replica: a thin Microsoft Graph v1.0
// client on net/http (no Graph SDK) that implements engine.Replica over one
// contacts folder of one mailbox, and the device-code sign-in that gives it
// a token. The contact resource, the SPEC M9 mapping and the 256-character
// rule live in package outlook; this package moves them over HTTP.
//
// # Requests
//
// Every request carries Prefer: IdType="ImmutableId", so ids survive moves
// into "Duplicate contacts" (§1.8 of reference/graph-and-peers.md). One
// Client never has more than four requests in the mailbox (Outlook's
// concurrency limit), sends at most 9,600 per 10m10s (the limit is 10,000
// per 10 minutes; a $batch counts each inner request, as Graph does), and
// after a 429 or 503 raises a fence that holds every request back for the
// Retry-After. Safe requests (GET, PATCH, PUT, DELETE, move) are retried
// after 5xx answers and dropped connections, a bounded number of times; a
// POST that creates a contact is not: when its answer is lost, the folder
// is listed and the contact is looked up by the CRM GUID it carries (a
// named extended property, SPEC S6) before it is sent again, so a retry
// never makes a second contact.
//
// Writes and read-backs go through $batch, up to 20 requests each. Outlook
// runs at most four requests of a mailbox at once whether batched or not,
// so each batch is chained with dependsOn (one request at a time in the
// mailbox) and four batches are in flight. Work flows continuously: a free
// slot takes the next requests queued (a new contact's photo upload is
// queued as soon as the contact exists, so creates with a photo go
// first), and the last batches are spread over all four slots. Apply
// calls may overlap (the engine sends its next batch while it commits
// the last): free slots go to the oldest call's requests first, so the
// newer call only fills what the older one's tail leaves free. A request
// that was not run (424, after an earlier
// one in its chain failed) or was throttled inside the batch is queued
// again.
//
// # Reading
//
// Changes("") runs a fresh delta round to its deltaLink, then lists the
// folder with the extended properties expanded (one request per 1,000
// contacts): delta cannot $expand extended properties (§1.6), and a
// listing taken after the delta round is never older than the cursor.
// An empty delta round means an empty folder: then nothing is listed.
// Changes(deltaLink) follows the round; entries marked @removed, and
// contacts that left the folder, are Deleted; changed contacts are read
// again in $batch GETs with fax, other phone and the CRM tag expanded,
// except those this client already holds at the reported changeKey (its
// own writes), which cost nothing. A delta token Graph no longer knows
// (410, syncStateNotFound) restarts with a complete listing.
//
// A Record's ProfilePicture is the SHA-256 of the photo bytes, which Graph
// does not expose, so photos are hashed here, cheaply: the client
// remembers the hash of every photo it wrote or read, per changeKey; a
// contact whose PidLidHasPicture says it has no photo needs no request;
// otherwise the photo is downloaded once (404 = none), in $batch requests
// without dependsOn, one at a time (a 404 in a chain would hold back the
// rest): after a restart, hashing the photos of 3,000 contacts costs 150
// requests. Get always returns the bytes.
//
// FindByCRMGUID lists the folder with the CRM tag expanded and matches
// here, because Graph cannot $filter contacts on a string extended
// property (§1.3). It is meant for recovery, which is rare; a listing
// costs one request per 1,000 contacts.
//
// # Writing
//
// A create POSTs every mapped property and the extended properties (fax
// 0x3A24, other phone 0x3A1F, the CRM tag); its photo is PUT in a second
// round, chained with a GET of the contact for the changeKey the upload
// produced. An update PATCHes only the properties its fields touch — an
// address or the e-mail list whole, on top of the contact as last read so
// that what the mapping does not carry (e-mail display names, a second
// home phone) survives — always with displayName, and with If-Match:
// W/"changeKey" when the op is conditional; a 412 is EPRECONDITION. The
// PATCH, the photo upload and the GET of the result go in one chain.
// Photos over 4 MB are downscaled (box filter, JPEG) rather than dropped.
//
// # Known differences from a live tenant
//
//   - If-Match on contact PATCH and DELETE is honoured by the sandbox;
//     real Graph documents it only for DELETE (§1.7), and enforces
//     changeKeys internally.
//   - Clearing a photo sends DELETE …/photo/$value, documented for users
//     and groups but not for contacts.
//   - The default Contacts folder is looked up by the well-known name
//     "contacts" first, which the sandbox serves and Exchange knows but
//     Graph v1.0 does not document for contactFolders; the fallbacks
//     (parentFolderId of a contact, or of the listed folders) are the
//     documented way.
//   - Whether Exchange sets PidLidHasPicture on a photo uploaded through
//     Graph is unverified; the sandbox derives it from the photo, so
//     against it a contact without a photo costs no photo GET.
//
// # Sign-in
//
// DeviceLogin runs the OAuth 2.0 device code flow against the Microsoft
// identity platform (tenant and client id configurable, scopes
// Contacts.ReadWrite and offline_access). TokenStore keeps each user's
// token in a 0600 file in a 0700 directory and hands out a TokenSource
// that saves every refreshed token. No token is ever logged.
package graph
