// Package ewayapi serves the eWay-CRM web-service protocol (the JSON API
// of eWay-CRM 9, reference/eway-crm.md §3) over a crmsync.CRM, so that
// existing eWay clients and scripts work against crmsync.
//
// # Transport
//
// POST /API.svc/{Method} (also /InsecureAPI.svc/ and the legacy
// /WcfService/Service.svc/) with a JSON object of the method's parameters.
// Every answer is HTTP 200 with the envelope
//
//	{"ReturnCode": "rcSuccess", "Description": "", "Data": [...]}
//
// where reads put a list in Data or a value in Datum, saves put the item's
// GUID in Guid, and LogIn adds SessionId, UserItemGuid, IsAdmin and
// WcfVersion. Bodies are limited per method: 32 MiB (Options.MaxBodyBytes)
// for the Save* methods, 4 MiB for lists of itemGuids, 1 MiB for a search
// example or a setting, 64 KiB for the rest. Of a body over 64 KiB the
// server reads on only once the part read holds the sessionId of a live
// session, so send sessionId first: an unauthenticated caller costs the
// server 64 KiB, not 32 MiB. GetContacts, GetCompanies and GetJournals
// stream their Data item by item as the CRM reads it (a few hundred at a
// time), so a listing of 100,000 contacts is never held whole; eWay's Get
// methods take no paging parameters, and clients that want pages list
// Get*Identifiers and fetch Get*ByItemGuids in chunks, or walk the change
// feed in targetChangeId ranges.
//
// # Sessions
//
// LogIn takes userName and passwordHash, the hex MD5 of the password (any
// case). A session ends after 20 minutes without a call or 24 hours after
// LogIn, whichever comes first, or at LogOut; sessions live in memory, so a
// restart ends them all. Every other method needs sessionId: a missing,
// unknown or expired one answers rcBadSession, on which eWay clients LogIn
// again. A user holds at most 100 sessions (a new LogIn ends the least
// recently used) and the server 10,000 (then LogIn is refused). LogIn
// goes through the CRM's Authenticate, whose limiter (shared with CardDAV,
// the web UI and OAuth) throttles failed sign-ins per client address and
// per user: a throttled LogIn answers rcLoginFailed saying so, without
// checking the password. A session ends when its user's password changes
// (its next call answers rcBadSession).
//
// # Cross-site requests
//
// A browser may send a cross-site POST without asking first only with a
// text/plain, form or multipart body, so those content types are refused
// (HTTP 415), as is a request whose Origin (or Sec-Fetch-Site) says it
// comes from another site (HTTP 403): a web page cannot make a signed-in
// browser call the API.
//
// # Bad input
//
// Malformed JSON, a body that is not valid UTF-8, an unknown method, a
// parameter the method does not take (names are case-sensitive), a
// parameter of the wrong JSON type, a GUID that is not a GUID, a field
// value that does not fit its kind: rcParameterError (rcGeneralError for
// an unknown method) with a Description naming the problem; nothing is
// written. Inside a transmitObject, unknown and read-only fields are
// ignored, as eWay ignores them.
//
// # Return codes
//
// Domain errors map to return codes through one table (returnCodes):
// conflict → rcItemConflict, exists → rcItemAlreadyUploaded, duplicate →
// rcDuplicateContact, invalid → rcParameterError, not_found →
// rcGeneralError, forbidden → rcAccessDenied, unauthorized → rcBadSession
// (rcLoginFailed in LogIn), precondition → rcGeneralError, internal →
// rcInternalError with the Description "internal error" (the cause is
// logged, never sent).
//
// # crmsync's extensions to the eWay protocol
//
//   - GetDeletedContacts / GetDeletedCompanies / GetDeletedJournals list the
//     caller's visible items in the trash; RestoreContact / RestoreCompany /
//     RestoreJournal(itemGuid) bring one back as a new version.
//   - Save* answers carry the stored ItemVersion next to Guid.
//   - SaveContacts (and the other batch saves) answer with Data, one
//     {Guid, ItemVersion, ReturnCode, Description} per transmit object; the
//     envelope's ReturnCode is the first failure's, items that did not fail
//     are saved.
//   - GetItemChangeIdentifiers entries carry ItemVersion and ChangeId.
//   - GetChangedItems entries are {FolderName, ChangedItems, RemovedItemGuids}.
//   - In the change methods targetChangeId may be omitted (= the last change);
//     a baseChangeId beyond the last change answers rcBaseItemChangeIdNotFound,
//     telling the client to reconcile fully.
//   - GetEnumValues takes an optional enumTypeName filter.
//   - SaveUserSetting takes transmitObject {Path, Name, Value}.
//
// # Not implemented
//
// includeRelations and relationsFilter are accepted and ignored: relations
// travel only as foreign keys (Companies_CompanyGuid, Contacts_ContactGuid)
// with includeForeignKeys. appVersion, clientMachineIdentifier,
// clientMachineName, userGuid, createSessionCookie, isFullSync (LogIn) and
// ignoredUserErrorMessages (saves) are accepted and ignored. OAuth sign-in,
// SaveRelation(s), Query and the other eWay modules are not served.
package ewayapi
