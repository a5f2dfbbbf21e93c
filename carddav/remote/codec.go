package remote

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	crm "github.com/crmsync/crmsync"
	govcard "github.com/emersion/go-vcard"
)

// guidProperty carries the CRM ItemGUID on cards crmsync creates (SPEC S6),
// so that a lost create is found again and a card is paired by identity.
const guidProperty = "X-CRMSYNC-GUID"

// decoded is what the replica needs from a card.
type decoded struct {
	uid     string
	crmGUID string
	fields  map[string]string
	photo   []byte
	rev     time.Time
}

// crmGUIDOf returns the CRM GUID a card carries: the X-CRMSYNC-GUID
// property, else its UID when that is a GUID (crmsync's own CardDAV server
// and crmsync's creates use the CRM GUID as UID).
func crmGUIDOf(x, uid string) string {
	if x = strings.TrimSpace(x); x != "" {
		return crm.NormalizeGUID(x)
	}
	if crm.IsGUID(strings.TrimSpace(uid)) {
		return crm.NormalizeGUID(strings.TrimSpace(uid))
	}
	return ""
}

// INTERIM codec: a small subset of the M9 mapping on go-vcard, until the
// vcard package's field mapping lands; it is replaced wholesale then.

func decodeCard(data []byte) (decoded, error) {
	card, err := govcard.NewDecoder(bytes.NewReader(data)).Decode()
	if err != nil {
		return decoded{}, fmt.Errorf("decoding vCard: %w", err)
	}
	d := decoded{fields: map[string]string{}}
	d.uid = card.Value(govcard.FieldUID)
	d.crmGUID = crmGUIDOf(card.Value(guidProperty), d.uid)
	if n := card.Name(); n != nil {
		set(d.fields, crm.FieldFirstName, n.GivenName)
		set(d.fields, crm.FieldLastName, n.FamilyName)
		set(d.fields, crm.FieldMiddleName, n.AdditionalName)
	}
	for i, e := range card.Values(govcard.FieldEmail) {
		if i < 3 {
			set(d.fields, []string{crm.FieldEmail1, crm.FieldEmail2, crm.FieldEmail3}[i], e)
		}
	}
	set(d.fields, crm.FieldNote, card.Value(govcard.FieldNote))
	set(d.fields, crm.FieldJobTitle, card.Value(govcard.FieldTitle))
	if p := card.Get(govcard.FieldPhoto); p != nil {
		if b, err := base64.StdEncoding.DecodeString(p.Value); err == nil && len(b) > 0 {
			d.photo = b
			h := sha256.Sum256(b)
			d.fields[crm.FieldPicture] = hex.EncodeToString(h[:])
		}
	}
	if rev, err := time.Parse("20060102T150405Z", card.Value(govcard.FieldRevision)); err == nil {
		d.rev = rev
	}
	return d, nil
}

func set(m map[string]string, k, v string) {
	if v != "" {
		m[k] = v
	}
}

func encodeCard(fields map[string]string, photo []byte, uid, crmGUID string, base []byte) ([]byte, error) {
	card := govcard.Card{}
	if base != nil {
		c, err := govcard.NewDecoder(bytes.NewReader(base)).Decode()
		if err != nil {
			return nil, fmt.Errorf("decoding vCard: %w", err)
		}
		card = c
	}
	card.SetValue(govcard.FieldVersion, "3.0")
	card.SetValue(govcard.FieldUID, uid)
	n := &govcard.Name{GivenName: fields[crm.FieldFirstName], FamilyName: fields[crm.FieldLastName], AdditionalName: fields[crm.FieldMiddleName]}
	card.SetName(n)
	fn := strings.TrimSpace(strings.Join([]string{n.GivenName, n.AdditionalName, n.FamilyName}, " "))
	card.SetValue(govcard.FieldFormattedName, strings.Join(strings.Fields(fn), " "))
	delete(card, govcard.FieldEmail)
	for _, k := range []string{crm.FieldEmail1, crm.FieldEmail2, crm.FieldEmail3} {
		if v := fields[k]; v != "" {
			card.Add(govcard.FieldEmail, &govcard.Field{Value: v})
		}
	}
	for k, f := range map[string]string{crm.FieldNote: govcard.FieldNote, crm.FieldJobTitle: govcard.FieldTitle} {
		delete(card, f)
		if v := fields[k]; v != "" {
			card.SetValue(f, v)
		}
	}
	delete(card, govcard.FieldPhoto)
	if len(photo) > 0 {
		card.Set(govcard.FieldPhoto, &govcard.Field{Value: base64.StdEncoding.EncodeToString(photo), Params: govcard.Params{"ENCODING": {"b"}}})
	}
	if crmGUID != "" {
		card.SetValue(guidProperty, crmGUID)
	}
	var buf bytes.Buffer
	if err := govcard.NewEncoder(&buf).Encode(card); err != nil {
		return nil, fmt.Errorf("encoding vCard: %w", err)
	}
	return buf.Bytes(), nil
}

// Normalize returns value as a card stores it. INTERIM: identity.
func (c *Client) Normalize(field, value string) string { return value }
