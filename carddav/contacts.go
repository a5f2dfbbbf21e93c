package carddav

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/vcard"
)

// mappedFields are the CRM fields a card carries: the synced fields plus
// the addresses' PO boxes.
var mappedFields = func() []string {
	f := append([]string(nil), engine.SyncFields...)
	for _, a := range []string{crm.AddressBusiness, crm.AddressHome, crm.AddressOther} {
		f = append(f, a+"POBox")
	}
	return f
}()

// enums resolves enum values both ways for one request.
type enums struct {
	crm    crm.CRM
	values []crm.EnumValue
	byGUID map[string]crm.EnumValue
}

func (h *Handler) loadEnums(ctx context.Context) (*enums, error) {
	vals, err := h.crm.EnumValues(ctx, "")
	if err != nil {
		return nil, err
	}
	e := &enums{crm: h.crm, values: vals, byGUID: map[string]crm.EnumValue{}}
	for _, v := range vals {
		e.byGUID[crm.NormalizeGUID(v.GUID)] = v
	}
	return e, nil
}

// name returns the English name of an enum value; a value that is not a
// known GUID is shown as it is.
func (e *enums) name(v string) string {
	if ev, ok := e.byGUID[crm.NormalizeGUID(v)]; ok {
		if ev.En != "" {
			return ev.En
		}
		return ev.Cs
	}
	return v
}

// denotes reports whether a card's text for enum field def names the
// item's value guid, as EnsureEnumValue would find it ("USA" and "Česká
// republika" name built-in values too).
func (e *enums) denotes(def crm.FieldDef, guid, text string) bool {
	v, ok := crm.FindEnumValue(e.values, def.EnumType, text)
	return guid != "" && ok && crm.NormalizeGUID(v.GUID) == crm.NormalizeGUID(guid)
}

// itemFields returns an item's mapped fields as plain text (enum names,
// ProfilePicture as a hash) and the photo bytes.
func itemFields(it *crm.Item, e *enums) (map[string]string, []byte) {
	f := map[string]string{}
	var photo []byte
	for _, k := range mappedFields {
		v := it.Get(k)
		if v == "" {
			continue
		}
		def, _ := crm.LookupField(crm.Contacts, k)
		switch def.Kind {
		case crm.Enum:
			v = e.name(v)
		case crm.Binary:
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil || len(b) == 0 {
				continue
			}
			photo, v = b, vcard.PhotoHash(b)
		}
		f[k] = vcard.Normalize(k, v)
	}
	return f, photo
}

// patchFor returns the CRM values to write for a card's fields: enum names
// become value GUIDs (created when missing), the photo base64. With cur,
// only the fields that differ from it are returned ("" clears).
func patchFor(ctx context.Context, c crm.CRM, card *vcard.Card, cur *crm.Item, e *enums) (map[string]string, error) {
	want := card.CRMFields()
	if n, ok := want[crm.FieldNote]; ok {
		// A journal block (SPEC S4) copied from a synced note must never
		// land in the CRM note.
		note, _ := engine.SplitNote(n)
		want[crm.FieldNote] = vcard.Normalize(crm.FieldNote, note)
	}
	var have map[string]string
	if cur != nil {
		have, _ = itemFields(cur, e)
	}
	set := map[string]string{}
	for _, k := range mappedFields {
		v := want[k]
		def, _ := crm.LookupField(crm.Contacts, k)
		if cur != nil && (have[k] == v || def.Kind == crm.Enum && e.denotes(def, cur.Get(k), v)) {
			continue
		}
		if cur == nil && v == "" {
			continue
		}
		switch {
		case v == "":
		case def.Kind == crm.Enum:
			ev, err := c.EnsureEnumValue(ctx, def.EnumType, v)
			if err != nil {
				return nil, fmt.Errorf("enum value %q of %s: %w", v, k, err)
			}
			v = ev.GUID
		case def.Kind == crm.Binary:
			v = base64.StdEncoding.EncodeToString(card.Photo())
		}
		set[k] = v
	}
	return set, nil
}

// etag names one representation: the item's GUID and version and the
// stored client card it is written onto.
func etag(guid string, version int, tag string) string {
	h := sha256.Sum256([]byte(guid + ":" + strconv.Itoa(version) + ":" + tag))
	return `"` + hex.EncodeToString(h[:10]) + `"`
}

// render writes the item as a vCard onto its stored client card, if any.
func render(it *crm.Item, stored []byte, e *enums, version string) ([]byte, error) {
	fields, photo := itemFields(it, e)
	var base *vcard.Card
	if stored != nil {
		if c, err := vcard.Decode(stored); err == nil {
			base = c
		}
	}
	uid := it.GUID
	if base != nil && base.UID() != "" {
		uid = "" // keep the client's UID
	}
	if base != nil {
		// A client's "USA" stays "USA" while it names the item's value.
		written := base.CRMFields()
		for k, v := range fields {
			def, _ := crm.LookupField(crm.Contacts, k)
			if def.Kind == crm.Enum && written[k] != v && e.denotes(def, it.Get(k), written[k]) {
				fields[k] = written[k]
			}
		}
	}
	return vcard.Encode(fields, photo, uid, base, version)
}

// strippedCard is the card to store for later GETs: the client's card
// without its inline photo (the CRM holds that).
func strippedCard(card *vcard.Card) ([]byte, error) {
	f := card.CRMFields()
	delete(f, crm.FieldPicture)
	c, err := vcard.Update(card, f, nil, "")
	if err != nil {
		return nil, err
	}
	return c.Encode("")
}

// guidNamespace is the UUID namespace of GUIDs derived from a client's
// resource name (RFC 4122 version 5).
var guidNamespace = [16]byte{0x6b, 0x1f, 0x3a, 0x52, 0x8c, 0x2e, 0x4d, 0x1a, 0x9e, 0x47, 0x0c, 0x5d, 0x61, 0x73, 0x2b, 0x90}

// derivedGUID is the CRM GUID of a contact a client creates under a
// resource name that is not a GUID: stable, so a repeated PUT finds the
// same contact (SPEC S6).
func derivedGUID(user, name string) string {
	h := sha1.New()
	h.Write(guidNamespace[:])
	h.Write([]byte(user + "/" + name))
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// guidOfName returns the GUID a resource name stands for when it is
// "<guid>.vcf" (any case), else "".
func guidOfName(name string) string {
	base := strings.TrimSuffix(name, ".vcf")
	if crm.IsGUID(base) {
		return crm.NormalizeGUID(base)
	}
	return ""
}
