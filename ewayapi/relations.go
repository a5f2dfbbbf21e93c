package ewayapi

import (
	"context"

	"github.com/crmsync/crmsync"
)

func addRelationMethods(add func(*method)) {
	add(&method{name: "SaveRelation", params: []string{"transmitObject"}, required: []string{"transmitObject"},
		body: bodyCustom, decodeBody: decodeRelation, run: saveRelation})
	add(&method{name: "DeleteRelation", params: []string{"relationDataGuid"}, required: []string{"relationDataGuid"}, run: deleteRelation})
	add(&method{name: "GetUnifiedRelationsChangeIdentifiers", params: []string{"baseChangeId", "targetChangeId"},
		required: []string{"baseChangeId"}, run: relationChanges})
}

// relationJSON is SaveRelation's transmitObject (eWay's Relation), as
// eWay's LinkExistingItem example sends it.
type relationJSON struct {
	ItemGUID1, ItemGUID2     string
	FolderName1, FolderName2 crmsync.Folder
	RelationType             string
}

func decodeRelation(r *request) error {
	rel := &r.relation
	for name, raw := range r.object {
		if isNull(raw) {
			continue
		}
		var err error
		var s string
		switch name {
		case "ItemGUID1":
			rel.ItemGUID1, err = decodeGUID("transmitObject.ItemGUID1", raw)
		case "ItemGUID2":
			rel.ItemGUID2, err = decodeGUID("transmitObject.ItemGUID2", raw)
		case "FolderName1":
			s, err = decodeString("transmitObject.FolderName1", raw)
			rel.FolderName1 = crmsync.Folder(s)
		case "FolderName2":
			s, err = decodeString("transmitObject.FolderName2", raw)
			rel.FolderName2 = crmsync.Folder(s)
		case "RelationType":
			rel.RelationType, err = decodeString("transmitObject.RelationType", raw)
		}
		if err != nil {
			return err
		}
	}
	for _, k := range []struct{ name, v string }{{"ItemGUID1", rel.ItemGUID1}, {"ItemGUID2", rel.ItemGUID2},
		{"FolderName1", string(rel.FolderName1)}, {"FolderName2", string(rel.FolderName2)}} {
		if k.v == "" {
			return paramErrorf("transmitObject.%s is required", k.name)
		}
	}
	for _, f := range []crmsync.Folder{rel.FolderName1, rel.FolderName2} {
		if !f.Valid() {
			return paramErrorf("relations to the eWay module %q are not kept by crmsync: it keeps COMPANY links (Companies to Contacts and Journal) and CONTACT links (Contacts to Journal)", truncate(string(f)))
		}
	}
	if rel.RelationType == crmsync.RelationGeneral {
		return paramErrorf("GENERAL (m:n) relations are not kept by crmsync: link %s and %s with RelationType COMPANY or CONTACT", rel.FolderName1, rel.FolderName2)
	}
	return nil
}

func saveRelation(ctx context.Context, s *Server, r *request) (*reply, error) {
	rel := r.relation
	saved, err := s.crm.SaveRelation(ctx, rel.FolderName1, rel.ItemGUID1, rel.FolderName2, rel.ItemGUID2, rel.RelationType)
	if err != nil {
		return nil, err
	}
	return &reply{Guid: saved.GUID}, nil
}

func deleteRelation(ctx context.Context, s *Server, r *request) (*reply, error) {
	if err := s.crm.DeleteRelation(ctx, r.RelationDataGUID); err != nil {
		return nil, err
	}
	return &reply{}, nil
}

// unifiedRelationJSON is one entry of GetUnifiedRelationsChangeIdentifiers
// (eWay's UnifiedRelationChangeIdentifier): A is the parent, B the child.
type unifiedRelationJSON struct {
	ItemGUID     string
	ItemVersion  int
	ItemGuidA    string
	ItemGuidB    string
	FolderNameA  crmsync.Folder
	FolderNameB  crmsync.Folder
	RelationType string
	IsOriented   bool
	IsRemoved    bool
}

func relationChanges(ctx context.Context, s *Server, r *request) (*reply, error) {
	base, target, err := changeRange(ctx, s, r)
	if err != nil {
		return nil, err
	}
	changes, err := s.crm.RelationChanges(ctx, base, target)
	if err != nil {
		return nil, err
	}
	out := make([]unifiedRelationJSON, len(changes))
	for i, c := range changes {
		out[i] = unifiedRelationJSON{ItemGUID: c.GUID, ItemVersion: c.ChildVersion, ItemGuidA: c.ParentGUID, ItemGuidB: c.ChildGUID,
			FolderNameA: c.ParentFolder, FolderNameB: c.ChildFolder, RelationType: c.Type, IsOriented: true, IsRemoved: c.Removed}
	}
	return &reply{Data: out}, nil
}

// withRelations adds each item's Relations when the call asked for them
// (includeRelations).
func withRelations(ctx context.Context, s *Server, r *request, folder crmsync.Folder, items []itemJSON) ([]itemJSON, error) {
	if !r.IncludeRelations || len(items) == 0 {
		return items, nil
	}
	guids := make([]string, len(items))
	for i, it := range items {
		guids[i] = it.item.GUID
	}
	rels, err := s.crm.Relations(ctx, folder, guids)
	if err != nil {
		return nil, err
	}
	for i := range items {
		items[i].relations = rels[items[i].item.GUID]
		if items[i].relations == nil {
			items[i].relations = []crmsync.Relation{}
		}
	}
	return items, nil
}
