// Package ewayapi serves the eWay-CRM web-service protocol (the JSON API
// of eWay-CRM 9, reference/eway-crm.md §3) over a crmsync.CRM, so that
// existing eWay clients and scripts work against crmsync.
//
// # Transport
//
// POST /API.svc/{Method} (also /InsecureAPI.svc/ and the legacy
// /WcfService/Service.svc/, the prefix in any case) with a JSON object of
// the method's parameters. Method names are not case-sensitive (eWay's
// PHP client calls Login, its JavaScript client LogIn). `crmsync serve
// --base-path /eway` moves the whole server (API, CardDAV, web UI) under a
// prefix, as eWay service URLs carry one; a path nothing serves answers
// the envelope below with HTTP 404 (NotFound). Every other answer is HTTP
// 200 with the envelope
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
// server 64 KiB, not 32 MiB. GetContacts, GetCompanies, GetJournals (and
// Search* with an empty example) stream their Data item by item as the CRM
// reads it (a few hundred at a time), and GetChangedItems reads the feed
// 1,000 change ids at a time for a caller with the Export right, so
// neither a listing nor a feed of 100,000 contacts is held whole; eWay's Get
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
// # OAuth 2.0
//
// POST /auth/connect/token (TokenPath, under the service URL like the API)
// with an application/x-www-form-urlencoded body is eWay's token endpoint
// for the grants its clients use: grant_type=password (username, password)
// and grant_type=refresh_token (refresh_token). It answers {access_token,
// token_type: "Bearer", expires_in: 3600, refresh_token, scope}, or HTTP
// 400 {error, error_description} (invalid_grant, invalid_request,
// unsupported_grant_type). client_id and client_secret are accepted and not
// checked: crmsync registers no OAuth clients; the user's password is the
// credential, checked by the CRM's Authenticate, so the lockout that guards
// LogIn (and CardDAV and the web UI) guards the token endpoint too. An
// access token lives an hour, a refresh token 30 days and works once (the
// refresh answer carries a new one); tokens live in memory, so a restart or
// a password change ends them. LogIn with userName and the header
// "Authorization: Bearer {access_token}" instead of passwordHash opens a
// session for the token's user, as eWay's JavaScript and PHP clients do;
// any other method may also be called with the header and no sessionId. An
// unknown or expired token answers HTTP 401 with rcBadAccessToken, on which
// those clients refresh it.
//
// # Bad input
//
// Parameters a method does not use are ignored whatever their name and
// type, as eWay ignores them (clients send includeRelations, appVersion,
// clientMachineIdentifier, dieOnItemConflict... to every method). A
// parameter the method uses is checked: of the wrong JSON type, a GUID that
// is not a GUID, a required one missing: rcParameterError naming it. So are
// malformed JSON, a body that is not valid UTF-8 and a field value that
// does not fit its kind. An unknown method answers rcGeneralError, naming
// the eWay module when it is one crmsync does not serve (Projects, Tasks,
// Invoices, Documents...). A refused call writes nothing. Inside a
// transmitObject, unknown and read-only fields are ignored, as eWay's
// documentation says; Bool fields also take "1"/"0" (eWay's PHP examples
// send Purchaser as '1'), Number fields a JSON number or a numeric string.
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
//   - In the change methods targetChangeId may be omitted (= the last change).
//   - GetEnumValues takes an optional enumTypeName filter.
//   - SaveUserSetting takes transmitObject {Path, Name, Value}.
//
// # Fields kept
//
// Contacts: the fields of crmsync.Schema(crmsync.Contacts) (names, the
// three e-mail addresses, the business, home and other addresses, six
// phones, Company and Companies_CompanyGuid, Title, Department, WebPage,
// Note, ProfilePicture). Companies: CompanyName, Email, Phone, Mobile, Fax,
// WebPage, Note, Department, IdentificationNumber, VATNumber,
// AccountNumber, LineOfBusiness, EmployeesCount, Purchaser, Suppliers,
// Competitor and the Address1 (billing), Address2 (postal) and Address3
// addresses. Journal: FileAs, Note, TypeEn, EventStart, EventEnd, IsSystem,
// Contacts_ContactGuid, Companies_CompanyGuid. Every item also keeps
// additional fields af_N (N from 1 to 999999), sent at the top level or in
// AdditionalFields and answered in AdditionalFields: text, a number as its
// text, a multi-select list as a JSON array of strings. Other eWay fields
// (ICQ, Skype, ImportanceEn, TypeEn of companies...) are ignored.
// GetAdditionalFields (and its ByItemGuids, Identifiers and Search forms)
// lists the definitions administrators made with SaveAdditionalField
// ({ObjectTypeFolderName, FieldId, Name, Type, Rank, Comment}; Type is
// kept as the client gives it and does not restrict the values). A value
// of an undefined af_N is kept all the same.
//
// # Relations
//
// crmsync keeps the 1:N links that are foreign keys of the child: COMPANY
// (Companies→Contacts, Companies→Journal) and CONTACT (Contacts→Journal).
// includeRelations=true on the Get and Search methods adds Relations,
// [{RelationType, ForeignItemGUID, ForeignFolderName, RelationDataGUID}],
// to each item, both directions, to items the caller sees. SaveRelation
// ({ItemGUID1, ItemGUID2, FolderName1, FolderName2, RelationType}, either
// order) sets the child's foreign key, DeleteRelation(relationDataGuid)
// clears it, each a save of the child under the caller's rights. A GENERAL
// (m:n) link, or one to another module, is refused with rcParameterError.
// A RelationDataGUID is derived from the child and the kind of link, so it
// is stable while the link exists. GetUnifiedRelationsChangeIdentifiers
// lists the links made or removed in (baseChangeId, targetChangeId] (A the
// parent, B the child, ItemVersion the child's version).
//
// # Users, enums and settings
//
// GetUsers, GetUsersByItemGuids, GetUsersIdentifiers and SearchUsers
// answer every user (Username, FileAs, FirstName, LastName, IsAdmin...)
// to any signed-in caller and never a password or its hash;
// LogIn's UserItemGuid is a user's ItemGUID. Enum values carry FileAs,
// En, Cs, IsSystem, IsVisible (always true), IsDefault (always false),
// Rank, EnumTypeName and EnumType (the type's GUID); enum types are listed
// with their values (EnumValuesInEnumType, null with omitEnumValues).
// SaveEnumValue ({ItemGUID} to change En, Cs, Rank; {EnumTypeName, En,
// ...} to add) is for administrators. User settings ({Path, Name, Value})
// are the caller's own; global settings are read by everyone and saved by
// administrators (SaveGlobalSetting {Name, Value}). Enum types and
// settings have no GUID of their own in crmsync: theirs are derived from
// their names (MD5, version 3) and stay the same.
//
// # Change feed edges
//
// GetBaseItemChangeId answers 0: crmsync keeps its whole change log, so no
// base is ever too old. A baseChangeId beyond the last change (a client of
// another server, or a log reset) answers rcBaseItemChangeIdNotFound with
// eWay's text: verify all items with the Get methods.
//
// # Not implemented
//
// relationsFilter is ignored (every kept relation is answered). The
// authorization_code grant (a browser sign-in page) is not served.
// SaveRelations, UnlinkItems, Query and the other eWay modules are not
// served.
package ewayapi
