// Package vcard converts CRM contacts to and from vCard 3.0 and 4.0
// (RFC 2426, RFC 6350) and reads vCard 2.1 as Outlook and old phones
// export it.
//
// It has its own small line parser and writer instead of go-vcard's,
// because go-vcard mangles what phones send (see
// reference/go-style-and-deps.md): it splits N and ADR at escaped
// semicolons, doubles backslashes, turns CATEGORIES:a,b into one category,
// writes parameter values unquoted, never folds lines, skips malformed
// lines silently and knows nothing of QUOTED-PRINTABLE or CHARSET. A Card
// keeps every property as written, so a card is rewritten by changing
// only the properties whose mapped values changed (Update, Encode), names
// in the case the input spelled them; every
// other property — X- and unknown ones, item groups with X-ABLabel, IMPP,
// BDAY, CATEGORIES, a second ORG, a fourth EMAIL — comes back untouched.
// ToGoVCard and FromGoVCard convert to go-webdav's card type when needed.
//
// The mapping (CRM field names as in engine.SyncFields):
//
//	N          LastName;FirstName;MiddleName;PrefixEn;SuffixEn (PrefixEn and
//	           SuffixEn hold the enum's English name as text). Without N
//	           (4.0) the names are read from FN.
//	FN         composed from the name parts (else Company, else Email1)
//	           whenever they change; kept as written otherwise.
//	ORG        Company;Department (further units kept).
//	TITLE      Title (the job title).
//	ROLE       not mapped: eWay has no field for a function or profession,
//	           and common practice (Outlook, iOS, Android) puts the
//	           department in ORG's second unit, not in ROLE. Kept as is.
//	URL        WebPage: the URL typed work, else the preferred one.
//	EMAIL      Email1..3Address: the first three in PREF order (PREF=n,
//	           TYPE=pref), then document order. New ones are written
//	           work+pref, home, untyped.
//	TEL        by TYPE: work → TelephoneNumber1, second work → 5; home → 2;
//	           cell/mobile/iphone → 3; fax (not home fax) → 6; untyped,
//	           voice, other or main → 4. Pager, home fax, video, textphone
//	           are not mapped. TYPE="work,voice" (4.0 quoted lists) and
//	           tel: URIs are understood.
//	ADR        work → BusinessAddress, home → HomeAddress, other or untyped →
//	           OtherAddress: POBox;extended;street;City;State;PostalCode;
//	           CountryEn. Street is the extended address and the street
//	           joined by a line break (Outlook and Thunderbird split a street
//	           over both); POBox is read and written but is not a synced
//	           field (CRMFields has it, Fields does not; Encode keeps it
//	           when the caller does not pass it).
//	NOTE       Note.
//	PHOTO      ProfilePicture = hex SHA-256 of the inline picture (ENCODING=b
//	           in 3.0, a data: URI in 4.0); the bytes travel separately
//	           (Photo). A picture by URI is kept and never fetched; it has no
//	           hash.
//	UID        the caller's identity (Encode's uid), kept otherwise.
//
// Known limits: slots are positional, so a contact with Email2 but no
// Email1 (or a second work phone but no first) reads back with the value
// in the first slot. A 2.1 card's QUOTED-PRINTABLE and CHARSET are decoded
// on input and the card is written as 3.0. A Nextcloud ADR whose LABEL
// parameter holds an unquoted ':' is cut at that colon, as RFC 6350
// requires (street, city, code and country still read correctly).
package vcard
