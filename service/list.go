package service

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"

	"github.com/crmsync/crmsync"
)

var _ crmsync.Lister = (*Service)(nil)

// ItemPager is what a Store transaction may offer for paged listings: up to
// limit items of folder after (afterKey, afterGUID) in (crmsync.SortKey,
// GUID) order whose crmsync.SearchText contains search (lower case; "" =
// any). A Tx without it is listed by a scan of the folder.
type ItemPager interface {
	PageItems(folder crmsync.Folder, trashed bool, search, afterKey, afterGUID string, limit int) ([]*crmsync.Item, error)
}

const (
	defaultPage = 50
	maxPage     = 500
)

// List implements crmsync.Lister. Invisible items are skipped as
// everywhere, so a page may need several store pages. A page larger than
// ExportFreeItems needs the Export right, as every other read.
func (s *Service) List(ctx context.Context, folder crmsync.Folder, q crmsync.ListQuery) (crmsync.ItemPage, error) {
	if err := checkFolder(folder); err != nil {
		return crmsync.ItemPage{}, err
	}
	limit := q.Limit
	if limit == 0 {
		limit = defaultPage
	}
	if limit < 1 || limit > maxPage {
		return crmsync.ItemPage{}, crmsync.Errorf(crmsync.EINVALID, "page size %d is outside 1..%d", q.Limit, maxPage)
	}
	key, guid, err := decodeCursor(q.After)
	if err != nil {
		return crmsync.ItemPage{}, err
	}
	needle := strings.ToLower(strings.TrimSpace(q.Search))
	var page crmsync.ItemPage
	err = s.read(ctx, func(ss *session) error {
		if err := ss.checkExport(folder, limit); err != nil {
			return err
		}
		pager, ok := ss.tx.(ItemPager)
		if !ok {
			pager = scanPager{ss.tx}
		}
		batch := max(limit+1, 200)
		for len(page.Items) <= limit {
			items, err := pager.PageItems(folder, q.Trashed, needle, key, guid, batch)
			if err != nil {
				return err
			}
			for _, it := range items {
				key, guid = crmsync.SortKey(it), it.GUID
				if ok, err := ss.can(view, it); err != nil {
					return err
				} else if ok {
					page.Items = append(page.Items, it)
					if len(page.Items) > limit {
						break
					}
				}
			}
			if len(items) < batch {
				break
			}
		}
		return nil
	})
	if err != nil {
		return crmsync.ItemPage{}, err
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		last := page.Items[limit-1]
		page.Next = encodeCursor(crmsync.SortKey(last), last.GUID)
	}
	return page, nil
}

func encodeCursor(key, guid string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(key + "\x00" + guid))
}

func decodeCursor(c string) (key, guid string, err error) {
	if c == "" {
		return "", "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		var ok bool
		if key, guid, ok = strings.Cut(string(b), "\x00"); ok {
			return key, guid, nil
		}
	}
	return "", "", crmsync.Errorf(crmsync.EINVALID, "bad page cursor %q", c)
}

// scanPager pages a Tx without ItemPager by reading the whole folder.
type scanPager struct{ tx Tx }

func (p scanPager) PageItems(folder crmsync.Folder, trashed bool, search, afterKey, afterGUID string, limit int) ([]*crmsync.Item, error) {
	all, err := p.tx.ListItems(folder, trashed)
	if err != nil {
		return nil, err
	}
	type keyed struct {
		key string
		it  *crmsync.Item
	}
	var rest []keyed
	for _, it := range all {
		k := crmsync.SortKey(it)
		if (k > afterKey || k == afterKey && it.GUID > afterGUID) && strings.Contains(crmsync.SearchText(it), search) {
			rest = append(rest, keyed{k, it})
		}
	}
	slices.SortFunc(rest, func(a, b keyed) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.it.GUID, b.it.GUID)
	})
	out := make([]*crmsync.Item, 0, min(limit, len(rest)))
	for _, k := range rest[:min(limit, len(rest))] {
		out = append(out, k.it)
	}
	return out, nil
}

// Access implements crmsync.Lister; invisible and unknown GUIDs are left
// out, trashed items included (a trash page needs Edit to restore).
func (s *Service) Access(ctx context.Context, folder crmsync.Folder, guids []string) (map[string]crmsync.Access, error) {
	if err := checkFolder(folder); err != nil {
		return nil, err
	}
	norm := make([]string, 0, len(guids))
	for _, g := range guids {
		n, err := parseGUID(g)
		if err != nil {
			return nil, err
		}
		norm = append(norm, n)
	}
	out := map[string]crmsync.Access{}
	err := s.read(ctx, func(ss *session) error {
		items, err := ss.tx.ItemsByGUID(folder, norm)
		if err != nil {
			return err
		}
		for _, it := range items {
			if ok, err := ss.can(view, it); err != nil || !ok {
				if err != nil {
					return err
				}
				continue
			}
			var a crmsync.Access
			if a.Edit, err = ss.can(edit, it); err != nil {
				return err
			}
			if a.Delete, err = ss.can(del, it); err != nil {
				return err
			}
			if it.Folder == crmsync.Journal && it.Get(crmsync.FieldIsSystem) == "true" {
				a.Edit = false // system journals are read-only (Save refuses them)
			}
			out[it.GUID] = a
		}
		return nil
	})
	return out, err
}
