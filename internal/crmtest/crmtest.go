// Package crmtest helps tests put contacts into the CRM.
package crmtest

import (
	"context"
	"encoding/base64"
	"sync"
	"testing"

	crm "github.com/crmsync/crmsync"
)

// resolved caches enum GUIDs by CRM, type and name: seeding thousands of
// contacts would otherwise spend most of its time in EnsureEnumValue.
var resolved sync.Map

type enumKey struct {
	crm            crm.CRM
	enumType, name string
}

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
			key := enumKey{c, def.EnumType, v}
			guid, ok := resolved.Load(key)
			if !ok {
				ev, err := c.EnsureEnumValue(crm.System(context.Background()), def.EnumType, v)
				if err != nil {
					tb.Fatal(err)
				}
				guid, _ = resolved.LoadOrStore(key, ev.GUID)
			}
			v = guid.(string)
		}
		set[k] = v
	}
	return crm.Patch{Set: set}
}

// AllRights is every right on every folder: a group for tests whose users
// may do anything.
func AllRights() []crm.Rights {
	var rights []crm.Rights
	for _, f := range crm.Folders {
		rights = append(rights, crm.FullRights(f))
	}
	return rights
}

// NoExport is every right on every folder but Export: what a user needs to
// see and change the whole book one item at a time, but not to bulk-read it.
func NoExport() []crm.Rights {
	rights := AllRights()
	for i := range rights {
		rights[i].CanExport = false
	}
	return rights
}
