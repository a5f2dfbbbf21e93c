package remote

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/crmsync/crmsync/engine"
)

// Cursors. A cursor is "s:" + a sync-token when the book offers
// sync-collection; otherwise "e:" + a compressed list of (href, hash of
// ETag) so that the next full ETag listing fetches only what changed, or,
// for books over maxCursorItems, "h:" + one hash of the whole listing, which
// can only tell "nothing changed" from "something did".
const (
	cursorSync  = "s:"
	cursorETags = "e:"
	cursorHash  = "h:"
	// maxCursorItems bounds the "e:" cursor to about 60 bytes per card.
	maxCursorItems = 20000
)

// member is one card of a listing.
type member struct {
	path string
	etag string
}

// Changes lists what changed since cursor ("" = everything). With
// sync-collection it asks the server for changes since the token taken
// from the previous answer (F11: never a token read after our writes); an
// invalid or expired token falls back to a full listing. Changed cards are
// fetched with addressbook-multiget in batches of BatchSize.
//
// A full listing is Complete unless a card could not be read: such a card
// is logged and left out, and the listing then is not Complete, so that it
// is never mistaken for a delete (S8, F1).
func (c *Client) Changes(ctx context.Context, cursor string) (engine.ChangeSet, error) {
	switch {
	case strings.HasPrefix(cursor, cursorSync) && c.syncable:
		cs, err, fallback := c.syncChanges(ctx, strings.TrimPrefix(cursor, cursorSync))
		if !fallback {
			return cs, err
		}
		c.log.Info("carddav: sync-token refused, listing the whole address book", "book", c.book, "err", err)
		return c.fullListing(ctx)
	case strings.HasPrefix(cursor, cursorETags) || strings.HasPrefix(cursor, cursorHash):
		return c.etagChanges(ctx, cursor)
	}
	return c.fullListing(ctx)
}

// fullListing lists every card and fetches them all.
func (c *Client) fullListing(ctx context.Context) (engine.ChangeSet, error) {
	var (
		members []member
		cursor  string
		err     error
	)
	if c.syncable {
		var token string
		var deleted []string
		members, deleted, token, err = c.syncCollection(ctx, "")
		_ = deleted
		if err == nil {
			cursor = cursorSync + token
		} else {
			c.log.Info("carddav: sync-collection failed, listing ETags", "book", c.book, "err", err)
		}
	}
	if cursor == "" {
		members, err = c.listETags(ctx)
		if err != nil {
			return engine.ChangeSet{}, fmt.Errorf("listing %s: %w", c.book, err)
		}
		cursor = etagCursor(members)
	}
	records, missing, bad, err := c.fetch(ctx, members)
	if err != nil {
		return engine.ChangeSet{}, err
	}
	_ = missing // gone between listing and fetch: simply absent
	return engine.ChangeSet{Records: records, Complete: bad == 0, Cursor: cursor}, nil
}

// syncChanges runs an incremental sync-collection. fallback reports that
// the token was refused and a full listing must replace it.
func (c *Client) syncChanges(ctx context.Context, token string) (engine.ChangeSet, error, bool) {
	members, deleted, next, err := c.syncCollection(ctx, token)
	if err != nil {
		if code := httpStatus(err); code != 0 && code != http.StatusUnauthorized {
			// 403/409 valid-sync-token (RFC 6578 §3.2), 507 truncation and
			// servers that answer 500 to an unknown token (Xandikos 0.2.8).
			return engine.ChangeSet{}, err, true
		}
		return engine.ChangeSet{}, fmt.Errorf("sync-collection on %s: %w", c.book, err), false
	}
	records, missing, _, err := c.fetch(ctx, members)
	if err != nil {
		return engine.ChangeSet{}, err, false
	}
	// A card listed as changed but gone by the time we fetched it was
	// deleted meanwhile; the next token will say so again, harmlessly.
	deleted = append(deleted, missing...)
	return engine.ChangeSet{Records: records, Deleted: deleted, Cursor: cursorSync + next}, nil, false
}

// etagChanges compares a full ETag listing with the one the cursor
// describes and fetches only new or changed cards.
func (c *Client) etagChanges(ctx context.Context, cursor string) (engine.ChangeSet, error) {
	members, err := c.listETags(ctx)
	if err != nil {
		return engine.ChangeSet{}, fmt.Errorf("listing %s: %w", c.book, err)
	}
	next := etagCursor(members)
	if next == cursor {
		return engine.ChangeSet{Cursor: next}, nil
	}
	if strings.HasPrefix(cursor, cursorHash) {
		return c.fetchAll(ctx, members, next)
	}
	old, err := decodeETagCursor(cursor)
	if err != nil {
		// A cursor we cannot read: list everything rather than guess.
		c.log.Warn("carddav: unreadable cursor, listing everything", "book", c.book, "err", err)
		return c.fetchAll(ctx, members, next)
	}
	var changed []member
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		seen[m.path] = true
		if h, ok := old[m.path]; !ok || h != etagHash(m.etag) {
			changed = append(changed, m)
		}
	}
	var deleted []string
	for p := range old {
		if !seen[p] {
			deleted = append(deleted, p)
		}
	}
	sort.Strings(deleted)
	records, missing, _, err := c.fetch(ctx, changed)
	if err != nil {
		return engine.ChangeSet{}, err
	}
	return engine.ChangeSet{Records: records, Deleted: append(deleted, missing...), Cursor: next}, nil
}

func (c *Client) fetchAll(ctx context.Context, members []member, cursor string) (engine.ChangeSet, error) {
	records, _, bad, err := c.fetch(ctx, members)
	if err != nil {
		return engine.ChangeSet{}, err
	}
	return engine.ChangeSet{Records: records, Complete: bad == 0, Cursor: cursor}, nil
}

// maxSyncRounds bounds the REPORTs one listing makes when a server
// truncates its answers (RFC 6578 §3.6: 507 on the collection itself).
const maxSyncRounds = 1000

// syncCollection lists the changes since token with RFC 6578 REPORTs: the
// members added or changed, the paths removed, and the new token. A
// truncated answer is continued from the token it carries.
func (c *Client) syncCollection(ctx context.Context, token string) (members []member, deleted []string, next string, err error) {
	seen := map[string]int{} // path → index in members, so a later round wins
	gone := map[string]bool{}
	for range maxSyncRounds {
		truncated := false
		next, err = c.syncRound(ctx, token, func(m member, removed bool, trunc bool) {
			switch {
			case trunc:
				truncated = true
			case removed:
				if i, ok := seen[m.path]; ok {
					members[i].path = "" // added then removed within one listing
					delete(seen, m.path)
				}
				gone[m.path] = true
			default:
				delete(gone, m.path)
				if i, ok := seen[m.path]; ok {
					members[i] = m
				} else {
					seen[m.path] = len(members)
					members = append(members, m)
				}
			}
		})
		if err != nil || !truncated {
			break
		}
		token = next
	}
	if err != nil {
		return nil, nil, "", err
	}
	out := members[:0]
	for _, m := range members {
		if m.path != "" {
			out = append(out, m)
		}
	}
	for p := range gone {
		deleted = append(deleted, p)
	}
	sort.Strings(deleted)
	return out, deleted, next, nil
}

const reportSync = `<?xml version="1.0" encoding="utf-8"?>
<d:sync-collection xmlns:d="DAV:"><d:sync-token>%s</d:sync-token><d:sync-level>1</d:sync-level>
<d:prop><d:getetag/><d:getcontenttype/><d:resourcetype/></d:prop></d:sync-collection>`

// syncRound runs one sync-collection REPORT.
func (c *Client) syncRound(ctx context.Context, token string, each func(m member, removed, truncated bool)) (string, error) {
	body := fmt.Sprintf(reportSync, xmlText(token))
	next, err := c.dav.xmlRequest(ctx, "REPORT", c.book, "", body, func(r *response) error {
		if len(r.Hrefs) == 0 {
			return nil
		}
		p, code := r.ok()
		hp, err := hrefPath(r.Hrefs[0])
		if err != nil {
			c.log.Warn("carddav: skipping bad href", "err", err)
			return nil
		}
		if dirPath(hp) == c.book && code == http.StatusInsufficientStorage {
			each(member{}, false, true)
			return nil
		}
		if !c.inBook(hp) {
			return nil
		}
		if code == http.StatusNotFound || code == http.StatusGone {
			each(member{path: hp}, true, false)
			return nil
		}
		if code/100 != 2 || p.isCollection() || !isVCardType(p.ContentType) {
			return nil
		}
		each(member{path: hp, etag: quoteETag(p.ETag)}, false, false)
		return nil
	})
	if err == nil && next == "" {
		err = fmt.Errorf("carddav: sync-collection on %s returned no sync-token", c.book)
	}
	return next, err
}

const propfindETags = `<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:getcontenttype/><d:resourcetype/></d:prop></d:propfind>`

// listETags is the Depth:1 PROPFIND listing for servers without
// sync-collection (and after a refused token).
func (c *Client) listETags(ctx context.Context) ([]member, error) {
	var members []member
	_, err := c.dav.xmlRequest(ctx, "PROPFIND", c.book, "1", propfindETags, func(r *response) error {
		if len(r.Hrefs) == 0 {
			return nil
		}
		p, code := r.ok()
		hp, err := hrefPath(r.Hrefs[0])
		if err != nil {
			c.log.Warn("carddav: skipping bad href", "err", err)
			return nil
		}
		if code/100 != 2 || !c.inBook(hp) || p.isCollection() || !isVCardType(p.ContentType) {
			return nil
		}
		members = append(members, member{path: hp, etag: quoteETag(p.ETag)})
		return nil
	})
	sort.Slice(members, func(i, j int) bool { return members[i].path < members[j].path })
	return members, err
}

// inBook reports whether p is a member of the book (not the book itself).
func (c *Client) inBook(p string) bool {
	return strings.HasPrefix(p, c.book) && len(p) > len(c.book) && !strings.Contains(p[len(c.book):len(p)-1], "/")
}

// isVCardType accepts text/vcard, text/x-vcard and a missing content type
// (some servers leave it out of listings).
func isVCardType(ct string) bool {
	ct = strings.ToLower(strings.TrimSpace(ct))
	return ct == "" || strings.HasPrefix(ct, "text/vcard") || strings.HasPrefix(ct, "text/x-vcard") || strings.HasPrefix(ct, "text/directory")
}

func etagHash(etag string) uint64 {
	h := sha256.Sum256([]byte(etag))
	return binary.BigEndian.Uint64(h[:8])
}

// etagCursor encodes a listing (sorted by path) as a cursor.
func etagCursor(members []member) string {
	if len(members) > maxCursorItems {
		h := sha256.New()
		for _, m := range members {
			fmt.Fprintf(h, "%s\x00%s\x00", m.path, m.etag)
		}
		return cursorHash + hex.EncodeToString(h.Sum(nil))
	}
	var raw bytes.Buffer
	var n [8]byte
	for _, m := range members {
		raw.WriteString(m.path)
		raw.WriteByte(0)
		binary.BigEndian.PutUint64(n[:], etagHash(m.etag))
		raw.Write(n[:])
	}
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestSpeed)
	w.Write(raw.Bytes())
	w.Close()
	return cursorETags + base64.RawURLEncoding.EncodeToString(z.Bytes())
}

func decodeETagCursor(cursor string) (map[string]uint64, error) {
	z, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(cursor, cursorETags))
	if err != nil {
		return nil, fmt.Errorf("decoding cursor: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(z)), 64<<20))
	if err != nil {
		return nil, fmt.Errorf("decoding cursor: %w", err)
	}
	m := map[string]uint64{}
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, 0)
		if i < 0 || len(raw) < i+9 {
			return nil, fmt.Errorf("decoding cursor: truncated entry")
		}
		m[string(raw[:i])] = binary.BigEndian.Uint64(raw[i+1 : i+9])
		raw = raw[i+9:]
	}
	return m, nil
}
