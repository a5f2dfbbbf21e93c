package service

import (
	"context"
	"slices"

	"github.com/crmsync/crmsync"
)

func checkRange(base, target int64) error {
	if base < 0 || target < base {
		return crmsync.Errorf(crmsync.EINVALID, "bad change range (%d, %d]", base, target)
	}
	return nil
}

// LastChangeID implements crmsync.CRM; any signed-in caller may ask.
func (s *Service) LastChangeID(ctx context.Context) (int64, error) {
	var id int64
	err := s.read(ctx, func(ss *session) error {
		var err error
		id, err = ss.tx.LastChangeID()
		return err
	})
	return id, err
}

// fed is one item of the feed: its last change in the range and, when the
// caller sees it now, its current state.
type fed struct {
	change crmsync.Change
	item   *crmsync.Item // nil when removed or no longer visible
}

type itemKey struct {
	folder crmsync.Folder
	guid   string
}

// Verdicts of the feed on an item.
const (
	hidden  = iota
	shown   // visible now: reported with its current state
	removed // was visible, is not now: reported as removed
	unknown // depends on the state before the range
)

// feed computes the caller's view of the changes of folders in (base,
// target], one entry per item (its last change there), in change order.
// An item the caller cannot see now is reported as removed only if the
// caller could see it at one of those changes or just before base, so that
// the feed never reveals items the caller never saw.
func (ss *session) feed(folders []crmsync.Folder, base, target int64) ([]fed, error) {
	changes, err := ss.tx.Changes(folders, base, target)
	if err != nil {
		return nil, err
	}
	// last maps each item to the index of its last change; earlier[i] is
	// the index of the item's change before changes[i] (-1 for its first).
	last := make(map[itemKey]int, len(changes))
	earlier := make([]int, len(changes))
	for i, c := range changes {
		k := itemKey{c.Folder, c.GUID}
		if j, ok := last[k]; ok {
			earlier[i] = j
		} else {
			earlier[i] = -1
		}
		last[k] = i
	}
	verdict := make([]int, len(changes))
	before := map[crmsync.Folder][]string{}
	for i, c := range changes {
		k := itemKey{c.Folder, c.GUID}
		if last[k] != i {
			continue
		}
		if it := c.Item; it != nil && !it.Trashed {
			ok, err := ss.can(view, it)
			if err != nil {
				return nil, err
			}
			if ok {
				verdict[i] = shown
				continue
			}
		}
		if ss.c.system {
			verdict[i] = removed
			continue
		}
		first := i
		for j := i; j >= 0; j = earlier[j] {
			first = j
			ok, err := ss.canSnapshot(view, c.Folder, c.GUID, changes[j].Snapshot)
			if err != nil {
				return nil, err
			}
			if ok {
				verdict[i] = removed
				break
			}
		}
		// Nothing precedes the range when it starts at the beginning of
		// the log or holds the item's creation.
		if verdict[i] == hidden && base > 0 && changes[first].Version != 1 {
			verdict[i] = unknown
			before[c.Folder] = append(before[c.Folder], c.GUID)
		}
	}
	prev := map[itemKey]LoggedChange{}
	for f, guids := range before {
		lcs, err := ss.tx.ChangesBefore(f, guids, base)
		if err != nil {
			return nil, err
		}
		for _, lc := range lcs {
			prev[itemKey{lc.Folder, lc.GUID}] = lc
		}
	}
	var out []fed
	for i, c := range changes {
		v := verdict[i]
		if v == unknown {
			v = hidden
			if lc, ok := prev[itemKey{c.Folder, c.GUID}]; ok {
				saw, err := ss.canSnapshot(view, c.Folder, c.GUID, lc.Snapshot)
				if err != nil {
					return nil, err
				}
				if saw {
					v = removed
				}
			}
		}
		switch v {
		case shown:
			out = append(out, fed{change: crmsync.Change{ID: c.ID, Folder: c.Folder, GUID: c.GUID, Version: c.Version, At: c.At}, item: c.Item})
		case removed:
			out = append(out, fed{change: crmsync.Change{ID: c.ID, Folder: c.Folder, GUID: c.GUID, Version: c.Version, Removed: true, At: c.At}})
		}
	}
	return out, nil
}

// canSnapshot is can for an item known only by its snapshot. It reuses one
// scratch item per call, so that checking 100,000 identifiers allocates
// nothing per item.
func (ss *session) canSnapshot(pick func(crmsync.Rights) crmsync.Level, folder crmsync.Folder, guid string, snap Snapshot) (bool, error) {
	it := ss.scratch
	if it == nil {
		it = &crmsync.Item{Fields: make(map[string]string, 4)}
		ss.scratch = it
	}
	fillSnapshot(it, folder, guid, snap)
	return ss.can(pick, it)
}

// fillSnapshot makes it the item known by snap: the fields rights checks read.
func fillSnapshot(it *crmsync.Item, folder crmsync.Folder, guid string, snap Snapshot) {
	it.Folder, it.GUID = folder, guid
	clear(it.Fields)
	it.Set(crmsync.FieldOwnerGUID, snap.Owner)
	if snap.Private {
		it.Set(crmsync.FieldIsPrivate, "true")
	}
	it.Set(crmsync.FieldCompanyGUID, snap.CompanyGUID)
	it.Set(crmsync.FieldContactGUID, snap.ContactGUID)
}

func checkFolders(folders []crmsync.Folder) error {
	if len(folders) == 0 {
		return crmsync.Errorf(crmsync.EINVALID, "no folder given")
	}
	for _, f := range folders {
		if err := checkFolder(f); err != nil {
			return err
		}
	}
	return nil
}

// ChangeIdentifiers implements crmsync.CRM: one entry per item changed in
// the range (its last change there), filtered by the caller's View level.
func (s *Service) ChangeIdentifiers(ctx context.Context, folder crmsync.Folder, base, target int64) ([]crmsync.Change, error) {
	if err := checkFolder(folder); err != nil {
		return nil, err
	}
	if err := checkRange(base, target); err != nil {
		return nil, err
	}
	var out []crmsync.Change
	err := s.read(ctx, func(ss *session) error {
		fs, err := ss.feed([]crmsync.Folder{folder}, base, target)
		if err != nil {
			return err
		}
		for _, f := range fs {
			out = append(out, f.change)
		}
		return ss.checkExport(folder, len(out))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ChangedItems implements crmsync.CRM; the answer has one entry per
// requested folder, in the order asked.
func (s *Service) ChangedItems(ctx context.Context, folders []crmsync.Folder, base, target int64) ([]crmsync.ChangedItems, error) {
	if err := checkFolders(folders); err != nil {
		return nil, err
	}
	if err := checkRange(base, target); err != nil {
		return nil, err
	}
	var out []crmsync.ChangedItems
	err := s.read(ctx, func(ss *session) error {
		var uniq []crmsync.Folder
		for _, f := range folders {
			if !slices.Contains(uniq, f) {
				uniq = append(uniq, f)
			}
		}
		fs, err := ss.feed(uniq, base, target)
		if err != nil {
			return err
		}
		idx := map[crmsync.Folder]int{}
		for i, f := range uniq {
			idx[f] = i
			out = append(out, crmsync.ChangedItems{Folder: f})
		}
		for _, f := range fs {
			ci := &out[idx[f.change.Folder]]
			if f.item != nil {
				ci.Items = append(ci.Items, f.item)
			} else {
				ci.Removed = append(ci.Removed, f.change.GUID)
			}
		}
		for _, ci := range out {
			if err := ss.checkExport(ci.Folder, len(ci.Items)+len(ci.Removed)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// HaveItemsChanged implements crmsync.CRM.
func (s *Service) HaveItemsChanged(ctx context.Context, folders []crmsync.Folder, base, target int64) (bool, error) {
	if err := checkFolders(folders); err != nil {
		return false, err
	}
	if err := checkRange(base, target); err != nil {
		return false, err
	}
	var changed bool
	err := s.read(ctx, func(ss *session) error {
		fs, err := ss.feed(folders, base, target)
		changed = len(fs) > 0
		return err
	})
	return changed, err
}

// HavePermissionsChanged implements crmsync.CRM: true when, in the range,
// the rights of a group the caller is in changed, or the caller's
// memberships or administrator flag did. The system caller sees every
// permission change.
func (s *Service) HavePermissionsChanged(ctx context.Context, base, target int64) (bool, error) {
	if err := checkRange(base, target); err != nil {
		return false, err
	}
	var changed bool
	err := s.read(ctx, func(ss *session) error {
		cs, err := ss.tx.Changes([]crmsync.Folder{PermissionsFolder}, base, target)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if ss.c.system || c.GUID == ss.c.guid() || slices.Contains(ss.c.user.Groups, groupKeyName(c.GUID)) {
				changed = true
				return nil
			}
		}
		return nil
	})
	return changed, err
}

const groupKeyPrefix = "group:"

func groupKey(name string) string { return groupKeyPrefix + name }

func groupKeyName(key string) string {
	if len(key) > len(groupKeyPrefix) && key[:len(groupKeyPrefix)] == groupKeyPrefix {
		return key[len(groupKeyPrefix):]
	}
	return "\x00" // matches no group
}
