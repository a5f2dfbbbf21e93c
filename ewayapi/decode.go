package ewayapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/crmsync/crmsync"
)

// paramKind is the JSON type a top-level method parameter must have.
type paramKind int

const (
	pString  paramKind = iota
	pBool              // JSON true/false
	pInt               // JSON integer number
	pGUID              // string in the 8-4-4-4-12 form
	pGUIDs             // array of GUID strings
	pFolder            // "Contacts", "Companies" or "Journal"
	pFolders           // array of folder names
	pObject            // a JSON object (transmitObject)
	pObjects           // array of JSON objects (transmitObjects)
)

// params is every parameter a method of this server uses, by its exact
// eWay name, with the JSON type it must have. A parameter a method does not
// use is ignored whatever its name and type, as eWay ignores it: clients
// send includeRelations, appVersion, clientMachineIdentifier and others to
// every method, sometimes with odd values.
var params = map[string]paramKind{
	"sessionId":              pString,
	"userName":               pString,
	"passwordHash":           pString,
	"itemGuid":               pGUID,
	"itemGuids":              pGUIDs,
	"transmitObject":         pObject,
	"transmitObjects":        pObjects,
	"dieOnItemConflict":      pBool,
	"includeRelations":       pBool,
	"includeProfilePictures": pBool,
	"includeForeignKeys":     pBool,
	"binaryLogicalOperator":  pString,
	"folderName":             pFolder,
	"folderNames":            pFolders,
	"baseChangeId":           pInt,
	"targetChangeId":         pInt,
	"enumTypeName":           pString,
	"relationDataGuid":       pGUID,
	"omitEnumValues":         pBool,
}

// args are the decoded parameters of one call. A parameter absent or sent
// as null leaves its zero value; has tells which ones were sent.
type args struct {
	has map[string]bool

	SessionID    string
	UserName     string
	PasswordHash string

	ItemGUID         string
	ItemGUIDs        []string
	RelationDataGUID string

	DieOnItemConflict      bool
	IncludeRelations       bool
	OmitEnumValues         bool
	IncludeForeignKeys     bool
	IncludeProfilePictures bool
	Operator               string // binaryLogicalOperator

	FolderName     crmsync.Folder
	FolderNames    []crmsync.Folder
	BaseChangeID   int64
	TargetChangeID int64

	EnumTypeName string

	object  map[string]json.RawMessage
	objects []map[string]json.RawMessage
}

// request is a call decoded and validated, ready to run: nothing in it
// needs further checks except rights and session, which need the CRM.
type request struct {
	method     *method
	bearer     string // the call's "Authorization: Bearer" token, if any
	bearerSent bool   // the header was sent, maybe empty
	args
	patches []crmsync.Patch   // Save*: the transmit object(s)
	example map[string]string // Search*: the example filter
	setting crmsync.Setting   // SaveUserSetting
	// Set by a method's decodeBody (bodyCustom):
	relation        relationJSON                 // SaveRelation
	enumValue       crmsync.EnumValue            // SaveEnumValue
	additionalField crmsync.AdditionalField      // SaveAdditionalField
	global          struct{ Name, Value string } // SaveGlobalSetting
	filter          map[string]string            // Search* of users, enum values and settings
}

// decodeError is a request the server refuses before running it: the
// message names what was wrong and goes to the caller as Description.
type decodeError struct {
	code string // an eWay return code
	msg  string
}

func (e *decodeError) Error() string { return e.msg }

func paramErrorf(format string, a ...any) *decodeError {
	return &decodeError{code: rcParameterError, msg: fmt.Sprintf(format, a...)}
}

// decodeRequest decodes the JSON body of a call to method name. It checks
// everything that does not need the CRM: the method exists, the body is
// one valid UTF-8 JSON object, every parameter is known to the method and
// has the right type, GUIDs are GUIDs and transmit objects fit the
// folder's schema. It never panics on any input (see FuzzDecodeRequest).
func decodeRequest(name string, body []byte) (*request, error) {
	m := lookupMethod(name)
	if m == nil {
		return nil, unknownMethod(name)
	}
	if !utf8.Valid(body) {
		return nil, paramErrorf("request body is not valid UTF-8")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		trimmed = []byte("{}") // curl -X POST without a body: a call without parameters
	}
	if trimmed[0] != '{' {
		return nil, paramErrorf("request body must be a JSON object of the method's parameters")
	}
	raw, err := topLevel(trimmed)
	if err != nil {
		return nil, err
	}

	req := &request{method: m, args: args{has: map[string]bool{}}}
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	slices.Sort(names) // report the first problem deterministically
	for _, k := range names {
		if !slices.Contains(m.params, k) {
			continue // not used by this method: ignored, as eWay does
		}
		v := raw[k]
		if isNull(v) {
			continue
		}
		if err := req.args.set(k, v); err != nil {
			return nil, err
		}
		req.has[k] = true
	}
	for _, k := range m.required {
		if !req.has[k] {
			return nil, paramErrorf("missing parameter %q", k)
		}
	}
	if err := req.decodeObjects(); err != nil {
		return nil, err
	}
	return req, nil
}

// topLevel splits the top-level object into its members in one pass,
// refusing a parameter named twice (encoding/json would silently keep the
// last one) and anything after the object.
func topLevel(body []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // {
		return nil, paramErrorf("malformed JSON: %v", err)
	}
	raw := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, paramErrorf("malformed JSON: %v", err)
		}
		k, _ := t.(string)
		if _, dup := raw[k]; dup {
			return nil, paramErrorf("parameter %q sent twice", truncate(k))
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, paramErrorf("malformed JSON: %v", err)
		}
		raw[k] = v
	}
	if _, err := dec.Token(); err != nil { // }
		return nil, paramErrorf("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, paramErrorf("malformed JSON: data after the top-level object")
	}
	return raw, nil
}

func (a *args) set(k string, v json.RawMessage) error {
	switch params[k] {
	case pString:
		s, err := decodeString(k, v)
		if err != nil {
			return err
		}
		switch k {
		case "sessionId":
			a.SessionID = s
		case "userName":
			a.UserName = s
		case "passwordHash":
			a.PasswordHash = s
		case "binaryLogicalOperator":
			if s != "And" && s != "Or" {
				return paramErrorf("binaryLogicalOperator must be \"And\" or \"Or\", got %q", truncate(s))
			}
			a.Operator = s
		case "enumTypeName":
			a.EnumTypeName = s
		}
	case pBool:
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return paramErrorf("parameter %q must be true or false, got %s", k, jsonType(v))
		}
		switch k {
		case "dieOnItemConflict":
			a.DieOnItemConflict = b
		case "includeForeignKeys":
			a.IncludeForeignKeys = b
		case "includeProfilePictures":
			a.IncludeProfilePictures = b
		case "includeRelations":
			a.IncludeRelations = b
		case "omitEnumValues":
			a.OmitEnumValues = b
		}
	case pInt:
		n, err := decodeInt(k, v, math.MaxInt64)
		if err != nil {
			return err
		}
		switch k {
		case "baseChangeId":
			a.BaseChangeID = n
		case "targetChangeId":
			a.TargetChangeID = n
		}
	case pGUID:
		g, err := decodeGUID(k, v)
		if err != nil {
			return err
		}
		switch k {
		case "itemGuid":
			a.ItemGUID = g
		case "relationDataGuid":
			a.RelationDataGUID = g
		}
	case pGUIDs:
		list, err := decodeStrings(k, v)
		if err != nil {
			return err
		}
		for i, g := range list {
			if !crmsync.IsGUID(g) {
				return paramErrorf("%s[%d] is not a GUID: %q", k, i, truncate(g))
			}
			list[i] = crmsync.NormalizeGUID(g)
		}
		a.ItemGUIDs = list
	case pFolder:
		s, err := decodeString(k, v)
		if err != nil {
			return err
		}
		f, err := parseFolder(k, s)
		if err != nil {
			return err
		}
		a.FolderName = f
	case pFolders:
		list, err := decodeStrings(k, v)
		if err != nil {
			return err
		}
		a.FolderNames = nil
		for i, s := range list {
			f, err := parseFolder(fmt.Sprintf("%s[%d]", k, i), s)
			if err != nil {
				return err
			}
			if !slices.Contains(a.FolderNames, f) {
				a.FolderNames = append(a.FolderNames, f)
			}
		}
	case pObject:
		obj, err := decodeObject(k, v)
		if err != nil {
			return err
		}
		a.object = obj
	case pObjects:
		var list []json.RawMessage
		if err := json.Unmarshal(v, &list); err != nil {
			return paramErrorf("parameter %q must be an array of objects, got %s", k, jsonType(v))
		}
		a.objects = make([]map[string]json.RawMessage, len(list))
		for i, e := range list {
			obj, err := decodeObject(fmt.Sprintf("%s[%d]", k, i), e)
			if err != nil {
				return err
			}
			a.objects[i] = obj
		}
	}
	return nil
}

// decodeObjects turns the transmit object(s) into what the method needs.
func (r *request) decodeObjects() error {
	m := r.method
	switch m.body {
	case bodyPatch:
		if r.object == nil {
			return nil
		}
		p, err := decodePatch(m.folder, "transmitObject", r.object)
		if err != nil {
			return err
		}
		r.patches = []crmsync.Patch{p}
	case bodyPatches:
		r.patches = make([]crmsync.Patch, len(r.objects))
		for i, obj := range r.objects {
			p, err := decodePatch(m.folder, fmt.Sprintf("transmitObjects[%d]", i), obj)
			if err != nil {
				return err
			}
			r.patches[i] = p
		}
	case bodyExample:
		ex, err := decodeExample(m.folder, r.object)
		if err != nil {
			return err
		}
		r.example = ex
	case bodySetting:
		s, err := decodeSetting(r.object)
		if err != nil {
			return err
		}
		r.setting = s
	case bodyCustom:
		if r.object == nil {
			return nil
		}
		return m.decodeBody(r)
	}
	return nil
}

// decodePatch decodes one transmit object as eWay does: only the fields
// present are touched, a field sent as null is listed in Null (it erases
// only when ItemVersion is right or absent, the service decides), an
// absent ItemVersion means "no conflict check". Unknown and read-only
// fields are ignored, as eWay ignores them, so clients may send back
// whole objects they read.
func decodePatch(f crmsync.Folder, where string, obj map[string]json.RawMessage) (crmsync.Patch, error) {
	p := crmsync.Patch{Set: map[string]string{}}
	for name, v := range obj {
		switch name {
		case crmsync.FieldItemGUID:
			if isNull(v) {
				continue
			}
			s, err := decodeString(where+"."+name, v)
			if err != nil {
				return p, err
			}
			if s == "" {
				continue
			}
			if !crmsync.IsGUID(s) {
				return p, paramErrorf("%s.ItemGUID is not a GUID: %q", where, truncate(s))
			}
			p.GUID = crmsync.NormalizeGUID(s)
			continue
		case crmsync.FieldItemVersion:
			if isNull(v) {
				continue
			}
			n, err := decodeInt(where+"."+name, v, math.MaxInt32)
			if err != nil {
				return p, err
			}
			p.Version = int(n)
			continue
		case "AdditionalFields":
			if err := decodeAdditionalFields(where+".AdditionalFields", v, &p); err != nil {
				return p, err
			}
			continue
		}
		def, ok := crmsync.LookupField(f, name)
		if !ok || def.ReadOnly {
			continue
		}
		if isNull(v) {
			p.Null = append(p.Null, name)
			continue
		}
		val, err := decodeValue(where, def, v)
		if err != nil {
			return p, err
		}
		p.Set[name] = val
	}
	p.Null = slices.DeleteFunc(p.Null, func(name string) bool { _, set := p.Set[name]; return set })
	slices.Sort(p.Null)
	return p, nil
}

// decodeAdditionalFields adds the af_N members of a transmit object's
// AdditionalFields to p, as eWay's AdditionalFields example sends them:
// strings, numbers, or arrays of strings (multi-select), kept as a JSON
// array. Members that are not af_N are ignored like unknown fields.
func decodeAdditionalFields(where string, v json.RawMessage, p *crmsync.Patch) error {
	if isNull(v) {
		return nil
	}
	obj, err := decodeObject(where, v)
	if err != nil {
		return err
	}
	for name, fv := range obj {
		if !crmsync.IsAdditionalField(name) {
			continue
		}
		path := where + "." + name
		switch jsonType(fv) {
		case "null":
			p.Null = append(p.Null, name)
			continue
		case "number":
			p.Set[name] = string(bytes.TrimSpace(fv))
		case "boolean":
			b, _ := decodeBoolField(fv)
			p.Set[name] = strconv.FormatBool(b)
		case "array":
			list, err := decodeStrings(path, fv)
			if err != nil {
				return err
			}
			enc, _ := json.Marshal(list) // strings always marshal
			p.Set[name] = string(enc)
		default:
			s, err := decodeString(path, fv)
			if err != nil {
				return err
			}
			p.Set[name] = s
		}
	}
	return nil
}

// decodeExample decodes the example object of a Search* call: every
// non-null field of the folder's schema filters; others are ignored.
func decodeExample(f crmsync.Folder, obj map[string]json.RawMessage) (map[string]string, error) {
	ex := map[string]string{}
	for name, v := range obj {
		if name == crmsync.FieldItemGUID && !isNull(v) { // SearchCompanies({ItemGUID}) in eWay's AdditionalFields example
			g, err := decodeGUID("transmitObject.ItemGUID", v)
			if err != nil {
				return nil, err
			}
			ex[name] = g
			continue
		}
		def, ok := crmsync.LookupField(f, name)
		if !ok || isNull(v) {
			continue
		}
		val, err := decodeValue("transmitObject", def, v)
		if err != nil {
			return nil, err
		}
		ex[name] = val
	}
	return ex, nil
}

// decodeSetting decodes SaveUserSetting's transmitObject {Path, Name, Value}.
func decodeSetting(obj map[string]json.RawMessage) (crmsync.Setting, error) {
	var s crmsync.Setting
	for k, v := range obj {
		if isNull(v) {
			continue
		}
		var dst *string
		switch k {
		case "Path":
			dst = &s.Path
		case "Name":
			dst = &s.Name
		case "Value":
			dst = &s.Value
		default:
			return s, paramErrorf("transmitObject: unknown setting field %q (want Path, Name, Value)", truncate(k))
		}
		str, err := decodeString("transmitObject."+k, v)
		if err != nil {
			return s, err
		}
		*dst = str
	}
	if s.Name == "" {
		return s, paramErrorf("transmitObject.Name is required")
	}
	return s, nil
}

// decodeValue checks a field value against its kind and returns it in the
// form the domain stores: GUIDs in lower case, times as TimeFormat in UTC.
// "" is valid for every kind and means empty.
func decodeValue(where string, def crmsync.FieldDef, v json.RawMessage) (string, error) {
	path := where + "." + def.Name
	if def.Kind == crmsync.Bool {
		b, ok := decodeBoolField(v)
		if !ok {
			return "", paramErrorf("%s must be true or false (or \"1\"/\"0\"), got %s", path, truncate(string(v)))
		}
		return strconv.FormatBool(b), nil
	}
	if def.Kind == crmsync.Number && jsonType(v) == "number" {
		n, err := decodeInt(path, v, math.MaxInt64)
		return strconv.FormatInt(n, 10), err
	}
	s, err := decodeString(path, v)
	if err != nil || s == "" {
		return s, err
	}
	switch def.Kind {
	case crmsync.Number:
		if _, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err != nil {
			return "", paramErrorf("%s is not a whole number: %q", path, truncate(s))
		}
	case crmsync.GUID, crmsync.Enum:
		if !crmsync.IsGUID(s) {
			return "", paramErrorf("%s is not a GUID: %q", path, truncate(s))
		}
		return crmsync.NormalizeGUID(s), nil
	case crmsync.DateTime:
		t, err := crmsync.ParseTime(s)
		if err != nil {
			return "", paramErrorf("%s is not a date and time (want %q): %q", path, crmsync.TimeFormat, truncate(s))
		}
		return crmsync.FormatTime(t), nil
	case crmsync.Binary:
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return "", paramErrorf("%s is not base64: %v", path, err)
		}
	}
	return s, nil
}

// decodeBoolField reads a Bool field of a transmit object: JSON true or
// false, or the forms eWay's PHP examples send ("1", "0", "true", "false"
// as strings, 1 and 0 as numbers).
func decodeBoolField(v json.RawMessage) (value, ok bool) {
	var b bool
	if json.Unmarshal(v, &b) == nil {
		return b, true
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		s = string(bytes.TrimSpace(v))
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}

func decodeString(name string, v json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", paramErrorf("%s must be a string, got %s", name, jsonType(v))
	}
	return s, nil
}

func decodeStrings(name string, v json.RawMessage) ([]string, error) {
	var list []string
	if err := json.Unmarshal(v, &list); err != nil {
		return nil, paramErrorf("%s must be an array of strings, got %s", name, jsonType(v))
	}
	return list, nil
}

func decodeInt(name string, v json.RawMessage, limit int64) (int64, error) {
	if jsonType(v) != "number" {
		return 0, paramErrorf("%s must be a number, got %s", name, jsonType(v))
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
	if err != nil || n < 0 || n > limit {
		return 0, paramErrorf("%s must be a whole number from 0 to %d, got %s", name, limit, truncate(string(v)))
	}
	return n, nil
}

func decodeGUID(name string, v json.RawMessage) (string, error) {
	s, err := decodeString(name, v)
	if err != nil {
		return "", err
	}
	if !crmsync.IsGUID(s) {
		return "", paramErrorf("%s is not a GUID: %q", name, truncate(s))
	}
	return crmsync.NormalizeGUID(s), nil
}

func decodeObject(name string, v json.RawMessage) (map[string]json.RawMessage, error) {
	if jsonType(v) != "object" {
		return nil, paramErrorf("%s must be an object, got %s", name, jsonType(v))
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(v, &obj); err != nil {
		return nil, paramErrorf("%s: %v", name, err)
	}
	return obj, nil
}

func parseFolder(name, s string) (crmsync.Folder, error) {
	f := crmsync.Folder(s)
	if !f.Valid() {
		return "", paramErrorf("%s: unknown folder %q (want Contacts, Companies or Journal)", name, truncate(s))
	}
	return f, nil
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// jsonType names the JSON type of v for error messages.
func jsonType(v json.RawMessage) string {
	t := bytes.TrimSpace(v)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// truncate keeps caller-supplied text short in error messages.
func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
