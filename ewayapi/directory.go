package ewayapi

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync"
)

// The records of this file (users, enum types and values, user and global
// settings) are not items of a folder: eWay lists them with the same
// Get/GetByItemGuids/GetIdentifiers/Search methods, which this file builds
// over one record listing per kind.

// record is one such record rendered as eWay renders it, with the GUID and
// version its listings need.
type record struct {
	guid    string
	version int
	json    map[string]any
}

// kind is one kind of record and the methods eWay names after it.
type kind struct {
	plural string // Users, EnumValues, UserSettings, GlobalSettings
	list   func(ctx context.Context, s *Server, r *request) ([]record, error)
	extra  []string // parameters list uses beyond sessionId
}

func addDirectoryMethods(add func(*method)) {
	kinds := []kind{
		{plural: "Users", list: listUsers},
		{plural: "EnumTypes", list: listEnumTypes, extra: []string{"omitEnumValues"}},
		{plural: "EnumValues", list: listEnumValues},
		{plural: "UserSettings", list: listUserSettings},
		{plural: "GlobalSettings", list: listGlobalSettings},
		{plural: "AdditionalFields", list: listAdditionalFields},
	}
	for _, k := range kinds {
		k := k
		if k.plural != "EnumValues" { // GetEnumValues has its own, filtered by enumTypeName (methods.go)
			add(&method{name: "Get" + k.plural, params: k.extra, run: func(ctx context.Context, s *Server, r *request) (*reply, error) {
				recs, err := k.list(ctx, s, r)
				return recordsReply(recs, err, nil)
			}})
		}
		add(&method{name: "Get" + k.plural + "ByItemGuids", params: append([]string{"itemGuids"}, k.extra...), required: []string{"itemGuids"},
			run: func(ctx context.Context, s *Server, r *request) (*reply, error) {
				recs, err := k.list(ctx, s, r)
				return recordsReply(recs, err, func(rec record) bool { return slices.Contains(r.ItemGUIDs, rec.guid) })
			}})
		add(&method{name: "Get" + k.plural + "Identifiers", run: func(ctx context.Context, s *Server, r *request) (*reply, error) {
			recs, err := k.list(ctx, s, r)
			if err != nil {
				return nil, err
			}
			ids := make([]identifierJSON, len(recs))
			for i, rec := range recs {
				ids[i] = identifierJSON{ItemGUID: rec.guid, ItemVersion: rec.version}
			}
			return &reply{Data: ids}, nil
		}})
		add(&method{name: "Search" + k.plural, params: append([]string{"transmitObject", "binaryLogicalOperator"}, k.extra...),
			body: bodyCustom, decodeBody: decodeFilter,
			run: func(ctx context.Context, s *Server, r *request) (*reply, error) {
				recs, err := k.list(ctx, s, r)
				return recordsReply(recs, err, func(rec record) bool { return matchRecord(rec.json, r.filter, r.Operator == "Or") })
			}})
	}
	add(&method{name: "SaveEnumValue", params: []string{"transmitObject"}, required: []string{"transmitObject"},
		body: bodyCustom, decodeBody: decodeEnumValue, run: saveEnumValue})
	add(&method{name: "DeleteUserSetting", params: []string{"itemGuid"}, required: []string{"itemGuid"}, run: deleteUserSetting})
	add(&method{name: "SaveGlobalSetting", params: []string{"transmitObject"}, required: []string{"transmitObject"},
		body: bodyCustom, decodeBody: decodeGlobalSetting, run: saveGlobalSetting})
	add(&method{name: "SaveAdditionalField", params: []string{"transmitObject"}, required: []string{"transmitObject"},
		body: bodyCustom, decodeBody: decodeAdditionalField, run: saveAdditionalField})
	add(&method{name: "GetBaseItemChangeId", run: baseChangeID})
}

func recordsReply(recs []record, err error, keep func(record) bool) (*reply, error) {
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(recs))
	for _, rec := range recs {
		if keep == nil || keep(rec) {
			out = append(out, rec.json)
		}
	}
	return &reply{Data: out}, nil
}

// decodeFilter reads a Search example over records: every non-null member
// filters (ItemGUID as a GUID, the others compared as text); objects and
// arrays are ignored.
func decodeFilter(r *request) error {
	r.filter = map[string]string{}
	for name, v := range r.object {
		switch jsonType(v) {
		case "string":
			s, _ := decodeString(name, v)
			if name == crmsync.FieldItemGUID {
				g, err := decodeGUID("transmitObject.ItemGUID", v)
				if err != nil {
					return err
				}
				s = g
			}
			r.filter[name] = s
		case "number", "boolean":
			r.filter[name] = string(v)
		}
	}
	return nil
}

// matchRecord compares a record's rendered fields with a filter: text
// case-insensitively, numbers and booleans by their JSON text.
func matchRecord(rec map[string]any, filter map[string]string, matchAny bool) bool {
	if len(filter) == 0 {
		return true
	}
	for name, want := range filter {
		got := ""
		switch v := rec[name].(type) {
		case string:
			got = v
		case bool:
			got = strconv.FormatBool(v)
		case int:
			got = strconv.Itoa(v)
		}
		ok := strings.EqualFold(strings.TrimSpace(got), strings.TrimSpace(want))
		if ok && matchAny {
			return true
		}
		if !ok && !matchAny {
			return false
		}
	}
	return !matchAny
}

// derivedGUID names a record that crmsync keys by name (an enum type, a
// setting) with a stable GUID: the MD5 of its key in GUID form.
func derivedGUID(key string) string {
	h := md5.Sum([]byte(key))
	b := h[:]
	b[6] = b[6]&0x0f | 0x30 // version 3: name-based (MD5)
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// listUsers renders every user as eWay's IApiUser, without any password
// field: the domain User carries no hash.
func listUsers(ctx context.Context, s *Server, r *request) ([]record, error) {
	users, err := s.crm.Directory(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]record, len(users))
	for i, u := range users {
		first, last := splitName(u.FullName)
		fileAs := u.FullName
		if fileAs == "" {
			fileAs = u.Name
		}
		out[i] = record{guid: u.GUID, version: 1, json: map[string]any{
			"ItemGUID": u.GUID, "ItemVersion": 1, "FileAs": fileAs, "Username": u.Name,
			"FirstName": nullable(first), "LastName": nullable(last), "IsActive": !u.Disabled, "IsSystem": false,
			"IsApiUser": false, "IsAdmin": u.IsAdmin, "Email1Address": nil, "Email2Address": nil,
			"OwnerGUID": u.GUID, "IsPrivate": false,
		}}
	}
	return out, nil
}

// splitName splits a full name at its last space into first and last name.
func splitName(full string) (first, last string) {
	full = strings.TrimSpace(full)
	if i := strings.LastIndexByte(full, ' '); i > 0 {
		return full[:i], full[i+1:]
	}
	return "", full
}

// enumTypeGUID is the GUID of an enum type (eWay's EnumType).
func enumTypeGUID(t string) string { return derivedGUID("enum/" + t) }

func enumValueJSONOf(v crmsync.EnumValue) map[string]any {
	return map[string]any{
		"ItemGUID": v.GUID, "ItemVersion": 1, "FileAs": v.En, "EnumType": enumTypeGUID(v.EnumType),
		"EnumTypeName": v.EnumType, "En": nullable(v.En), "Cs": nullable(v.Cs), "IsSystem": v.IsSystem,
		"IsVisible": true, "IsDefault": false, "Rank": v.Rank,
	}
}

func listEnumValues(ctx context.Context, s *Server, r *request) ([]record, error) {
	values, err := s.crm.EnumValues(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]record, len(values))
	for i, v := range values {
		out[i] = record{guid: v.GUID, version: 1, json: enumValueJSONOf(v)}
	}
	return out, nil
}

// listEnumTypes renders the enum types that have values, each with its
// values (EnumValuesInEnumType) unless omitEnumValues is true.
func listEnumTypes(ctx context.Context, s *Server, r *request) ([]record, error) {
	values, err := s.crm.EnumValues(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []record
	byType := map[string]int{}
	for _, v := range values {
		i, ok := byType[v.EnumType]
		if !ok {
			g := enumTypeGUID(v.EnumType)
			i = len(out)
			byType[v.EnumType] = i
			var values any // null when omitted
			if !r.OmitEnumValues {
				values = []map[string]any{}
			}
			out = append(out, record{guid: g, version: 1, json: map[string]any{
				"ItemGUID": g, "ItemVersion": 1, "FileAs": v.EnumType, "EnumName": v.EnumType, "NameEn": v.EnumType,
				"IsSystem": true, "IsAdditionalField": false, "AllowEditVisibility": false,
				"EnumValuesInEnumType": values,
			}})
		}
		if !r.OmitEnumValues {
			out[i].json["EnumValuesInEnumType"] = append(out[i].json["EnumValuesInEnumType"].([]map[string]any), enumValueJSONOf(v))
		}
	}
	return out, nil
}

func userSettingGUID(ctx context.Context, st crmsync.Setting) string {
	owner := ""
	if u := crmsync.UserFrom(ctx); u != nil {
		owner = u.GUID
	}
	return derivedGUID("setting/" + owner + "/" + st.Path + "/" + st.Name)
}

func listUserSettings(ctx context.Context, s *Server, r *request) ([]record, error) {
	settings, err := s.crm.UserSettings(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]record, len(settings))
	for i, st := range settings {
		g := userSettingGUID(ctx, st)
		out[i] = record{guid: g, version: 1, json: map[string]any{
			"ItemGUID": g, "ItemVersion": 1, "FileAs": st.Name, "Path": st.Path, "Name": st.Name, "Value": st.Value}}
	}
	return out, nil
}

// globalSettingGUID is the GUID of a global setting.
func globalSettingGUID(name string) string { return derivedGUID("global/" + name) }

func listGlobalSettings(ctx context.Context, s *Server, r *request) ([]record, error) {
	settings, err := s.crm.GlobalSettings(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(settings))
	for n := range settings {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]record, len(names))
	for i, n := range names {
		g := globalSettingGUID(n)
		out[i] = record{guid: g, version: 1, json: map[string]any{
			"ItemGUID": g, "ItemVersion": 1, "FileAs": n, "Name": n, "Value": settings[n]}}
	}
	return out, nil
}

// listAdditionalFields renders the additional field definitions as eWay's
// IApiAdditionalField (ColumnName is the af_N name items carry).
func listAdditionalFields(ctx context.Context, s *Server, r *request) ([]record, error) {
	fields, err := s.crm.AdditionalFields(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]record, len(fields))
	for i, f := range fields {
		g := additionalFieldGUID(f)
		out[i] = record{guid: g, version: 1, json: map[string]any{
			"ItemGUID": g, "ItemVersion": 1, "FileAs": f.Name, "ObjectTypeFolderName": f.Folder, "FieldId": f.FieldID,
			"ColumnName": fmt.Sprintf("af_%d", f.FieldID), "Name": f.Name, "Comment": nullable(f.Comment), "Type": f.Type,
			"Rank": f.Rank, "IsInGeneralSection": false, "AssociatedEnumTypeGuid": nil}}
	}
	return out, nil
}

// additionalFieldGUID is the GUID of an additional field's definition.
func additionalFieldGUID(f crmsync.AdditionalField) string {
	return derivedGUID(fmt.Sprintf("af/%s/%d", f.Folder, f.FieldID))
}

// decodeAdditionalField reads SaveAdditionalField's transmitObject
// {ObjectTypeFolderName, FieldId, Name, Type, Rank, Comment}.
func decodeAdditionalField(r *request) error {
	f := &r.additionalField
	for name, raw := range r.object {
		if isNull(raw) {
			continue
		}
		var err error
		var n int64
		var str string
		switch name {
		case "ObjectTypeFolderName":
			str, err = decodeString("transmitObject.ObjectTypeFolderName", raw)
			f.Folder = crmsync.Folder(str)
		case "FieldId":
			n, err = decodeInt("transmitObject.FieldId", raw, 999999)
			f.FieldID = int(n)
		case "Name":
			f.Name, err = decodeString("transmitObject.Name", raw)
		case "Comment":
			f.Comment, err = decodeString("transmitObject.Comment", raw)
		case "Type":
			n, err = decodeInt("transmitObject.Type", raw, 1<<31-1)
			f.Type = int(n)
		case "Rank":
			n, err = decodeInt("transmitObject.Rank", raw, 1<<31-1)
			f.Rank = int(n)
		}
		if err != nil {
			return err
		}
	}
	if !f.Folder.Valid() {
		return paramErrorf("transmitObject.ObjectTypeFolderName must be Contacts, Companies or Journal, got %q", truncate(string(f.Folder)))
	}
	if f.FieldID == 0 {
		return paramErrorf("transmitObject.FieldId is required (the N of af_N, from 1)")
	}
	return nil
}

func saveAdditionalField(ctx context.Context, s *Server, r *request) (*reply, error) {
	if err := s.crm.SaveAdditionalField(ctx, r.additionalField); err != nil {
		return nil, err
	}
	return &reply{Guid: additionalFieldGUID(r.additionalField)}, nil
}

// decodeEnumValue reads SaveEnumValue's transmitObject (eWay's
// EnumValueTracked): ItemGUID to change a value, EnumTypeName (or
// EnumType, the type's GUID) to add one, En, Cs, Rank.
func decodeEnumValue(r *request) error {
	v := &r.enumValue
	for name, raw := range r.object {
		if isNull(raw) {
			continue
		}
		var err error
		switch name {
		case "ItemGUID":
			v.GUID, err = decodeGUID("transmitObject.ItemGUID", raw)
		case "EnumTypeName":
			v.EnumType, err = decodeString("transmitObject.EnumTypeName", raw)
		case "EnumType":
			var g string
			if g, err = decodeGUID("transmitObject.EnumType", raw); err == nil {
				v.EnumType = enumTypeByGUID(g)
				if v.EnumType == "" {
					err = paramErrorf("transmitObject.EnumType: no enum type %s", g)
				}
			}
		case "En":
			v.En, err = decodeString("transmitObject.En", raw)
		case "Cs":
			v.Cs, err = decodeString("transmitObject.Cs", raw)
		case "Rank":
			var n int64
			n, err = decodeInt("transmitObject.Rank", raw, 1<<31-1)
			v.Rank = int(n)
		}
		if err != nil {
			return err
		}
	}
	if v.GUID == "" && v.EnumType == "" {
		return paramErrorf("transmitObject needs ItemGUID (to change a value) or EnumTypeName (to add one)")
	}
	return nil
}

// enumTypeByGUID finds an enum type among the known ones by its derived GUID.
func enumTypeByGUID(g string) string {
	for _, t := range crmsync.EnumTypes {
		if enumTypeGUID(t) == g {
			return t
		}
	}
	return ""
}

func saveEnumValue(ctx context.Context, s *Server, r *request) (*reply, error) {
	v, err := s.crm.SaveEnumValue(ctx, r.enumValue)
	if err != nil {
		return nil, err
	}
	return &reply{Guid: v.GUID, ItemVersion: 1}, nil
}

func deleteUserSetting(ctx context.Context, s *Server, r *request) (*reply, error) {
	settings, err := s.crm.UserSettings(ctx)
	if err != nil {
		return nil, err
	}
	for _, st := range settings {
		if userSettingGUID(ctx, st) == r.ItemGUID {
			return &reply{}, s.crm.DeleteUserSetting(ctx, st.Path, st.Name)
		}
	}
	return nil, crmsync.Errorf(crmsync.ENOTFOUND, "no user setting %s", r.ItemGUID)
}

// decodeGlobalSetting reads SaveGlobalSetting's transmitObject {Name, Value}.
func decodeGlobalSetting(r *request) error {
	for name, raw := range r.object {
		if isNull(raw) {
			continue
		}
		var err error
		switch name {
		case "Name":
			r.global.Name, err = decodeString("transmitObject.Name", raw)
		case "Value":
			switch jsonType(raw) {
			case "number", "boolean":
				r.global.Value = string(raw)
			default:
				r.global.Value, err = decodeString("transmitObject.Value", raw)
			}
		}
		if err != nil {
			return err
		}
	}
	if r.global.Name == "" {
		return paramErrorf("transmitObject.Name is required")
	}
	return nil
}

func saveGlobalSetting(ctx context.Context, s *Server, r *request) (*reply, error) {
	if err := s.crm.SetGlobalSetting(ctx, r.global.Name, r.global.Value); err != nil {
		return nil, err
	}
	return &reply{Guid: globalSettingGUID(r.global.Name)}, nil
}

func baseChangeID(ctx context.Context, s *Server, r *request) (*reply, error) {
	id, err := s.crm.BaseChangeID(ctx)
	if err != nil {
		return nil, err
	}
	return &reply{Datum: id}, nil
}
