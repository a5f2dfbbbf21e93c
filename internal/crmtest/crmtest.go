// Package crmtest helps tests put contacts into the CRM.
package crmtest

import (
	"context"
	"encoding/base64"
	"testing"

	crm "github.com/crmsync/crmsync"
)

// Patch turns contact fields as a sync record holds them (enums by
// English name, the picture by its hash) into a patch Save takes: enum
// values by GUID, created when missing, and the picture as base64 of photo.
func Patch(tb testing.TB, c crm.CRM, fields map[string]string, photo []byte) crm.Patch {
	tb.Helper()
	set := map[string]string{}
	for k, v := range fields {
		def, _ := crm.LookupField(crm.Contacts, k)
		switch {
		case k == crm.FieldPicture:
			v = base64.StdEncoding.EncodeToString(photo)
		case def.Kind == crm.Enum:
			ev, err := c.EnsureEnumValue(crm.System(context.Background()), def.EnumType, v)
			if err != nil {
				tb.Fatal(err)
			}
			v = ev.GUID
		}
		set[k] = v
	}
	return crm.Patch{Set: set}
}
