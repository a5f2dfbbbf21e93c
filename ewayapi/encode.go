package ewayapi

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync"
)

// itemJSON renders an item as eWay does: ItemGUID, ItemVersion (number),
// then every field of the folder's schema in order, empty ones as null,
// Bool fields as JSON booleans. Foreign keys (Companies_CompanyGuid, ...)
// appear only with includeForeignKeys, ProfilePicture only with
// includeProfilePictures, like eWay's Get methods.
type itemJSON struct {
	item     *crmsync.Item
	fks      bool
	pictures bool
	// relations, when not nil (includeRelations), are rendered as eWay's
	// Relations list from this item's side.
	relations []crmsync.Relation
}

// isForeignKey reports whether a field is a relation surfaced as a foreign
// key, named {ParentFolder}_{Role}Guid by eWay.
func isForeignKey(def crmsync.FieldDef) bool {
	return def.Kind == crmsync.GUID && strings.Contains(def.Name, "_")
}

func (j itemJSON) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	j.writeTo(&b)
	return b.Bytes(), nil
}

func (j itemJSON) writeTo(b *bytes.Buffer) {
	b.WriteString(`{"ItemGUID":`)
	writeString(b, j.item.GUID)
	b.WriteString(`,"ItemVersion":`)
	b.WriteString(strconv.Itoa(j.item.Version))
	for _, def := range crmsync.Schema(j.item.Folder) {
		if isForeignKey(def) && !j.fks || def.Kind == crmsync.Binary && !j.pictures {
			continue
		}
		b.WriteByte(',')
		writeString(b, def.Name)
		b.WriteByte(':')
		v := j.item.Get(def.Name)
		switch {
		case def.Kind == crmsync.Bool:
			b.WriteString(strconv.FormatBool(v == "true"))
		case v == "":
			b.WriteString("null")
		case def.Kind == crmsync.Number:
			b.WriteString(v) // stored normalized by the service
		default:
			writeString(b, v)
		}
	}
	writeAdditionalFields(b, j.item)
	if j.relations != nil {
		b.WriteString(`,"Relations":`)
		rels := make([]boundRelationJSON, len(j.relations))
		for i, r := range j.relations {
			rels[i] = boundRelation(j.item.GUID, r)
		}
		enc, _ := json.Marshal(rels) // plain strings always marshal
		b.Write(enc)
	}
	b.WriteByte('}')
}

// writeAdditionalFields writes the item's af_N values as eWay's
// AdditionalFields object, in field number order: a value kept as a JSON
// array (a multi-select field) as that array, any other as a string.
func writeAdditionalFields(b *bytes.Buffer, it *crmsync.Item) {
	names := crmsync.AdditionalFieldNames(it)
	b.WriteString(`,"AdditionalFields":{`)
	for i, name := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(b, name)
		b.WriteByte(':')
		v := it.Get(name)
		if list, ok := stringList(v); ok {
			enc, _ := json.Marshal(list)
			b.Write(enc)
		} else {
			writeString(b, v)
		}
	}
	b.WriteByte('}')
}

// stringList reports whether v is a JSON array of strings, the form a
// multi-select additional field is kept in.
func stringList(v string) ([]string, bool) {
	if !strings.HasPrefix(v, "[") {
		return nil, false
	}
	var list []string
	if json.Unmarshal([]byte(v), &list) != nil {
		return nil, false
	}
	return list, true
}

// boundRelationJSON is one entry of an item's Relations (eWay's
// IApiBoundRelation): the item at the other end of the link.
type boundRelationJSON struct {
	RelationType      string
	ForeignItemGUID   string
	ForeignFolderName crmsync.Folder
	RelationDataGUID  string
}

func boundRelation(self string, r crmsync.Relation) boundRelationJSON {
	out := boundRelationJSON{RelationType: r.Type, RelationDataGUID: r.GUID,
		ForeignItemGUID: r.ParentGUID, ForeignFolderName: r.ParentFolder}
	if r.ParentGUID == self {
		out.ForeignItemGUID, out.ForeignFolderName = r.ChildGUID, r.ChildFolder
	}
	return out
}

// writeItems writes items as a JSON array. The API's hot path (Get*)
// writes item lists this way rather than through json.Marshal, which
// would re-validate the output of every MarshalJSON.
func writeItems(b *bytes.Buffer, items []itemJSON) {
	b.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		it.writeTo(b)
	}
	b.WriteByte(']')
}

// writeString writes s as a JSON string; plain ASCII (the common case)
// is copied as is, anything else goes through encoding/json.
func writeString(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s) // a string always marshals
			b.Write(enc)
			return
		}
	}
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
}

func renderItems(items []*crmsync.Item, fks, pictures bool) []itemJSON {
	out := make([]itemJSON, len(items))
	for i, it := range items {
		out[i] = itemJSON{item: it, fks: fks, pictures: pictures}
	}
	return out
}

// identifierJSON is one entry of Get*Identifiers.
type identifierJSON struct {
	ItemGUID    string
	ItemVersion int
}

func renderIdentifiers(ids []crmsync.Identifier) []identifierJSON {
	out := make([]identifierJSON, len(ids))
	for i, id := range ids {
		out[i] = identifierJSON{ItemGUID: id.GUID, ItemVersion: id.Version}
	}
	return out
}

// changeJSON is one entry of GetItemChangeIdentifiers. ItemVersion and
// ChangeId are crmsync's additions to eWay's {ItemGUID, FolderName,
// IsRemoved}.
type changeJSON struct {
	ItemGUID    string
	FolderName  crmsync.Folder
	IsRemoved   bool
	ItemVersion int
	ChangeId    int64
}

// changedItemsJSON is one folder of GetChangedItems. RemovedItemGuids
// lists items deleted or no longer visible to the caller.
type changedItemsJSON struct {
	FolderName       crmsync.Folder
	ChangedItems     []itemJSON
	RemovedItemGuids []string
}

// permissionJSON is one module of GetMyModulePermissions, with eWay's
// names (IApiModulePermission).
type permissionJSON struct {
	FolderName crmsync.Folder
	View       string
	Edit       string
	Delete     string
	CanCreate  bool
	CanExport  bool
}

// saveResultJSON is one item's outcome in SaveContacts and friends.
type saveResultJSON struct {
	Guid        string
	ItemVersion int
	ReturnCode  string
	Description string
}
