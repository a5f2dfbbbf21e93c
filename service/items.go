package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/crmsync/crmsync"
)

func checkFolder(f crmsync.Folder) error {
	if !f.Valid() {
		return crmsync.Errorf(crmsync.EINVALID, "unknown folder %q", f)
	}
	return nil
}

// parseGUID validates and normalizes an item GUID given by a caller.
func parseGUID(g string) (string, error) {
	if !crmsync.IsGUID(g) {
		return "", crmsync.Errorf(crmsync.EINVALID, "%q is not a GUID", g)
	}
	return crmsync.NormalizeGUID(g), nil
}

// Save implements crmsync.CRM. Creating needs CanCreate, updating needs the
// Edit level on the stored item; versions follow eway-crm.md §3.7:
//
//   - no stored item: created with version 1 (the GUID may be chosen by the
//     caller; a sent Version is ignored);
//   - Version 0 (not sent): written without a conflict check, "" and nulls
//     erase;
//   - Version > stored: written, "" and nulls erase (the new version is
//     always stored+1, whatever was sent);
//   - Version <= stored with DieOnItemConflict: ECONFLICT, or EEXISTS when
//     both are 1 (the item was already created); nothing is written;
//   - Version <= stored without it: merged, sent values win, nulls do not
//     erase.
//
// A trashed item cannot be saved (ENOTFOUND): restore it first. A new
// contact whose Email1Address is another contact's fails with EDUPLICATE
// while ContactDuplicityCheckEnabled is "true". System journals are
// read-only (EFORBIDDEN). An item the caller may not see answers as a GUID
// the caller may not create (EFORBIDDEN, whether it is trashed or not); an
// item private to someone other than its writer is EFORBIDDEN; a link to a
// company or contact the caller may not see, or that does not exist, is
// EINVALID.
func (s *Service) Save(ctx context.Context, folder crmsync.Folder, patches []crmsync.Patch, opts crmsync.SaveOptions) ([]crmsync.SaveResult, error) {
	if err := checkFolder(folder); err != nil {
		return nil, err
	}
	var results []crmsync.SaveResult
	err := s.write(ctx, func(ss *session) error {
		results = make([]crmsync.SaveResult, len(patches))
		for i, p := range patches {
			it, err := ss.savePatch(folder, p, opts)
			var de *crmsync.Error
			switch {
			case err == nil:
				results[i] = crmsync.SaveResult{GUID: it.GUID, Version: it.Version}
			case errors.As(err, &de):
				results[i] = crmsync.SaveResult{GUID: crmsync.NormalizeGUID(p.GUID), Err: err}
			default:
				return fmt.Errorf("saving %s item %d: %w", folder, i, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// savePatch applies one patch. A domain error means nothing of the patch was
// written; every check runs before the single write.
func (ss *session) savePatch(folder crmsync.Folder, p crmsync.Patch, opts crmsync.SaveOptions) (*crmsync.Item, error) {
	guid := ""
	if p.GUID != "" {
		g, err := parseGUID(p.GUID)
		if err != nil {
			return nil, crmsync.Errorf(crmsync.EINVALID, "ItemGUID %q is not a GUID", p.GUID)
		}
		guid = g
	}
	if p.Version < 0 {
		return nil, crmsync.Errorf(crmsync.EINVALID, "ItemVersion %d is negative", p.Version)
	}
	set, nulls, err := ss.patchFields(folder, p)
	if err != nil {
		return nil, err
	}
	var cur *crmsync.Item
	if guid != "" {
		if cur, err = ss.tx.Item(folder, guid); err != nil {
			return nil, err
		}
	}
	if err := ss.checkLinks(set, cur); err != nil {
		return nil, err
	}
	if owner, ok := set[crmsync.FieldOwnerGUID]; ok && owner != "" {
		u, err := ss.tx.UserByGUID(owner)
		if err != nil {
			return nil, err
		}
		if u == nil {
			return nil, crmsync.Errorf(crmsync.EINVALID, "field OwnerGUID: no user %s", owner)
		}
	}
	now := crmsync.FormatTime(ss.s.now())
	var it *crmsync.Item
	if cur == nil {
		if !ss.c.rights[folder].CanCreate {
			return nil, noCreateOrEdit(folder, guid)
		}
		if guid == "" {
			guid = ss.s.newGUID()
		}
		it = &crmsync.Item{Folder: folder, GUID: guid, Version: 1, Fields: map[string]string{}}
		for k, v := range set {
			it.Set(k, v)
		}
		if it.Owner() == "" {
			it.Set(crmsync.FieldOwnerGUID, ss.c.guid())
		}
		it.Set(crmsync.FieldCreatedByGUID, ss.c.guid())
		it.Set(crmsync.FieldItemCreated, now)
		if folder == crmsync.Contacts {
			if err := ss.checkDuplicate(it); err != nil {
				return nil, err
			}
		}
	} else {
		// An item the caller may not see answers as an unknown GUID does
		// without the right to create, whether trashed or not.
		if ok, err := ss.can(view, cur); err != nil {
			return nil, err
		} else if !ok {
			return nil, noCreateOrEdit(folder, guid)
		}
		if cur.Trashed {
			return nil, crmsync.Errorf(crmsync.ENOTFOUND, "%s item %s is in the trash; restore it first", folder, guid)
		}
		if ok, err := ss.can(edit, cur); err != nil {
			return nil, err
		} else if !ok {
			return nil, crmsync.Errorf(crmsync.EFORBIDDEN, "no right to edit %s item %s", folder, guid)
		}
		if folder == crmsync.Journal && cur.Get(crmsync.FieldIsSystem) == "true" && !ss.c.system {
			return nil, crmsync.Errorf(crmsync.EFORBIDDEN, "system journal %s cannot be changed", guid)
		}
		merge := false
		if p.Version != 0 && p.Version <= cur.Version {
			if opts.DieOnItemConflict {
				if p.Version == 1 && cur.Version == 1 {
					return nil, crmsync.Errorf(crmsync.EEXISTS, "item '%s' from folder '%s' was already uploaded", guid, folder)
				}
				return nil, crmsync.Errorf(crmsync.ECONFLICT,
					"ItemVersion of item '%s' from folder '%s' is set to '%d' while current item has version '%d', you have to increase the version by one during update",
					guid, folder, p.Version, cur.Version)
			}
			merge = true
		}
		it = cur.Clone()
		it.Version = cur.Version + 1
		for k, v := range set {
			it.Set(k, v)
		}
		if !merge {
			for _, k := range nulls {
				it.Set(k, "")
			}
		}
		if it.Owner() == "" {
			it.Set(crmsync.FieldOwnerGUID, cur.Owner())
		}
		_, sentFileAs := set[crmsync.FieldFileAs]
		if !sentFileAs && cur.Get(crmsync.FieldFileAs) == defaultFileAs(cur) {
			it.Set(crmsync.FieldFileAs, "")
		}
	}
	if it.Get(crmsync.FieldFileAs) == "" {
		it.Set(crmsync.FieldFileAs, defaultFileAs(it))
	}
	if it.Private() && it.Owner() != ss.c.guid() && !ss.c.system {
		return nil, crmsync.Errorf(crmsync.EFORBIDDEN, "%s item %s cannot be private to another user: only its owner may make an item private", folder, guid)
	}
	it.Set(crmsync.FieldModifiedByGUID, ss.c.guid())
	it.Set(crmsync.FieldItemChanged, now)
	if err := ss.tx.PutItem(it); err != nil {
		return nil, err
	}
	if err := ss.appendChange(it, false); err != nil {
		return nil, err
	}
	ss.owners[string(folder)+"/"+it.GUID] = it.Owner()
	ss.forgetLink(it)
	return it, nil
}

// noCreateOrEdit is the one answer for a GUID the caller may not create
// and for an item the caller may not see, so that Save tells nobody
// whether an invisible item exists.
func noCreateOrEdit(folder crmsync.Folder, guid string) error {
	if guid == "" {
		return crmsync.Errorf(crmsync.EFORBIDDEN, "no right to create items in %s", folder)
	}
	return crmsync.Errorf(crmsync.EFORBIDDEN, "no right to create or change %s item %s", folder, guid)
}

// checkLinks refuses a patch that links the item to a company or contact
// the caller may not see (or that does not exist: both answer alike), so
// that nobody plants a journal or a contact into another user's private
// contact or company. A link the patch leaves as stored is not checked.
func (ss *session) checkLinks(set map[string]string, cur *crmsync.Item) error {
	if ss.c.system {
		return nil
	}
	for _, link := range itemLinks {
		g, ok := set[link.field]
		if !ok || g == "" || (cur != nil && cur.Get(link.field) == g) {
			continue
		}
		it, err := ss.tx.Item(link.folder, g)
		if err != nil {
			return err
		}
		seen := false
		if it != nil {
			if seen, err = ss.can(view, it); err != nil {
				return err
			}
		}
		if !seen {
			return crmsync.Errorf(crmsync.EINVALID, "field %s: no %s item %s", link.field, link.folder, g)
		}
	}
	return nil
}

// checkDuplicate refuses a new contact whose Email 1 another contact not in
// the trash already has, when the global duplicity check is on.
func (ss *session) checkDuplicate(it *crmsync.Item) error {
	email := strings.ToLower(strings.TrimSpace(it.Get(crmsync.FieldEmail1)))
	if email == "" {
		return nil
	}
	if ss.global == nil {
		g, err := ss.tx.GlobalSettings()
		if err != nil {
			return err
		}
		ss.global = g
	}
	if ss.global[crmsync.SettingDuplicityCheck] != "true" {
		return nil
	}
	guids, err := ss.tx.ContactsByEmail1(email)
	if err != nil {
		return err
	}
	for _, g := range guids {
		if g != it.GUID {
			return crmsync.Errorf(crmsync.EDUPLICATE, "a contact with e-mail address %s already exists", email)
		}
	}
	return nil
}

// visible filters items to those not trashed and within the caller's View
// level.
func (ss *session) visible(items []*crmsync.Item, trashed bool) ([]*crmsync.Item, error) {
	out := items[:0]
	for _, it := range items {
		if it.Trashed != trashed {
			continue
		}
		ok, err := ss.can(view, it)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, it)
		}
	}
	return out, nil
}

// Items implements crmsync.CRM: the visible items with the given GUIDs in
// the order asked (duplicates once), or all visible ones ordered by GUID.
// EINVALID if a GUID is malformed.
func (s *Service) Items(ctx context.Context, folder crmsync.Folder, guids []string) ([]*crmsync.Item, error) {
	if err := checkFolder(folder); err != nil {
		return nil, err
	}
	var norm []string
	if guids != nil {
		norm = make([]string, 0, len(guids))
		for _, g := range guids {
			n, err := parseGUID(g)
			if err != nil {
				return nil, err
			}
			norm = append(norm, n)
		}
	}
	var out []*crmsync.Item
	err := s.read(ctx, func(ss *session) error {
		var err error
		if out, err = ss.items(folder, norm, guids == nil); err != nil {
			return err
		}
		return ss.checkExport(folder, len(out))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ExportFreeItems is how many items of a folder one read may return
// without the folder's Export right. Export governs bulk reading: without
// it a user sees and edits the items their View level reaches one by one
// (a page of a search, a contact opened by GUID), but no call lists more
// than this many of them, so neither GetContacts, the change feed, a
// CardDAV book listing nor an Outlook sync hands the user the whole book.
const ExportFreeItems = 100

// checkExport refuses a read of n items of folder beyond ExportFreeItems
// when the caller lacks the folder's Export right.
func (ss *session) checkExport(folder crmsync.Folder, n int) error {
	if n <= ExportFreeItems || ss.c.rights[folder].CanExport {
		return nil
	}
	return crmsync.Errorf(crmsync.EFORBIDDEN,
		"reading %d %s items at once needs the Export right on %s (without it at most %d)", n, folder, folder, ExportFreeItems)
}

func (ss *session) items(folder crmsync.Folder, guids []string, all bool) ([]*crmsync.Item, error) {
	if all {
		items, err := ss.tx.ListItems(folder, false)
		if err != nil {
			return nil, err
		}
		return ss.visible(items, false)
	}
	items, err := ss.tx.ItemsByGUID(folder, guids)
	if err != nil {
		return nil, err
	}
	items, err = ss.visible(items, false)
	if err != nil {
		return nil, err
	}
	byGUID := make(map[string]*crmsync.Item, len(items))
	for _, it := range items {
		byGUID[it.GUID] = it
	}
	out := make([]*crmsync.Item, 0, len(items))
	for _, g := range guids {
		if it, ok := byGUID[g]; ok {
			out = append(out, it)
			delete(byGUID, g)
		}
	}
	return out, nil
}

// eachBatch is how many items EachItem reads per transaction.
const eachBatch = 256

// EachItem implements crmsync.CRM: the visible GUIDs come from Identifiers
// (the store's cheap listing, no fields, the Export right checked on their
// number before any item is read), then the items are read eachBatch at a
// time.
func (s *Service) EachItem(ctx context.Context, folder crmsync.Folder, fn func(*crmsync.Item) error) error {
	ids, err := s.Identifiers(ctx, folder)
	if err != nil {
		return err
	}
	guids := make([]string, len(ids))
	for i, id := range ids {
		guids[i] = id.GUID
	}
	slices.Sort(guids)
	for start := 0; start < len(guids); start += eachBatch {
		var batch []*crmsync.Item
		err := s.read(ctx, func(ss *session) error {
			var err error
			batch, err = ss.items(folder, guids[start:min(start+eachBatch, len(guids))], false)
			return err
		})
		if err != nil {
			return err
		}
		for _, it := range batch {
			if err := fn(it); err != nil {
				return err
			}
		}
	}
	return nil
}

// Identifiers implements crmsync.CRM, from the store's cheap listing: no
// item fields are read.
func (s *Service) Identifiers(ctx context.Context, folder crmsync.Folder) ([]crmsync.Identifier, error) {
	if err := checkFolder(folder); err != nil {
		return nil, err
	}
	var out []crmsync.Identifier
	err := s.read(ctx, func(ss *session) error {
		ids, err := ss.tx.ListIdentifiers(folder)
		if err != nil {
			return err
		}
		out = make([]crmsync.Identifier, 0, len(ids))
		for _, id := range ids {
			ok, err := ss.canSnapshot(view, folder, id.GUID, id.Snapshot)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, id.Identifier)
			}
		}
		return ss.checkExport(folder, len(out))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Search implements crmsync.CRM. Example keys are field names of the folder
// or ItemGUID/ItemVersion; an unknown name is EINVALID (it could never
// match). Values compare case-insensitively after trimming; GUID values
// match in any case. An empty example matches every visible item.
func (s *Service) Search(ctx context.Context, folder crmsync.Folder, example map[string]string, matchAny bool) ([]*crmsync.Item, error) {
	if err := checkFolder(folder); err != nil {
		return nil, err
	}
	for name := range example {
		if name == crmsync.FieldItemGUID || name == crmsync.FieldItemVersion {
			continue
		}
		if _, ok := crmsync.LookupField(folder, name); !ok {
			return nil, crmsync.Errorf(crmsync.EINVALID, "unknown field %s in %s", name, folder)
		}
	}
	var out []*crmsync.Item
	err := s.read(ctx, func(ss *session) error {
		items, err := ss.searchCandidates(folder, example, matchAny)
		if err != nil {
			return err
		}
		if items, err = ss.visible(items, false); err != nil {
			return err
		}
		for _, it := range items {
			if len(example) == 0 || matches(it, example, matchAny) {
				out = append(out, it)
			}
		}
		slices.SortFunc(out, func(a, b *crmsync.Item) int { return strings.Compare(a.GUID, b.GUID) })
		return ss.checkExport(folder, len(out))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// searchCandidates narrows a search by one field the store has an index
// for, when every field must match; otherwise it lists the whole folder.
func (ss *session) searchCandidates(folder crmsync.Folder, example map[string]string, matchAny bool) ([]*crmsync.Item, error) {
	if !matchAny {
		names := make([]string, 0, len(example))
		for name := range example {
			names = append(names, name)
		}
		slices.Sort(names) // the same index for the same example every time
		for _, name := range names {
			items, indexed, err := ss.tx.FindItems(folder, name, example[name])
			if err != nil || indexed {
				return items, err
			}
		}
	}
	return ss.tx.ListItems(folder, false)
}

func matches(it *crmsync.Item, example map[string]string, matchAny bool) bool {
	for name, want := range example {
		var got string
		switch name {
		case crmsync.FieldItemGUID:
			got = it.GUID
		case crmsync.FieldItemVersion:
			got = fmt.Sprint(it.Version)
		default:
			got = it.Get(name)
		}
		eq := strings.EqualFold(strings.TrimSpace(got), strings.TrimSpace(want))
		if eq && matchAny {
			return true
		}
		if !eq && !matchAny {
			return false
		}
	}
	return !matchAny
}

// Delete implements crmsync.CRM: every item must be visible (else
// ENOTFOUND) and within the Delete level (else EFORBIDDEN); if any fails,
// none is deleted. Each deletion raises the version and logs a removal.
func (s *Service) Delete(ctx context.Context, folder crmsync.Folder, guids []string) error {
	if err := checkFolder(folder); err != nil {
		return err
	}
	norm := make([]string, 0, len(guids))
	seen := map[string]bool{}
	for _, g := range guids {
		n, err := parseGUID(g)
		if err != nil {
			return err
		}
		if !seen[n] {
			seen[n] = true
			norm = append(norm, n)
		}
	}
	return s.write(ctx, func(ss *session) error {
		for _, g := range norm {
			it, err := ss.visibleItem(folder, g, false)
			if err != nil {
				return err
			}
			if ok, err := ss.can(del, it); err != nil {
				return err
			} else if !ok {
				return crmsync.Errorf(crmsync.EFORBIDDEN, "no right to delete %s item %s", folder, g)
			}
			it.Trashed = true
			it.Version++
			it.Set(crmsync.FieldModifiedByGUID, ss.c.guid())
			it.Set(crmsync.FieldItemChanged, crmsync.FormatTime(ss.s.now()))
			if err := ss.tx.PutItem(it); err != nil {
				return err
			}
			if err := ss.appendChange(it, true); err != nil {
				return err
			}
		}
		return nil
	})
}

// visibleItem returns the item if it exists, is (trashed) or is not in the
// trash, and is visible to the caller; ENOTFOUND otherwise.
func (ss *session) visibleItem(folder crmsync.Folder, guid string, trashed bool) (*crmsync.Item, error) {
	it, err := ss.tx.Item(folder, guid)
	if err != nil {
		return nil, err
	}
	if it != nil && it.Trashed == trashed {
		ok, err := ss.can(view, it)
		if err != nil {
			return nil, err
		}
		if ok {
			return it, nil
		}
	}
	where := ""
	if trashed {
		where = " in the trash"
	}
	return nil, crmsync.Errorf(crmsync.ENOTFOUND, "no %s item %s%s", folder, guid, where)
}

// Trash implements crmsync.CRM.
func (s *Service) Trash(ctx context.Context, folder crmsync.Folder) ([]*crmsync.Item, error) {
	if err := checkFolder(folder); err != nil {
		return nil, err
	}
	var out []*crmsync.Item
	err := s.read(ctx, func(ss *session) error {
		items, err := ss.tx.ListItems(folder, true)
		if err != nil {
			return err
		}
		if out, err = ss.visible(items, true); err != nil {
			return err
		}
		return ss.checkExport(folder, len(out))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Restore implements crmsync.CRM: the item must be in the trash and visible
// (ENOTFOUND) and within the caller's Edit level (EFORBIDDEN).
func (s *Service) Restore(ctx context.Context, folder crmsync.Folder, guid string) error {
	if err := checkFolder(folder); err != nil {
		return err
	}
	g, err := parseGUID(guid)
	if err != nil {
		return err
	}
	return s.write(ctx, func(ss *session) error {
		it, err := ss.visibleItem(folder, g, true)
		if err != nil {
			return err
		}
		if ok, err := ss.can(edit, it); err != nil {
			return err
		} else if !ok {
			return crmsync.Errorf(crmsync.EFORBIDDEN, "no right to restore %s item %s", folder, g)
		}
		it.Trashed = false
		it.Version++
		it.Set(crmsync.FieldModifiedByGUID, ss.c.guid())
		it.Set(crmsync.FieldItemChanged, crmsync.FormatTime(ss.s.now()))
		if err := ss.tx.PutItem(it); err != nil {
			return err
		}
		return ss.appendChange(it, false)
	})
}

// SystemJournalType is the English name of the journal type AddSystemJournal
// gives its journals.
const SystemJournalType = "Item conflict"

// AddSystemJournal records a system journal (IsSystem=true, type "Item
// conflict") on a contact, e.g. the values a sync conflict did not keep.
// Users cannot create or change system journals through Save; the sync
// engine calls this as the user it syncs for. The contact must be visible
// to the caller (ENOTFOUND); the journal takes the contact's owner, privacy
// and company, so it is visible exactly where the contact is.
func (s *Service) AddSystemJournal(ctx context.Context, contactGUID, subject, note string) (*crmsync.Item, error) {
	g, err := parseGUID(contactGUID)
	if err != nil {
		return nil, err
	}
	var it *crmsync.Item
	err = s.write(ctx, func(ss *session) error {
		contact, err := ss.visibleItem(crmsync.Contacts, g, false)
		if err != nil {
			return err
		}
		typ, err := ss.ensureEnumValue(crmsync.EnumJournalType, SystemJournalType, true)
		if err != nil {
			return err
		}
		now := crmsync.FormatTime(ss.s.now())
		it = &crmsync.Item{Folder: crmsync.Journal, GUID: ss.s.newGUID(), Version: 1}
		for k, v := range map[string]string{
			crmsync.FieldFileAs:         subject,
			crmsync.FieldNote:           note,
			crmsync.FieldIsSystem:       "true",
			crmsync.FieldJournalType:    typ.GUID,
			crmsync.FieldEventStart:     now,
			crmsync.FieldContactGUID:    contact.GUID,
			crmsync.FieldCompanyGUID:    contact.Get(crmsync.FieldCompanyGUID),
			crmsync.FieldOwnerGUID:      contact.Owner(),
			crmsync.FieldIsPrivate:      contact.Get(crmsync.FieldIsPrivate),
			crmsync.FieldCreatedByGUID:  ss.c.guid(),
			crmsync.FieldModifiedByGUID: ss.c.guid(),
			crmsync.FieldItemCreated:    now,
			crmsync.FieldItemChanged:    now,
		} {
			it.Set(k, v)
		}
		if err := ss.tx.PutItem(it); err != nil {
			return err
		}
		return ss.appendChange(it, false)
	})
	if err != nil {
		return nil, err
	}
	return it, nil
}
