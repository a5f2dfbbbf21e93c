// Package sandbox is a Graph-compatible sandbox mailbox: an HTTP server
// that speaks the Microsoft Graph v1.0 endpoints crmsync's Graph client
// uses, under the same paths, in front of one outlook.Mailbox (the same
// Outlook model the engine's in-process tests use). `crmsync sandbox`,
// `crmsync demo` and the Graph client's tests run it.
//
// Served (also under /v1.0/users/{id}/… as an alias of /v1.0/me/…):
//
//	GET, POST          /v1.0/me/contacts                       ($select, $top, $skip, $filter, $expand)
//	GET, PATCH, DELETE /v1.0/me/contacts/{id}                  ($select, $expand=singleValueExtendedProperties($filter=id eq '…' or …))
//	GET                /v1.0/me/contacts/{id}/photo            (metadata)
//	GET, PUT, PATCH, DELETE /v1.0/me/contacts/{id}/photo/$value
//	POST               /v1.0/me/contacts/{id}/move             ({"destinationId": …})
//	GET, POST          /v1.0/me/contactFolders
//	GET                /v1.0/me/contactFolders/{id}
//	GET, POST          /v1.0/me/contactFolders/{id}/childFolders
//	GET, POST          /v1.0/me/contactFolders/{id}/contacts
//	…                  /v1.0/me/contactFolders/{id}/contacts/{id}[/photo/$value|/move]
//	GET                /v1.0/me/contactFolders/{id}/contacts/delta ($select; then the opaque nextLink/deltaLink)
//	POST               /v1.0/$batch
//
// Graph's documented limits are enforced: at most 3 emailAddresses and 2
// businessPhones (400 with Graph's message), a new changeKey and
// @odata.etag on every write, If-Match on PATCH/DELETE/photo (412
// ErrorIrresolvableConflict), photos up to 4 MB (413 above), 20 requests
// per $batch, 4 concurrent requests per mailbox (the 5th gets 429
// "MailboxConcurrency" with Retry-After) and 10,000 requests per 10
// minutes (429 TooManyRequests with Retry-After), with requests inside a
// batch counted one by one and run at most 4 at a time. Error bodies have
// Graph's {"error":{"code","message","innerError"}} shape. Any
// "Authorization: Bearer <token>" is accepted; without one the answer is
// 401 InvalidAuthenticationToken. Options add per-request latency and
// inject faults (429 bursts, 5xx, timeouts, dropped connections, writes
// whose response is lost).
//
// Known differences from real Graph (each deliberate or unverifiable
// without a tenant):
//
//   - Ids are always immutable ids: a contact keeps its id when moved,
//     whether or not the request says Prefer: IdType="ImmutableId" (the
//     header is acknowledged with Preference-Applied). Real Graph changes
//     a moved contact's regular id.
//   - There is one mailbox per server; /users/{anything}/ is /me/.
//   - GET /me/contactFolders lists the default "Contacts" folder together
//     with its child folders, as the docs' example response shows; the
//     folder segment "contacts" is accepted as the default folder's id.
//   - Delta: tokens never expire; a token of another folder or of a wiped
//     mailbox gives 410 syncStateNotFound (Graph: 410 with a Location
//     header, or a 40X). An initial round lists no @removed entries; later
//     rounds give @removed {"reason":"deleted"} for deleted and moved-out
//     contacts (never "changed"). Updated contacts come back whole (or
//     with their $select-ed properties), never as a subset. $expand on
//     delta gives 501 NotImplemented (docs' example); reports show real
//     Graph answering 500 "Value cannot be null". The default delta page
//     is 100 items, a list page 10; odata.maxpagesize is honoured up to
//     1000 (Options.MaxDeltaPage). Real Graph is reported to stop contact
//     delta pages at 200 whatever is asked (a Microsoft Q&A answer of
//     2025-05; undocumented), which makes delta rounds five times as many
//     round trips.
//   - Changing a photo gives the contact a new changeKey and reports it in
//     delta (as Exchange does when the picture attachment changes; not
//     documented). DELETE on photo/$value removes it (not documented for
//     contacts).
//   - Photo metadata reports the uploaded image's own size (Graph reports
//     the sizes it generated); photos must be image/* (sniffed when the
//     Content-Type is missing or generic).
//   - Folder listings support only $filter=displayName eq '…'
//     (case-insensitive).
//   - $filter on contacts supports only emailAddresses/any(a:a/address eq '…') and
//     singleValueExtendedProperties/any(ep: ep/id eq '…' and ep/value eq
//     '…'); Graph documents the second for contacts with numeric operators
//     only. $orderby, $search and $count are not supported.
//   - PidLidHasPicture (Boolean {00062004-…} Id 0x8015) is derived from
//     the stored photo when expanded; Exchange keeps the MAPI property
//     itself, and whether it is set for photos uploaded through Graph is
//     unverified.
//   - homePhones is limited to 2 entries (an assumption: Outlook has Home
//     and Home 2; Graph does not document a limit).
//   - The 400 for too many values uses code ErrorInvalidArgument; Graph's
//     code for that message is not documented. A 413 photo uses
//     ErrorRequestEntityTooLarge.
//   - The $batch envelope itself takes no concurrency slot and counts no
//     request; its inner requests do. Latency applies once per HTTP
//     request (Options.BatchItemLatency adds to each inner request).
//     Throttled inner requests get 429 inside a 200 batch (the 2025 docs'
//     behaviour). The upload budget (150 MB per 5 minutes) is not enforced.
//   - Read-only properties in a POST or PATCH body (id, changeKey, …) are
//     ignored; an unknown property is a 400. A JSON body is accepted
//     without a Content-Type header (Graph requires application/json;
//     inside a $batch a body without Content-Type is refused, as Graph
//     does).
//   - Empty entries inside emailAddresses, businessPhones and homePhones
//     are kept as sent (the M9 mapping uses them to hold a slot); whether
//     Exchange keeps or compacts them is unverified.
//   - displayName is generated from given, middle and surname (else
//     company, else e-mail) when empty, and regenerated on update when it
//     was generated; Graph's own rule is undocumented.
package sandbox
