package vcard

import (
	"bytes"
	"fmt"

	govcard "github.com/emersion/go-vcard"
)

// ToGoVCard converts c to go-vcard's type, which go-webdav's carddav
// package speaks. The conversion goes through text written by this
// package and read by go-vcard, so the result is what go-vcard would make
// of the card; go-vcard keeps "\;" inside structured values escaped and
// will double the backslash when it writes them again — use Encode for
// the wire, not go-vcard's encoder.
func (c *Card) ToGoVCard() (govcard.Card, error) {
	b, err := c.Encode("")
	if err != nil {
		return nil, err
	}
	gc, err := govcard.NewDecoder(bytes.NewReader(b)).Decode()
	if err != nil {
		return nil, fmt.Errorf("vcard: converting to go-vcard: %w", err)
	}
	return gc, nil
}

// FromGoVCard converts a go-vcard card (as go-webdav's client returns it)
// to a Card by writing it with go-vcard's encoder and decoding the text.
func FromGoVCard(gc govcard.Card) (*Card, error) {
	var buf bytes.Buffer
	if err := govcard.NewEncoder(&buf).Encode(gc); err != nil {
		return nil, fmt.Errorf("vcard: converting from go-vcard: %w", err)
	}
	return Decode(buf.Bytes())
}
