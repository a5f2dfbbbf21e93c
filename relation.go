package crmsync

// Relation types as eWay-CRM names them (its RelationTypes.md).
const (
	RelationCompany = "COMPANY" // a company and its contacts and journals
	RelationContact = "CONTACT" // a contact and its journals
	RelationGeneral = "GENERAL" // eWay's plain m:n link, which crmsync does not keep
)

// Relation is a link between a parent item and a child item. crmsync keeps
// only the 1:N links that are foreign keys of the child: a contact's
// company (Companies_CompanyGuid), a journal's contact
// (Contacts_ContactGuid) and a journal's company (Companies_CompanyGuid).
type Relation struct {
	// GUID identifies the link (eWay's RelationDataGUID). It is derived
	// from the child and the kind of link, so it stays the same for as long
	// as the link exists and needs no storage.
	GUID         string
	Type         string // RelationCompany or RelationContact
	ParentFolder Folder
	ParentGUID   string
	ChildFolder  Folder
	ChildGUID    string
}

// RelationChange is one entry of the relations' change feed
// (GetUnifiedRelationsChangeIdentifiers): a link made or removed in a range
// of change ids, reported once with its last state.
type RelationChange struct {
	Relation
	Removed      bool
	ChildVersion int // the child's version at the change
}
