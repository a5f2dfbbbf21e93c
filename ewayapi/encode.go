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
		default:
			writeString(b, v)
		}
	}
	b.WriteByte('}')
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

type settingJSON struct {
	Path  string
	Name  string
	Value string
}

type globalSettingJSON struct {
	Name  string
	Value string
}

type enumValueJSON struct {
	ItemGUID     string
	EnumType     string
	EnumTypeName string
	En           string
	Cs           string
	IsSystem     bool
	Rank         int
}

// saveResultJSON is one item's outcome in SaveContacts and friends.
type saveResultJSON struct {
	Guid        string
	ItemVersion int
	ReturnCode  string
	Description string
}
