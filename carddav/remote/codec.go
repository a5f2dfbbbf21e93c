package remote

import (
	"fmt"
	"strings"
	"time"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/vcard"
)

// guidProperty carries the CRM ItemGUID on cards crmsync creates (SPEC S6),
// so that a lost create is found again and a card is paired by identity.
const guidProperty = "X-CRMSYNC-GUID"

// newCardVersion is the vCard version of cards crmsync creates: 3.0 is the
// one every CardDAV server and phone reads. Updates keep a card's version.
const newCardVersion = "3.0"

// decoded is what the replica needs from a card.
type decoded struct {
	card    *vcard.Card
	uid     string
	crmGUID string
	fields  map[string]string
	photo   []byte
	rev     time.Time
}

// crmGUIDOf returns the CRM GUID a card carries: the X-CRMSYNC-GUID
// property, else its UID when that is a GUID (crmsync's own creates, and
// crmsync's CardDAV server, use the CRM GUID as UID — so the identity
// survives a client that drops X- properties).
func crmGUIDOf(x, uid string) string {
	if x = strings.TrimSpace(x); crm.IsGUID(x) {
		return crm.NormalizeGUID(x)
	}
	uid = strings.TrimPrefix(strings.TrimSpace(uid), "urn:uuid:")
	if crm.IsGUID(uid) {
		return crm.NormalizeGUID(uid)
	}
	return ""
}

// decodeCard reads a card with the vcard package, which owns the mapping
// of properties to CRM fields (SPEC M9) and go-vcard's workarounds.
func decodeCard(data []byte) (decoded, error) {
	card, err := vcard.Decode(data)
	if err != nil {
		return decoded{}, err
	}
	return decoded{
		card:    card,
		uid:     card.UID(),
		crmGUID: crmGUIDOf(card.Value(guidProperty), card.UID()),
		fields:  card.Fields(),
		photo:   card.Photo(),
		rev:     parseREV(card.Value("REV")),
	}, nil
}

// encodeCard writes fields and photo onto base (nil for a new card),
// keeping every property of base it does not map, and stamps the CRM GUID.
func encodeCard(fields map[string]string, photo []byte, uid, crmGUID string, base *vcard.Card) ([]byte, error) {
	card, err := vcard.Update(base, fields, photo, uid)
	if err != nil {
		return nil, err
	}
	if crmGUID != "" && card.Value(guidProperty) != crmGUID {
		card.SetValue(guidProperty, crmGUID)
	}
	version := newCardVersion
	if base != nil {
		version = ""
	}
	data, err := card.Encode(version)
	if err != nil {
		return nil, fmt.Errorf("encoding vCard: %w", err)
	}
	return data, nil
}

// parseREV reads a vCard REV timestamp in its usual forms; zero if none.
func parseREV(s string) time.Time {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"20060102T150405Z", "20060102T150405Z0700", time.RFC3339, "2006-01-02T15:04:05Z", "20060102T150405", "20060102"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// Normalize returns value as it comes back after a trip through a card:
// line breaks as LF, no XML-illegal control characters, trimmed. A vCard
// has no length limits, so nothing is cut.
func (c *Client) Normalize(field, value string) string { return vcard.Normalize(field, value) }
