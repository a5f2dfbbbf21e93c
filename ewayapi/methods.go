package ewayapi

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/crmsync/crmsync"
)

// bodyKind says what a method's transmit object(s) decode to.
type bodyKind int

const (
	bodyNone    bodyKind = iota
	bodyPatch            // transmitObject → one Patch
	bodyPatches          // transmitObjects → Patches
	bodyExample          // transmitObject → a Search example
	bodySetting          // transmitObject → a user Setting
	bodyCustom           // transmitObject → the method's decodeBody
)

// method is one API method: the parameters it accepts, the ones it
// requires, and what it runs. sessionId is accepted by every method but
// LogIn and checked by the server before run.
type method struct {
	name     string
	params   []string
	required []string
	folder   crmsync.Folder
	body     bodyKind
	// decodeBody decodes a bodyCustom transmitObject (present) into r.
	decodeBody func(r *request) error
	run        func(ctx context.Context, s *Server, r *request) (*reply, error)
}

// folderNames are the spellings of a folder in method names; eWay
// pluralises irregularly (GetJournals for folder Journal).
var folderNames = []struct {
	folder           crmsync.Folder
	plural, singular string
}{
	{crmsync.Contacts, "Contacts", "Contact"},
	{crmsync.Companies, "Companies", "Company"},
	{crmsync.Journal, "Journals", "Journal"},
}

// Body limits of the methods that take no items: a few GUIDs and flags,
// an example to search by, a setting, or a list of GUIDs.
const (
	smallBodyBytes    = 64 << 10
	exampleBodyBytes  = 1 << 20
	guidListBodyBytes = 4 << 20 // 100,000 GUIDs
)

// bodyLimit is the largest body m accepts: serverMax (Options.MaxBodyBytes)
// only for the methods that save items, far less for the others, so that
// no call makes the server hold more than it needs.
func (m *method) bodyLimit(serverMax int64) int64 {
	switch {
	case m.body == bodyPatch || m.body == bodyPatches:
		return serverMax
	case slices.Contains(m.params, "itemGuids"):
		return min(serverMax, guidListBodyBytes)
	case m.body != bodyNone:
		return min(serverMax, exampleBodyBytes)
	}
	return min(serverMax, smallBodyBytes)
}

// methods are keyed by their lower-case name: eWay's method names are not
// case-sensitive (its PHP client calls Login, the JavaScript one LogIn).
var methods = buildMethods()

func lookupMethod(name string) *method { return methods[strings.ToLower(name)] }

// MethodNames lists every method the server answers, sorted.
func MethodNames() []string {
	names := make([]string, 0, len(methods))
	for _, m := range methods {
		names = append(names, m.name)
	}
	slices.Sort(names)
	return names
}

// methodVerbs and methodSuffixes frame the module in an eWay method name
// (GetProjectsByItemGuids, SaveTask...), so that a call to a module
// crmsync does not serve can say which module it was.
var (
	methodVerbs    = []string{"Get", "Search", "Save", "Delete"}
	methodSuffixes = []string{"ByItemGuids", "Identifiers"}
)

// unknownMethod refuses a method this server does not answer, naming the
// eWay module when the name is one of eWay's Get/Search/Save/Delete calls.
func unknownMethod(name string) error {
	module := ""
	for _, verb := range methodVerbs {
		if rest, ok := cutPrefixFold(name, verb); ok && rest != "" {
			for _, suf := range methodSuffixes {
				if r, ok := cutSuffixFold(rest, suf); ok && r != "" {
					rest = r
					break
				}
			}
			module = rest
			break
		}
	}
	if module == "" || len(module) > 40 {
		return &decodeError{code: rcGeneralError, msg: fmt.Sprintf("unknown method %q", truncate(name))}
	}
	return &decodeError{code: rcGeneralError, msg: fmt.Sprintf(
		"unknown method %q: crmsync does not serve the eWay module %q (it serves Contacts, Companies, Journal, Users, EnumValues, EnumTypes, UserSettings, GlobalSettings, AdditionalFields and Relations)",
		truncate(name), module)}
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

func cutSuffixFold(s, suffix string) (string, bool) {
	if len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix) {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}

func buildMethods() map[string]*method {
	all := map[string]*method{}
	add := func(m *method) {
		if m.name != "LogIn" {
			m.params = append([]string{"sessionId"}, m.params...)
		}
		key := strings.ToLower(m.name)
		if _, dup := all[key]; dup {
			panic("ewayapi: method " + m.name + " defined twice")
		}
		all[key] = m
	}
	getParams := []string{"includeRelations", "includeProfilePictures", "includeForeignKeys"}
	saveParams := []string{"dieOnItemConflict"}

	add(&method{name: "LogIn", run: logIn, params: []string{"userName", "passwordHash"}, required: []string{"userName"}})
	add(&method{name: "LogOut", run: logOut})

	for _, fn := range folderNames {
		f, p, s := fn.folder, fn.plural, fn.singular
		add(&method{name: "Get" + p, folder: f, params: getParams, run: getItems})
		add(&method{name: "Get" + p + "ByItemGuids", folder: f,
			params: append([]string{"itemGuids"}, getParams...), required: []string{"itemGuids"}, run: getItemsByGUIDs})
		add(&method{name: "Get" + p + "Identifiers", folder: f, run: getIdentifiers})
		add(&method{name: "Search" + p, folder: f, body: bodyExample,
			params: append([]string{"transmitObject", "binaryLogicalOperator"}, getParams...), run: search})
		add(&method{name: "Search" + p + "Identifiers", folder: f, body: bodyExample,
			params: []string{"transmitObject", "binaryLogicalOperator"}, run: searchIdentifiers})
		add(&method{name: "Save" + s, folder: f, body: bodyPatch,
			params: append([]string{"transmitObject"}, saveParams...), required: []string{"transmitObject"}, run: saveOne})
		add(&method{name: "Save" + p, folder: f, body: bodyPatches,
			params: append([]string{"transmitObjects"}, saveParams...), required: []string{"transmitObjects"}, run: saveMany})
		add(&method{name: "Delete" + s, folder: f, params: []string{"itemGuid"}, required: []string{"itemGuid"}, run: deleteOne})
		add(&method{name: "Delete" + p, folder: f, params: []string{"itemGuids"}, required: []string{"itemGuids"}, run: deleteMany})
		// crmsync's extension: the trash (SPEC X1).
		add(&method{name: "GetDeleted" + p, folder: f, params: getParams, run: getTrash})
		add(&method{name: "Restore" + s, folder: f, params: []string{"itemGuid"}, required: []string{"itemGuid"}, run: restore})
	}

	add(&method{name: "GetLastItemChangeId", run: lastChangeID})
	add(&method{name: "GetItemChangeIdentifiers", run: changeIdentifiers,
		params: []string{"folderName", "baseChangeId", "targetChangeId"}, required: []string{"folderName", "baseChangeId"}})
	add(&method{name: "GetChangedItems", run: changedItems,
		params:   []string{"folderNames", "baseChangeId", "targetChangeId", "includeForeignKeys", "includeProfilePictures"},
		required: []string{"baseChangeId"}})
	add(&method{name: "HaveItemsChanged", run: haveItemsChanged,
		params: []string{"folderNames", "baseChangeId", "targetChangeId"}, required: []string{"baseChangeId"}})
	add(&method{name: "HaveMyPermissionsChanged", run: havePermissionsChanged,
		params: []string{"baseChangeId", "targetChangeId"}, required: []string{"baseChangeId"}})
	add(&method{name: "GetMyModulePermissions", run: myPermissions})
	add(&method{name: "SaveUserSetting", body: bodySetting, params: []string{"transmitObject"},
		required: []string{"transmitObject"}, run: saveUserSetting})
	add(&method{name: "GetEnumValues", params: []string{"enumTypeName"}, run: enumValues})
	addDirectoryMethods(add)
	addRelationMethods(add)
	return all
}

func logIn(ctx context.Context, s *Server, r *request) (*reply, error) {
	var u *crmsync.User
	var err error
	switch {
	case r.has["passwordHash"]:
		u, err = s.crm.Authenticate(ctx, r.UserName, strings.ToLower(r.PasswordHash))
	case r.bearerSent:
		// The OAuth sign-in of eWay's clients: LogIn with userName and an
		// access token from TokenPath in the Authorization header.
		var ok bool
		if u, ok = s.tokens.get(r.bearer, false, false); !ok {
			return nil, badAccessToken
		}
		if !strings.EqualFold(strings.TrimSpace(r.UserName), u.Name) {
			return nil, &decodeError{code: rcLoginFailed, msg: "login failed: the access token was issued to another user"}
		}
		if err = s.checkUser(ctx, u); err != nil {
			s.tokens.remove(r.bearer)
			return nil, &decodeError{code: rcLoginFailed, msg: "login failed: " + crmsync.ErrorMessage(err)}
		}
	default:
		return nil, paramErrorf("missing parameter \"passwordHash\" (or an Authorization: Bearer access token)")
	}
	if err != nil {
		if crmsync.ErrorCode(err) == crmsync.EUNAUTHORIZED {
			return nil, &decodeError{code: rcLoginFailed, msg: "login failed: " + crmsync.ErrorMessage(err)}
		}
		return nil, err
	}
	id, err := s.sessions.create(u)
	if err != nil {
		if err == errTooManySessions {
			return nil, &decodeError{code: rcGeneralError, msg: err.Error()}
		}
		return nil, err
	}
	admin := u.IsAdmin
	return &reply{SessionId: id, UserItemGuid: u.GUID, IsAdmin: &admin, WcfVersion: s.version}, nil
}

func logOut(ctx context.Context, s *Server, r *request) (*reply, error) {
	s.sessions.remove(r.SessionID)
	return &reply{}, nil
}

// getItems streams the folder: the answer is written item by item as the
// CRM reads them (see Server.writeStream).
func getItems(ctx context.Context, s *Server, r *request) (*reply, error) {
	if r.IncludeRelations { // relations need the items at hand: no streaming
		items, err := s.crm.Items(ctx, r.method.folder, nil)
		if err != nil {
			return nil, err
		}
		return itemsReply(ctx, s, r, items)
	}
	folder := r.method.folder
	return &reply{streamFKs: r.IncludeForeignKeys, streamPictures: r.IncludeProfilePictures,
		stream: itemList(func(fn func(*crmsync.Item) error) error { return s.crm.EachItem(ctx, folder, fn) })}, nil
}

// itemsReply renders the items of a Get or Search call, with their
// Relations when asked.
func itemsReply(ctx context.Context, s *Server, r *request, items []*crmsync.Item) (*reply, error) {
	out, err := withRelations(ctx, s, r, r.method.folder, renderItems(items, r.IncludeForeignKeys, r.IncludeProfilePictures))
	if err != nil {
		return nil, err
	}
	return &reply{Data: out}, nil
}

func getItemsByGUIDs(ctx context.Context, s *Server, r *request) (*reply, error) {
	if len(r.ItemGUIDs) == 0 { // Items(nil) would mean "all"
		return &reply{Data: []itemJSON{}}, nil
	}
	items, err := s.crm.Items(ctx, r.method.folder, r.ItemGUIDs)
	if err != nil {
		return nil, err
	}
	return itemsReply(ctx, s, r, items)
}

func getIdentifiers(ctx context.Context, s *Server, r *request) (*reply, error) {
	ids, err := s.crm.Identifiers(ctx, r.method.folder)
	if err != nil {
		return nil, err
	}
	return &reply{Data: renderIdentifiers(ids)}, nil
}

func search(ctx context.Context, s *Server, r *request) (*reply, error) {
	if len(r.example) == 0 { // every visible item, as Get{Folder} lists them
		return getItems(ctx, s, r)
	}
	items, err := s.crm.Search(ctx, r.method.folder, r.example, r.Operator == "Or")
	if err != nil {
		return nil, err
	}
	return itemsReply(ctx, s, r, items)
}

func searchIdentifiers(ctx context.Context, s *Server, r *request) (*reply, error) {
	items, err := s.crm.Search(ctx, r.method.folder, r.example, r.Operator == "Or")
	if err != nil {
		return nil, err
	}
	ids := make([]identifierJSON, len(items))
	for i, it := range items {
		ids[i] = identifierJSON{ItemGUID: it.GUID, ItemVersion: it.Version}
	}
	return &reply{Data: ids}, nil
}

func saveOne(ctx context.Context, s *Server, r *request) (*reply, error) {
	res, err := s.crm.Save(ctx, r.method.folder, r.patches, crmsync.SaveOptions{DieOnItemConflict: r.DieOnItemConflict})
	if err != nil {
		return nil, err
	}
	if len(res) != 1 {
		return nil, fmt.Errorf("save returned %d results for 1 item", len(res))
	}
	if res[0].Err != nil {
		return nil, res[0].Err
	}
	return &reply{Guid: res[0].GUID, ItemVersion: res[0].Version}, nil
}

// saveMany answers with one result per transmit object in Data. The
// envelope's ReturnCode is rcSuccess only when every item was saved;
// otherwise it is the code of the first failure, and the items that did
// not fail were saved all the same.
func saveMany(ctx context.Context, s *Server, r *request) (*reply, error) {
	if len(r.patches) == 0 {
		return &reply{Data: []saveResultJSON{}}, nil
	}
	res, err := s.crm.Save(ctx, r.method.folder, r.patches, crmsync.SaveOptions{DieOnItemConflict: r.DieOnItemConflict})
	if err != nil {
		return nil, err
	}
	if len(res) != len(r.patches) {
		return nil, fmt.Errorf("save returned %d results for %d items", len(res), len(r.patches))
	}
	rep := &reply{}
	out := make([]saveResultJSON, len(res))
	failed := 0
	for i, sr := range res {
		out[i] = saveResultJSON{Guid: sr.GUID, ItemVersion: sr.Version, ReturnCode: ReturnCode(sr.Err)}
		if sr.Err == nil {
			continue
		}
		if out[i].ReturnCode == rcInternalError {
			s.log.ErrorContext(ctx, "saving item failed", "method", r.method.name, "index", i, "err", sr.Err)
		}
		out[i].Description = describe(sr.Err)
		if failed == 0 {
			rep.ReturnCode = out[i].ReturnCode
		}
		failed++
	}
	if failed > 0 {
		rep.Description = fmt.Sprintf("%d of %d items not saved (the others were): see Data", failed, len(res))
	}
	rep.Data = out
	return rep, nil
}

func deleteOne(ctx context.Context, s *Server, r *request) (*reply, error) {
	if err := s.crm.Delete(ctx, r.method.folder, []string{r.ItemGUID}); err != nil {
		return nil, err
	}
	return &reply{}, nil
}

func deleteMany(ctx context.Context, s *Server, r *request) (*reply, error) {
	if len(r.ItemGUIDs) == 0 {
		return &reply{}, nil
	}
	if err := s.crm.Delete(ctx, r.method.folder, r.ItemGUIDs); err != nil {
		return nil, err
	}
	return &reply{}, nil
}

func getTrash(ctx context.Context, s *Server, r *request) (*reply, error) {
	items, err := s.crm.Trash(ctx, r.method.folder)
	if err != nil {
		return nil, err
	}
	return &reply{Data: renderItems(items, r.IncludeForeignKeys, r.IncludeProfilePictures)}, nil
}

func restore(ctx context.Context, s *Server, r *request) (*reply, error) {
	if err := s.crm.Restore(ctx, r.method.folder, r.ItemGUID); err != nil {
		return nil, err
	}
	return &reply{Guid: r.ItemGUID}, nil
}

func lastChangeID(ctx context.Context, s *Server, r *request) (*reply, error) {
	id, err := s.crm.LastChangeID(ctx)
	if err != nil {
		return nil, err
	}
	return &reply{Datum: id}, nil
}

// changeRange resolves (baseChangeId, targetChangeId]; an absent target
// means the last change. A base beyond the last change means the log was
// reset (or the client is confused): rcBaseItemChangeIdNotFound tells it
// to reconcile fully, as eWay does for a base it no longer keeps.
func changeRange(ctx context.Context, s *Server, r *request) (base, target int64, err error) {
	last, err := s.crm.LastChangeID(ctx)
	if err != nil {
		return 0, 0, err
	}
	base, target = r.BaseChangeID, last
	if r.has["targetChangeId"] {
		target = r.TargetChangeID
	}
	if base > last {
		return 0, 0, &decodeError{code: rcBaseItemChangeIdNotFound, msg: fmt.Sprintf(
			"The base change ID %d is no longer available in ItemChanges table (the last change ID is %d). You have to manually verify all items using Get methods.", base, last)}
	}
	if target > last {
		return 0, 0, paramErrorf("targetChangeId %d is beyond the last change id %d", target, last)
	}
	if target < base {
		return 0, 0, paramErrorf("targetChangeId %d is below baseChangeId %d", target, base)
	}
	return base, target, nil
}

func foldersOrAll(r *request) []crmsync.Folder {
	if len(r.FolderNames) == 0 {
		return crmsync.Folders
	}
	return r.FolderNames
}

func changeIdentifiers(ctx context.Context, s *Server, r *request) (*reply, error) {
	base, target, err := changeRange(ctx, s, r)
	if err != nil {
		return nil, err
	}
	changes, err := s.crm.ChangeIdentifiers(ctx, r.FolderName, base, target)
	if err != nil {
		return nil, err
	}
	out := make([]changeJSON, len(changes))
	for i, c := range changes {
		out[i] = changeJSON{ItemGUID: c.GUID, FolderName: c.Folder, IsRemoved: c.Removed, ItemVersion: c.Version, ChangeId: c.ID}
	}
	return &reply{Data: out}, nil
}

func changedItems(ctx context.Context, s *Server, r *request) (*reply, error) {
	base, target, err := changeRange(ctx, s, r)
	if err != nil {
		return nil, err
	}
	folders := foldersOrAll(r)
	if windowed, err := canExport(ctx, s, folders); err != nil {
		return nil, err
	} else if windowed {
		return &reply{FoldersWithChangedAvailability: []crmsync.Folder{}, streamFKs: r.IncludeForeignKeys,
			streamPictures: r.IncludeProfilePictures, stream: changedItemsStream(ctx, s, folders, base, target)}, nil
	}
	sets, err := s.crm.ChangedItems(ctx, folders, base, target)
	if err != nil {
		return nil, err
	}
	out := make([]changedItemsJSON, len(sets))
	for i, set := range sets {
		removed := set.Removed
		if removed == nil {
			removed = []string{}
		}
		out[i] = changedItemsJSON{FolderName: set.Folder, RemovedItemGuids: removed,
			ChangedItems: renderItems(set.Items, r.IncludeForeignKeys, r.IncludeProfilePictures)}
	}
	return &reply{Data: out, FoldersWithChangedAvailability: []crmsync.Folder{}}, nil
}

// canExport reports whether the caller has the Export right on every
// folder: only then may the feed be read window by window, since the
// service counts the items a user without it reads per call.
func canExport(ctx context.Context, s *Server, folders []crmsync.Folder) (bool, error) {
	rights, err := s.crm.MyRights(ctx)
	if err != nil {
		return false, err
	}
	for _, f := range folders {
		i := slices.IndexFunc(rights, func(r crmsync.Rights) bool { return r.Folder == f })
		if i < 0 || !rights[i].CanExport {
			return false, nil
		}
	}
	return true, nil
}

// changeWindow is how many change ids GetChangedItems reads per call of
// the CRM when it streams.
const changeWindow = 1000

// changedItemsStream writes GetChangedItems' Data folder by folder, reading
// the feed changeWindow change ids at a time, so that a feed from change 0
// over 100,000 contacts is never held whole. An item changed in several
// windows is written once (each window gives its current state); the
// removed GUIDs, which are small, are collected and written after them.
func changedItemsStream(ctx context.Context, s *Server, folders []crmsync.Folder, base, target int64) func(*streamOut) error {
	return func(out *streamOut) error {
		out.Raw("[")
		var done []crmsync.Folder
		for _, f := range folders {
			if slices.Contains(done, f) {
				continue
			}
			if len(done) > 0 {
				out.Raw(",")
			}
			done = append(done, f)
			name, _ := json.Marshal(f)
			out.Raw(`{"FolderName":` + string(name) + `,"ChangedItems":[`)
			seen := map[string]bool{}
			var removed []string
			for lo := base; lo < target; lo += changeWindow {
				sets, err := s.crm.ChangedItems(ctx, []crmsync.Folder{f}, lo, min(lo+changeWindow, target))
				if err != nil {
					return err
				}
				for _, it := range sets[0].Items {
					if seen[it.GUID] {
						continue
					}
					if len(seen) > len(removed) {
						out.Raw(",")
					}
					seen[it.GUID] = true
					if err := out.Item(it); err != nil {
						return err
					}
				}
				for _, g := range sets[0].Removed {
					if !seen[g] {
						seen[g] = true
						removed = append(removed, g)
					}
				}
			}
			guids, _ := json.Marshal(append([]string{}, removed...))
			out.Raw(`],"RemovedItemGuids":` + string(guids) + `}`)
		}
		out.Raw("]")
		return nil
	}
}

func haveItemsChanged(ctx context.Context, s *Server, r *request) (*reply, error) {
	base, target, err := changeRange(ctx, s, r)
	if err != nil {
		return nil, err
	}
	changed, err := s.crm.HaveItemsChanged(ctx, foldersOrAll(r), base, target)
	if err != nil {
		return nil, err
	}
	return &reply{Datum: changed}, nil
}

func havePermissionsChanged(ctx context.Context, s *Server, r *request) (*reply, error) {
	base, target, err := changeRange(ctx, s, r)
	if err != nil {
		return nil, err
	}
	changed, err := s.crm.HavePermissionsChanged(ctx, base, target)
	if err != nil {
		return nil, err
	}
	return &reply{Datum: changed}, nil
}

func myPermissions(ctx context.Context, s *Server, r *request) (*reply, error) {
	rights, err := s.crm.MyRights(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]permissionJSON, len(rights))
	for i, rt := range rights {
		out[i] = permissionJSON{FolderName: rt.Folder, View: rt.View.String(), Edit: rt.Edit.String(),
			Delete: rt.Delete.String(), CanCreate: rt.CanCreate, CanExport: rt.CanExport}
	}
	return &reply{Data: out}, nil
}

func saveUserSetting(ctx context.Context, s *Server, r *request) (*reply, error) {
	if err := s.crm.SaveUserSetting(ctx, r.setting); err != nil {
		return nil, err
	}
	return &reply{}, nil
}

func enumValues(ctx context.Context, s *Server, r *request) (*reply, error) {
	values, err := s.crm.EnumValues(ctx, r.EnumTypeName)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(values))
	for i, v := range values {
		out[i] = enumValueJSONOf(v)
	}
	return &reply{Data: out}, nil
}
