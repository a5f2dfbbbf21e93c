package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/outlook"
)

// PropHasPicture is PidLidHasPicture (PSETID_Address, LID 0x8015), which
// Outlook sets on contacts with a photo. It is read next to the mapped
// extended properties so that contacts known to have no photo cost no
// photo request; when a mailbox does not return it, the photo is fetched.
const PropHasPicture = "Boolean {00062004-0000-0000-C000-000000000046} Id 0x8015"

// mappedProperties are the Graph properties the M9 mapping reads or
// writes, derived from outlook.ApplyFields so that the two cannot drift.
var mappedProperties = func() []string {
	set := map[string]bool{}
	for _, f := range engine.SyncFields {
		props := touchedProperties(map[string]string{f: "x"})
		for _, p := range props {
			set[p] = true
		}
	}
	delete(set, "singleValueExtendedProperties")
	var out []string
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}()

// touchedProperties lists the JSON properties of a contact that fields set.
func touchedProperties(fields map[string]string) []string {
	var c outlook.Contact
	outlook.ApplyFields(&c, fields)
	var m map[string]json.RawMessage
	b, _ := json.Marshal(&c)
	_ = json.Unmarshal(b, &m)
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// readProperties are selected on every contact read: the mapped ones plus
// what a Record needs (version, folder, modification time, display name).
var readProperties = append([]string{"id", "changeKey", "parentFolderId", "lastModifiedDateTime", "displayName"}, mappedProperties...)

// selectQuery is the $select and $expand every contact read sends. Delta
// cannot expand extended properties (§1.6), which is why changed contacts
// are read again with this query.
func selectQuery() string {
	var ids []string
	for _, p := range append(append([]string(nil), outlook.ExtendedProperties...), PropHasPicture) {
		ids = append(ids, "id eq '"+p+"'")
	}
	return "$select=" + strings.Join(readProperties, ",") +
		"&$expand=" + escapeQuery("singleValueExtendedProperties($filter="+strings.Join(ids, " or ")+")")
}

// deltaSelect is what delta pages carry: the id (always) and the version,
// enough to skip contacts this client already holds at that version.
const deltaSelect = "$select=changeKey,parentFolderId"

// contactPage is one page of a listing or of a delta round.
type contactPage struct {
	Value     []json.RawMessage `json:"value"`
	NextLink  string            `json:"@odata.nextLink"`
	DeltaLink string            `json:"@odata.deltaLink"`
}

// deltaEntry is one entry of a delta page.
type deltaEntry struct {
	ID             string          `json:"id"`
	ChangeKey      string          `json:"changeKey"`
	ParentFolderID string          `json:"parentFolderId"`
	Removed        json.RawMessage `json:"@removed"`
}

// Changes lists what changed in the folder since cursor, a deltaLink this
// method returned. "" (or a delta token Graph no longer knows: 410 Gone,
// syncStateNotFound, resyncRequired) gives a complete listing: a fresh
// delta round is run to its deltaLink first, then the folder is listed
// with the extended properties expanded, so the listing is never older
// than the cursor. An incremental round reads changed contacts again in
// $batch GETs, except those this client already holds at the reported
// changeKey (typically its own writes). Removed and moved-out contacts are
// Deleted.
func (cl *Client) Changes(ctx context.Context, cursor string) (engine.ChangeSet, error) {
	if cursor != "" {
		cs, err := cl.incremental(ctx, cursor)
		if !errors.Is(err, errResync) {
			return cs, err
		}
		cl.log.Info("graph delta token expired; listing the folder again")
	}
	return cl.full(ctx)
}

var errResync = errors.New("graph: delta token no longer valid")

// deltaRound follows a delta round from start to its deltaLink.
func (cl *Client) deltaRound(ctx context.Context, start string, each func(deltaEntry)) (string, error) {
	next := start
	for {
		r, err := cl.do(ctx, call{method: http.MethodGet, url: next, prefer: fmt.Sprintf("odata.maxpagesize=%d", cl.cfg.PageSize), safe: true})
		if err != nil {
			return "", fmt.Errorf("reading Outlook changes: %w", err)
		}
		if r.status == http.StatusNotFound {
			return "", crm.Errorf(crm.ENOTFOUND, "reading Outlook changes: the contacts folder no longer exists; run 'crmsync outlook connect' again")
		}
		if r.status != http.StatusOK {
			if r.status == http.StatusGone || strings.Contains(string(r.body), "syncStateNotFound") ||
				strings.Contains(string(r.body), "resyncRequired") || strings.Contains(string(r.body), "SyncStateNotFound") {
				return "", errResync
			}
			return "", statusError("reading Outlook changes", r.status, r.body)
		}
		var page contactPage
		if err := json.Unmarshal(r.body, &page); err != nil {
			return "", fmt.Errorf("decoding a delta page: %w", err)
		}
		for _, raw := range page.Value {
			var e deltaEntry
			if err := json.Unmarshal(raw, &e); err != nil {
				return "", fmt.Errorf("decoding a delta entry: %w", err)
			}
			each(e)
		}
		switch {
		case page.DeltaLink != "":
			return page.DeltaLink, nil
		case page.NextLink == next:
			return "", fmt.Errorf("reading Outlook changes: a delta page links to itself")
		case page.NextLink != "":
			next = page.NextLink
		default:
			return "", fmt.Errorf("reading Outlook changes: a delta page has neither nextLink nor deltaLink")
		}
	}
}

func (cl *Client) full(ctx context.Context) (engine.ChangeSet, error) {
	fid, err := cl.folder(ctx)
	if err != nil {
		return engine.ChangeSet{}, err
	}
	entries := 0
	link, err := cl.deltaRound(ctx, "/me/contactFolders/"+url.PathEscape(fid)+"/contacts/delta?"+deltaSelect, func(deltaEntry) { entries++ })
	if err != nil {
		return engine.ChangeSet{}, err
	}
	if entries == 0 {
		// The folder was empty as of the cursor: nothing to list (a first
		// sync into a new mailbox saves a round trip).
		return engine.ChangeSet{Complete: true, Cursor: link}, nil
	}
	contacts, err := cl.listFolder(ctx, fid)
	if err != nil {
		return engine.ChangeSet{}, err
	}
	records, err := cl.records(ctx, contacts, false)
	if err != nil {
		return engine.ChangeSet{}, err
	}
	return engine.ChangeSet{Records: records, Complete: true, Cursor: link}, nil
}

func (cl *Client) incremental(ctx context.Context, cursor string) (engine.ChangeSet, error) {
	fid, err := cl.folder(ctx)
	if err != nil {
		return engine.ChangeSet{}, err
	}
	if !strings.HasPrefix(cursor, cl.base+"/") {
		return engine.ChangeSet{}, crm.Errorf(crm.EINVALID, "graph: the Outlook cursor is not a delta link of this mailbox")
	}
	type state struct {
		changeKey string
		removed   bool
	}
	latest := map[string]state{}
	var order []string
	link, err := cl.deltaRound(ctx, cursor, func(e deltaEntry) {
		if _, ok := latest[e.ID]; !ok {
			order = append(order, e.ID)
		}
		// Entries may repeat and come in any order; the last one wins.
		latest[e.ID] = state{changeKey: e.ChangeKey, removed: len(e.Removed) > 0 || (e.ParentFolderID != "" && e.ParentFolderID != fid)}
	})
	if err != nil {
		return engine.ChangeSet{}, err
	}
	cs := engine.ChangeSet{Cursor: link}
	var reread []string
	for _, id := range order {
		s := latest[id]
		if s.removed {
			cs.Deleted = append(cs.Deleted, id)
			cl.forget(id)
			continue
		}
		if rec, ok := cl.cached(id, s.changeKey); ok {
			cs.Records = append(cs.Records, rec)
			continue
		}
		reread = append(reread, id)
	}
	contacts, missing, err := cl.readContacts(ctx, reread)
	if err != nil {
		return engine.ChangeSet{}, err
	}
	cs.Deleted = append(cs.Deleted, missing...)
	var moved []string
	var keep []*outlook.Contact
	for _, c := range contacts {
		if c.ParentFolderID != "" && c.ParentFolderID != fid {
			moved = append(moved, c.ID)
			continue
		}
		keep = append(keep, c)
	}
	cs.Deleted = append(cs.Deleted, moved...)
	recs, err := cl.records(ctx, keep, false)
	if err != nil {
		return engine.ChangeSet{}, err
	}
	cs.Records = append(cs.Records, recs...)
	return cs, nil
}

// listFolder reads every contact of the folder with its extended
// properties: one request per PageSize contacts.
func (cl *Client) listFolder(ctx context.Context, fid string) ([]*outlook.Contact, error) {
	var contacts []*outlook.Contact
	next := "/me/contactFolders/" + url.PathEscape(fid) + "/contacts?" + selectQuery()
	for next != "" {
		var page contactPage
		if err := cl.getJSON(ctx, next, fmt.Sprintf("odata.maxpagesize=%d", cl.cfg.PageSize), &page); err != nil {
			return nil, fmt.Errorf("listing Outlook contacts: %w", err)
		}
		for _, raw := range page.Value {
			c, err := decodeContact(raw)
			if err != nil {
				return nil, err
			}
			contacts = append(contacts, c)
		}
		if page.NextLink == next {
			return nil, fmt.Errorf("listing Outlook contacts: a page links to itself")
		}
		next = page.NextLink
	}
	return contacts, nil
}

func decodeContact(raw []byte) (*outlook.Contact, error) {
	var c outlook.Contact
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("decoding an Outlook contact: %w", err)
	}
	if c.ID == "" {
		return nil, fmt.Errorf("decoding an Outlook contact: no id")
	}
	return &c, nil
}

// readContacts reads contacts by id in $batch GETs; ids that are gone are
// returned as missing.
func (cl *Client) readContacts(ctx context.Context, ids []string) ([]*outlook.Contact, []string, error) {
	if len(ids) == 0 {
		return nil, nil, nil
	}
	units := make([]unit, len(ids))
	q := selectQuery()
	for i, id := range ids {
		units[i] = unit{{method: http.MethodGet, url: "/me/contacts/" + url.PathEscape(id) + "?" + q, safe: true}}
	}
	res, err := cl.batch(ctx, units)
	if err != nil {
		return nil, nil, fmt.Errorf("reading Outlook contacts: %w", err)
	}
	var out []*outlook.Contact
	var missing []string
	for i, r := range res {
		switch {
		case r[0].status == http.StatusNotFound:
			missing = append(missing, ids[i])
		case r[0].err != nil:
			return nil, nil, fmt.Errorf("reading Outlook contact: %w", r[0].err)
		default:
			c, err := decodeContact(r[0].body)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, c)
		}
	}
	return out, missing, nil
}

// records turns contacts into Records, remembering them, and fills in the
// photo hash: from memory when this client knows the photo of that
// version, "" when PidLidHasPicture says there is none, otherwise by
// reading the photo. withPhoto also returns the bytes (Get).
func (cl *Client) records(ctx context.Context, contacts []*outlook.Contact, withPhoto bool) ([]engine.Record, error) {
	recs := make([]engine.Record, len(contacts))
	var fetch []int
	for i, c := range contacts {
		recs[i] = toRecord(c)
		hash, known := cl.remember(c)
		if !known && c.Extended(PropHasPicture) != "" && !strings.EqualFold(c.Extended(PropHasPicture), "true") {
			hash, known = "", true
		}
		switch {
		case known && (hash == "" || !withPhoto):
			if hash != "" {
				recs[i].Fields[crm.FieldPicture] = hash
			}
		default:
			fetch = append(fetch, i)
		}
	}
	if len(fetch) == 0 {
		return recs, nil
	}
	// Most answers are 404 (no photo), which in a chained batch would hold
	// back every request after it, so photos are read in parallel batches.
	units := make([]unit, len(fetch))
	for k, i := range fetch {
		units[k] = unit{{method: http.MethodGet, url: "/me/contacts/" + url.PathEscape(contacts[i].ID) + "/photo/$value", safe: true}}
	}
	res, err := cl.batchParallel(ctx, units)
	if err != nil {
		return nil, fmt.Errorf("reading Outlook photos: %w", err)
	}
	for k, i := range fetch {
		r := res[k][0]
		var photo []byte
		switch {
		case r.status == http.StatusNotFound:
		case r.err != nil:
			return nil, fmt.Errorf("reading an Outlook photo: %w", r.err)
		default:
			photo = r.body
		}
		hash := photoHash(photo)
		if hash != "" {
			recs[i].Fields[crm.FieldPicture] = hash
			if withPhoto {
				recs[i].Photo = photo
			}
		}
		cl.rememberPhoto(contacts[i].ID, contacts[i].ChangeKey, hash)
	}
	return recs, nil
}

func toRecord(c *outlook.Contact) engine.Record {
	rec := engine.Record{ID: c.ID, Version: c.ChangeKey, CRMGUID: outlook.CRMGUID(c), Fields: outlook.ToRecordFields(c)}
	if t, err := time.Parse(time.RFC3339, c.LastModifiedDateTime); err == nil {
		rec.Modified = t
	}
	return rec
}

// photoHash is a record's ProfilePicture: the hex SHA-256 of the bytes.
func photoHash(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// remember stores c as the last seen version of its id and returns the
// photo hash known for that version.
func (cl *Client) remember(c *outlook.Contact) (hash string, known bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	s := cl.seen[c.ID]
	if s != nil && s.contact.ChangeKey == c.ChangeKey && s.photoOK {
		s.contact = c.Clone()
		return s.photoHash, true
	}
	cl.seen[c.ID] = &seenContact{contact: c.Clone()}
	return "", false
}

func (cl *Client) rememberPhoto(id, changeKey, hash string) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if s := cl.seen[id]; s != nil && s.contact.ChangeKey == changeKey {
		s.photoHash, s.photoOK = hash, true
	}
}

func (cl *Client) forget(id string) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	delete(cl.seen, id)
}

// cached returns the record of id when this client holds it at changeKey
// with a known photo.
func (cl *Client) cached(id, changeKey string) (engine.Record, bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	s := cl.seen[id]
	if s == nil || changeKey == "" || s.contact.ChangeKey != changeKey || !s.photoOK {
		return engine.Record{}, false
	}
	rec := toRecord(s.contact)
	if s.photoHash != "" {
		rec.Fields[crm.FieldPicture] = s.photoHash
	}
	return rec, true
}

// baseOf returns a copy of the last seen version of id, nil if unknown.
func (cl *Client) baseOf(id string) *outlook.Contact {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if s := cl.seen[id]; s != nil {
		return s.contact.Clone()
	}
	return nil
}

// Get reads contacts by id with their photos, in $batch GETs. Ids that no
// longer exist are omitted.
func (cl *Client) Get(ctx context.Context, ids []string) ([]engine.Record, error) {
	contacts, _, err := cl.readContacts(ctx, ids)
	if err != nil {
		return nil, err
	}
	return cl.records(ctx, contacts, true)
}

// FindByCRMGUID finds the contacts of the folder tagged with the given CRM
// GUIDs (SPEC S6). Graph cannot $filter contacts on a string extended
// property (§1.3), so the folder is listed with the tag expanded — one
// request per PageSize contacts — and matched here; the listing also
// refreshes what the client remembers.
func (cl *Client) FindByCRMGUID(ctx context.Context, guids []string) ([]engine.Record, error) {
	if len(guids) == 0 {
		return nil, nil
	}
	want := map[string]bool{}
	for _, g := range guids {
		want[strings.ToLower(g)] = true
	}
	fid, err := cl.folder(ctx)
	if err != nil {
		return nil, err
	}
	all, err := cl.listFolder(ctx, fid)
	if err != nil {
		return nil, err
	}
	var found []*outlook.Contact
	for _, c := range all {
		if g := outlook.CRMGUID(c); g != "" && want[strings.ToLower(g)] {
			found = append(found, c)
		}
	}
	return cl.records(ctx, found, false)
}
