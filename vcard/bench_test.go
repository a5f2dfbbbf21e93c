package vcard_test

import (
	"testing"

	"github.com/crmsync/crmsync/vcard"
)

// BenchmarkDecode reads the largest real card (iOS, 46 KB, mostly photo).
func BenchmarkDecode(b *testing.B) {
	data := goldenCards(b)["ios-3.0-item-ablabel-photo.vcf"]
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := vcard.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFieldsAndEncode maps it to CRM fields and writes it back onto
// itself, as the CardDAV server does for every GET.
func BenchmarkFieldsAndEncode(b *testing.B) {
	c, err := vcard.Decode(goldenCards(b)["ios-3.0-item-ablabel-photo.vcf"])
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		f := c.Fields()
		f["Title"] = "changed"
		if _, err := vcard.Encode(f, c.Photo(), "", c, "3.0"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeSmall writes a typical CRM contact without a photo.
func BenchmarkEncodeSmall(b *testing.B) {
	f := map[string]string{"FirstName": "Jan", "LastName": "Novák", "Company": "ACME", "Email1Address": "jan@acme.cz",
		"TelephoneNumber1": "+420 222 333 444", "BusinessAddressCity": "Praha", "Note": "line 1\nline 2"}
	for b.Loop() {
		if _, err := vcard.Encode(f, nil, "6f4c2c9a-0b1e-4d9a-9e0f-1234567890ab", nil, "3.0"); err != nil {
			b.Fatal(err)
		}
	}
}
