package service

import (
	"context"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/crmsync/crmsync"
)

// link is one kind of relation crmsync keeps: a foreign key of the child.
type link struct {
	typ    string
	parent crmsync.Folder
	child  crmsync.Folder
	field  string
	mask   byte // makes the relation GUID of each kind of link on one child distinct
}

var links = []link{
	{crmsync.RelationCompany, crmsync.Companies, crmsync.Contacts, crmsync.FieldCompanyGUID, 0x3c},
	{crmsync.RelationContact, crmsync.Contacts, crmsync.Journal, crmsync.FieldContactGUID, 0x5a},
	{crmsync.RelationCompany, crmsync.Companies, crmsync.Journal, crmsync.FieldCompanyGUID, 0xa5},
}

// relationGUID derives a link's GUID from its child: the child's GUID with
// every byte XORed with the link's mask, so that it can be turned back.
func (l link) relationGUID(child string) string {
	b, _ := hex.DecodeString(strings.ReplaceAll(child, "-", ""))
	for i := range b {
		b[i] ^= l.mask
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (l link) relation(parent, child string) crmsync.Relation {
	return crmsync.Relation{GUID: l.relationGUID(child), Type: l.typ,
		ParentFolder: l.parent, ParentGUID: parent, ChildFolder: l.child, ChildGUID: child}
}

// Relations implements crmsync.CRM: the links of the visible items of
// folder with the given GUIDs, by item GUID, to items the caller may see.
func (s *Service) Relations(ctx context.Context, folder crmsync.Folder, guids []string) (map[string][]crmsync.Relation, error) {
	if err := checkFolder(folder); err != nil {
		return nil, err
	}
	out := map[string][]crmsync.Relation{}
	err := s.read(ctx, func(ss *session) error {
		items, err := ss.items(folder, guids, false)
		if err != nil {
			return err
		}
		for _, it := range items {
			rels, err := ss.relationsOf(it)
			if err != nil {
				return err
			}
			out[it.GUID] = rels
		}
		return nil
	})
	return out, err
}

// relationsOf lists the links of a visible item whose other end the caller
// sees: parents through its foreign keys, children through theirs.
func (ss *session) relationsOf(it *crmsync.Item) ([]crmsync.Relation, error) {
	rels := []crmsync.Relation{}
	for _, l := range links {
		switch it.Folder {
		case l.child:
			parent := it.Get(l.field)
			if parent == "" {
				continue
			}
			ps, err := ss.items(l.parent, []string{parent}, false)
			if err != nil {
				return nil, err
			}
			if len(ps) == 1 {
				rels = append(rels, l.relation(parent, it.GUID))
			}
		case l.parent:
			children, indexed, err := ss.tx.FindItems(l.child, l.field, it.GUID)
			if err != nil {
				return nil, err
			}
			if !indexed { // every store indexes the foreign keys (Store.FindItems)
				return nil, crmsync.Errorf(crmsync.EINTERNAL, "store cannot look up %s by %s", l.child, l.field)
			}
			if children, err = ss.visible(children, false); err != nil {
				return nil, err
			}
			slices.SortFunc(children, func(a, b *crmsync.Item) int { return strings.Compare(a.GUID, b.GUID) })
			for _, c := range children {
				rels = append(rels, l.relation(it.GUID, c.GUID))
			}
		}
	}
	return rels, nil
}

// findLink returns the kind of link between folders a and b (either order)
// and whether a is the parent.
func findLink(a, b crmsync.Folder, typ string) (link, bool, error) {
	for _, l := range links {
		if (l.parent == a && l.child == b) || (l.parent == b && l.child == a) {
			if typ != "" && typ != l.typ {
				break
			}
			return l, l.parent == a, nil
		}
	}
	if typ == "" {
		typ = "any"
	}
	return link{}, false, crmsync.Errorf(crmsync.EINVALID,
		"crmsync keeps only the COMPANY links Companies→Contacts and Companies→Journal and the CONTACT link Contacts→Journal; a %s link between %s and %s is not kept",
		typ, a, b)
}

// SaveRelation implements crmsync.CRM: it links two items by setting the
// child's foreign key, a save of the child under the usual rights (Edit on
// the child; the parent must be visible).
func (s *Service) SaveRelation(ctx context.Context, a crmsync.Folder, aGUID string, b crmsync.Folder, bGUID string, typ string) (crmsync.Relation, error) {
	l, aIsParent, err := findLink(a, b, typ)
	if err != nil {
		return crmsync.Relation{}, err
	}
	parent, child := aGUID, bGUID
	if !aIsParent {
		parent, child = bGUID, aGUID
	}
	if parent, err = parseGUID(parent); err != nil {
		return crmsync.Relation{}, err
	}
	if child, err = parseGUID(child); err != nil {
		return crmsync.Relation{}, err
	}
	err = s.read(ctx, func(ss *session) error {
		_, err := ss.visibleItem(l.parent, parent, false)
		return err
	})
	if err != nil {
		return crmsync.Relation{}, err
	}
	if err := s.saveLink(ctx, l, child, parent); err != nil {
		return crmsync.Relation{}, err
	}
	return l.relation(parent, child), nil
}

func (s *Service) saveLink(ctx context.Context, l link, child, parent string) error {
	res, err := s.Save(ctx, l.child, []crmsync.Patch{{GUID: child, Set: map[string]string{l.field: parent}}}, crmsync.SaveOptions{})
	if err != nil {
		return err
	}
	if len(res) == 1 && res[0].Err != nil {
		return res[0].Err
	}
	return nil
}

// DeleteRelation implements crmsync.CRM: it clears the child's foreign key
// of the link with GUID guid (ENOTFOUND when no visible item has that link).
func (s *Service) DeleteRelation(ctx context.Context, guid string) error {
	guid, err := parseGUID(guid)
	if err != nil {
		return err
	}
	var found *link
	var child string
	err = s.read(ctx, func(ss *session) error {
		for i, l := range links {
			c := l.relationGUID(guid) // XOR is its own inverse
			it, err := ss.tx.Item(l.child, c)
			if err != nil {
				return err
			}
			if it == nil || it.Trashed || it.Get(l.field) == "" {
				continue
			}
			if ok, err := ss.can(view, it); err != nil || !ok {
				return err
			}
			found, child = &links[i], c
			return nil
		}
		return nil
	})
	if err != nil {
		return err
	}
	if found == nil {
		return crmsync.Errorf(crmsync.ENOTFOUND, "no relation %s", guid)
	}
	return s.saveLink(ctx, *found, child, "")
}

// RelationChanges implements crmsync.CRM: the links made or removed by the
// changes in (base, target] of the items the caller could see at the
// change, each link once with its last state.
func (s *Service) RelationChanges(ctx context.Context, base, target int64) ([]crmsync.RelationChange, error) {
	if err := checkRange(base, target); err != nil {
		return nil, err
	}
	var out []crmsync.RelationChange
	err := s.read(ctx, func(ss *session) error {
		changes, err := ss.tx.Changes([]crmsync.Folder{crmsync.Contacts, crmsync.Journal}, base, target)
		if err != nil {
			return err
		}
		// prev holds each child's snapshot before the change being looked at.
		prev := map[itemKey]Snapshot{}
		byFolder := map[crmsync.Folder][]string{}
		for _, c := range changes {
			k := itemKey{c.Folder, c.GUID}
			if _, ok := prev[k]; !ok {
				prev[k] = Snapshot{}
				byFolder[c.Folder] = append(byFolder[c.Folder], c.GUID)
			}
		}
		for f, guids := range byFolder {
			before, err := ss.tx.ChangesBefore(f, guids, base)
			if err != nil {
				return err
			}
			for _, c := range before {
				if !c.Removed {
					prev[itemKey{f, c.GUID}] = c.Snapshot
				}
			}
		}
		index := map[string]int{} // relation GUID → position in out
		for _, c := range changes {
			k := itemKey{c.Folder, c.GUID}
			was, now := prev[k], c.Snapshot
			if c.Removed {
				now = Snapshot{}
			}
			prev[k] = now
			seen, err := ss.canSnapshot(view, c.Folder, c.GUID, c.Snapshot)
			if err != nil {
				return err
			}
			if !seen {
				continue
			}
			for _, l := range links {
				if l.child != c.Folder {
					continue
				}
				old, cur := linkOf(l, was), linkOf(l, now)
				if old == cur {
					continue
				}
				if old, err = ss.seenParent(l.parent, old); err != nil {
					return err
				}
				if cur, err = ss.seenParent(l.parent, cur); err != nil {
					return err
				}
				if old != "" {
					out = putChange(out, index, crmsync.RelationChange{Relation: l.relation(old, c.GUID), Removed: true, ChildVersion: c.Version})
				}
				if cur != "" {
					out = putChange(out, index, crmsync.RelationChange{Relation: l.relation(cur, c.GUID), ChildVersion: c.Version})
				}
			}
		}
		return nil
	})
	return out, err
}

// seenParent returns guid if the caller may see that parent (in the trash
// or not: a link to a deleted company is still reported removed), else "",
// so that the feed names no item the caller cannot see.
func (ss *session) seenParent(folder crmsync.Folder, guid string) (string, error) {
	if guid == "" {
		return "", nil
	}
	it, err := ss.tx.Item(folder, guid)
	if err != nil || it == nil {
		return "", err
	}
	ok, err := ss.can(view, it)
	if err != nil || !ok {
		return "", err
	}
	return guid, nil
}

func linkOf(l link, snap Snapshot) string {
	if l.field == crmsync.FieldContactGUID {
		return snap.ContactGUID
	}
	return snap.CompanyGUID
}

// putChange records a relation's latest state: a link removed and made
// again in one range keeps one entry, with its last state. A link made and
// removed again reports the removal (the client may have seen the link).
func putChange(out []crmsync.RelationChange, index map[string]int, rc crmsync.RelationChange) []crmsync.RelationChange {
	key := rc.GUID + "/" + rc.ParentGUID
	if i, ok := index[key]; ok {
		out[i] = rc
		return out
	}
	index[key] = len(out)
	return append(out, rc)
}
