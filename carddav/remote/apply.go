package remote

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
)

// maxCardSize bounds a card read by GET (a 4 MB photo in base64, with room).
const maxCardSize = 8 << 20

const reportMultiget = `<?xml version="1.0" encoding="utf-8"?>
<c:addressbook-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">
<d:prop><d:getetag/><d:getlastmodified/><c:address-data/></d:prop>%s</c:addressbook-multiget>`

// fetch reads members with addressbook-multiget, BatchSize hrefs per
// request, a few requests at once. It returns the records in the order of
// members, the paths the server no longer has, and how many cards could not
// be decoded (logged and left out).
func (c *Client) fetch(ctx context.Context, members []member) ([]engine.Record, []string, int, error) {
	type batchResult struct {
		records []engine.Record
		missing []string
		bad     int
		err     error
	}
	var batches [][]member
	for i := 0; i < len(members); i += c.batch {
		batches = append(batches, members[i:min(i+c.batch, len(members))])
	}
	results := make([]batchResult, len(batches))
	parallel(make(chan struct{}, c.concurrency), len(batches), func(i int) {
		r := &results[i]
		r.records, r.missing, r.bad, r.err = c.multiget(ctx, batches[i])
	})
	var (
		records []engine.Record
		missing []string
		bad     int
	)
	for _, r := range results {
		if r.err != nil {
			return nil, nil, 0, r.err
		}
		records = append(records, r.records...)
		missing = append(missing, r.missing...)
		bad += r.bad
	}
	return records, missing, bad, nil
}

func (c *Client) multiget(ctx context.Context, batch []member) ([]engine.Record, []string, int, error) {
	var hrefs strings.Builder
	for _, m := range batch {
		hrefs.WriteString(hrefXML(m.path))
	}
	got := make(map[string]engine.Record, len(batch))
	gone := map[string]bool{}
	bad := 0
	_, err := c.dav.xmlRequest(ctx, "REPORT", c.book, "1", fmt.Sprintf(reportMultiget, hrefs.String()), func(r *response) error {
		if len(r.Hrefs) == 0 {
			return nil
		}
		hp, err := hrefPath(r.Hrefs[0])
		if err != nil {
			c.log.Warn("carddav: skipping bad href", "err", err)
			return nil
		}
		p, code := r.ok()
		if code == http.StatusNotFound || code == http.StatusGone {
			gone[hp] = true
			return nil
		}
		if code/100 != 2 || p.AddressData == nil {
			c.log.Warn("carddav: card not returned by multiget", "href", hp, "status", code)
			bad++
			return nil
		}
		rec, err := c.record(hp, quoteETag(p.ETag), []byte(p.AddressData.Text))
		if err != nil {
			c.log.Warn("carddav: skipping a card that cannot be read", "href", hp, "err", err)
			bad++
			return nil
		}
		// The server's clock beats the REV a client wrote, when it has one.
		if m := p.modified(); !m.IsZero() {
			rec.Modified = m
		}
		got[hp] = rec
		return nil
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("fetching cards from %s: %w", c.book, err)
	}
	records := make([]engine.Record, 0, len(got))
	var missing []string
	for _, m := range batch {
		if rec, ok := got[m.path]; ok {
			records = append(records, rec)
		} else if gone[m.path] {
			missing = append(missing, m.path)
		} else if !gone[m.path] {
			// Not in the answer at all: some servers omit unknown hrefs.
			missing = append(missing, m.path)
		}
	}
	return records, missing, bad, nil
}

// record decodes a card into the engine's form.
func (c *Client) record(href, etag string, data []byte) (engine.Record, error) {
	card, err := decodeCard(data)
	if err != nil {
		return engine.Record{}, err
	}
	return engine.Record{
		ID:       href,
		Version:  etag,
		CRMGUID:  card.crmGUID,
		Fields:   card.fields,
		Photo:    card.photo,
		Modified: card.rev,
	}, nil
}

// parallel runs f(0..n-1), each call holding one of slots.
func parallel(slots chan struct{}, n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// Get reads cards by path, with their photos; paths outside the book and
// cards that are gone or unreadable are omitted.
func (c *Client) Get(ctx context.Context, ids []string) ([]engine.Record, error) {
	var members []member
	for _, id := range ids {
		if c.inBook(id) {
			members = append(members, member{path: id})
		}
	}
	records, _, _, err := c.fetch(ctx, members)
	return records, err
}

// FindByCRMGUID finds the cards crmsync created for the given CRM GUIDs.
// It first reads the paths a create would have used (<guid>.vcf), then, for
// GUIDs not found there (a card another client moved or re-created),
// lists and reads the whole book once.
func (c *Client) FindByCRMGUID(ctx context.Context, guids []string) ([]engine.Record, error) {
	want := map[string]bool{}
	var members []member
	for _, g := range guids {
		g = crm.NormalizeGUID(strings.TrimSpace(g))
		if g == "" || want[g] {
			continue
		}
		want[g] = true
		members = append(members, member{path: c.book + hrefName(g)})
	}
	if len(members) == 0 {
		return nil, nil
	}
	records, _, _, err := c.fetch(ctx, members)
	if err != nil {
		return nil, err
	}
	var found []engine.Record
	for _, r := range records {
		if want[r.CRMGUID] {
			found = append(found, r)
			delete(want, r.CRMGUID)
		}
	}
	if len(want) == 0 {
		return found, nil
	}
	all, err := c.listAll(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range all {
		if want[r.CRMGUID] {
			found = append(found, r)
			delete(want, r.CRMGUID)
		}
	}
	return found, nil
}

// listAll reads every card of the book without touching any cursor.
func (c *Client) listAll(ctx context.Context) ([]engine.Record, error) {
	var members []member
	var err error
	if c.syncable {
		members, _, _, err = c.syncCollection(ctx, "")
	}
	if !c.syncable || err != nil {
		members, err = c.listETags(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", c.book, err)
	}
	records, _, _, err := c.fetch(ctx, members)
	return records, err
}

// hrefName is the file name of a card crmsync creates: the GUID itself when
// it is one, else a hash, so that a retried create targets the same href
// (F2) and a foreign identity never becomes an unsafe path (F8).
func hrefName(guid string) string {
	if crm.IsGUID(guid) {
		return crm.NormalizeGUID(guid) + ".vcf"
	}
	h := sha256.Sum256([]byte(guid))
	return hex.EncodeToString(h[:16]) + ".vcf"
}

// Apply performs the writes, at most Concurrency at once over all calls
// (the engine overlaps the calls of consecutive batches); each op gets its
// own result, in order. Create is a PUT with If-None-Match: * to
// <guid>.vcf; Update reads the card, changes the mapped properties, keeps
// every other one, and writes it back with If-Match; Delete sends If-Match;
// MoveToDuplicates copies the card into the duplicates book and then
// deletes it with If-Match.
func (c *Client) Apply(ctx context.Context, ops []engine.Op) ([]engine.Result, error) {
	results := make([]engine.Result, len(ops))
	parallel(c.writeSlots, len(ops), func(i int) {
		op := ops[i]
		var rec *engine.Record
		var err error
		switch op.Kind {
		case engine.Create:
			rec, err = c.create(ctx, op)
		case engine.Update:
			rec, err = c.update(ctx, op)
		case engine.Delete:
			err = c.delete(ctx, op.ID, op.IfVersion)
		case engine.MoveToDuplicates:
			err = c.moveToDuplicates(ctx, op)
		default:
			err = crm.Errorf(crm.EINVALID, "carddav: unknown op kind %d", op.Kind)
		}
		results[i] = engine.Result{Record: rec, Err: err}
	})
	if err := ctx.Err(); err != nil {
		return results, err
	}
	// Every op failed before the server answered: the server is
	// unreachable, which is the whole call's failure, not the items'.
	var first error
	for _, r := range results {
		var ue *url.Error
		if r.Err == nil || !errors.As(r.Err, &ue) {
			return results, nil
		}
		if first == nil {
			first = r.Err
		}
	}
	if first != nil {
		return results, fmt.Errorf("carddav: %s unreachable: %w", c.dav.base.Host, first)
	}
	return results, nil
}

func (c *Client) create(ctx context.Context, op engine.Op) (*engine.Record, error) {
	if err := checkPhoto(op); err != nil {
		return nil, err
	}
	guid := crm.NormalizeGUID(strings.TrimSpace(op.CRMGUID))
	uid := guid
	if guid == "" {
		uid = newUUID()
	} else if !crm.IsGUID(guid) {
		uid = strings.TrimSuffix(hrefName(guid), ".vcf")
	}
	data, err := encodeCard(op.Fields, op.Photo, uid, guid, nil)
	if err != nil {
		return nil, &crm.Error{Code: crm.EINVALID, Op: "carddav create", Message: err.Error(), Err: err}
	}
	p := c.book + hrefName(uid)
	etag, err := c.put(ctx, p, data, "", true)
	switch httpStatus(err) {
	case 0:
	case http.StatusPreconditionFailed, http.StatusConflict:
		// 412: a card is already at this href (an earlier attempt of this
		// create); 409: Radicale's no-uid-conflict, the UID lives at another
		// href. Either way the create already happened: return that card.
		var existing []engine.Record
		var ferr error
		if httpStatus(err) == http.StatusPreconditionFailed {
			existing, ferr = c.Get(ctx, []string{p})
		}
		if len(existing) == 0 && ferr == nil && guid != "" {
			existing, ferr = c.FindByCRMGUID(ctx, []string{guid})
		}
		if ferr != nil {
			return nil, fmt.Errorf("carddav create: reading the existing card: %w", ferr)
		}
		if len(existing) == 0 {
			return nil, domainError("carddav create", err)
		}
		return &existing[0], &crm.Error{Code: crm.EEXISTS, Op: "carddav create", Message: "the card already exists", Err: err}
	default:
		return nil, domainError("carddav create", err)
	}
	return c.written(ctx, p, etag, data)
}

// written returns the record of a card just PUT: its fields as we wrote
// them, and the ETag from the answer (read back when the server sent none,
// as servers do that rewrite the card).
func (c *Client) written(ctx context.Context, p, etag string, data []byte) (*engine.Record, error) {
	if etag == "" {
		got, err := c.Get(ctx, []string{p})
		if err != nil {
			return nil, fmt.Errorf("carddav: reading %s back: %w", p, err)
		}
		if len(got) == 0 {
			return nil, crm.Errorf(crm.ENOTFOUND, "carddav: %s vanished after the write", p)
		}
		return &got[0], nil
	}
	rec, err := c.record(p, etag, data)
	if err != nil {
		return nil, fmt.Errorf("carddav: decoding the card written to %s: %w", p, err)
	}
	return &rec, nil
}

func (c *Client) update(ctx context.Context, op engine.Op) (*engine.Record, error) {
	if !c.inBook(op.ID) {
		return nil, crm.Errorf(crm.ENOTFOUND, "carddav: %s is not in %s", op.ID, c.book)
	}
	if err := checkPhoto(op); err != nil {
		return nil, err
	}
	data, etag, err := c.get(ctx, op.ID)
	if err != nil {
		return nil, domainError("carddav update", err)
	}
	if op.IfVersion != "" && quoteETag(op.IfVersion) != etag {
		return nil, crm.Errorf(crm.EPRECONDITION, "carddav: %s changed since it was read", op.ID)
	}
	card, err := decodeCard(data)
	if err != nil {
		return nil, &crm.Error{Code: crm.EINVALID, Op: "carddav update", Message: "the card on the server cannot be read", Err: err}
	}
	fields := make(map[string]string, len(card.fields)+len(op.Fields))
	for k, v := range card.fields {
		fields[k] = v
	}
	photo := card.photo
	for k, v := range op.Fields {
		if v == "" {
			delete(fields, k)
		} else {
			fields[k] = v
		}
		if k == crm.FieldPicture {
			photo = op.Photo
			if v == "" {
				photo = nil
			}
		}
	}
	uid := card.uid
	if uid == "" {
		uid = newUUID()
	}
	out, err := encodeCard(fields, photo, uid, card.crmGUID, card.card)
	if err != nil {
		return nil, &crm.Error{Code: crm.EINVALID, Op: "carddav update", Message: err.Error(), Err: err}
	}
	newETag, err := c.put(ctx, op.ID, out, etag, false)
	if err != nil {
		return nil, domainError("carddav update", err)
	}
	return c.written(ctx, op.ID, newETag, out)
}

// checkPhoto refuses a write whose ProfilePicture names a picture without
// its bytes, or other bytes: writing it would drop or garble the photo,
// and the next sync would read that as the user's edit.
func checkPhoto(op engine.Op) error {
	h, ok := op.Fields[crm.FieldPicture]
	if !ok || h == "" {
		return nil
	}
	if len(op.Photo) == 0 {
		return crm.Errorf(crm.EINVALID, "carddav: the write sets a photo but carries no picture")
	}
	if engine.PhotoHash(op.Photo) != h {
		return crm.Errorf(crm.EINVALID, "carddav: the picture does not match its hash")
	}
	return nil
}

func (c *Client) delete(ctx context.Context, p, ifVersion string) error {
	if !c.inBook(p) {
		return crm.Errorf(crm.ENOTFOUND, "carddav: %s is not in %s", p, c.book)
	}
	hdr := http.Header{}
	if ifVersion != "" {
		hdr.Set("If-Match", quoteETag(ifVersion))
	}
	resp, err := c.dav.do(ctx, http.MethodDelete, p, hdr, nil, false)
	if err != nil {
		return domainError("carddav delete", err)
	}
	resp.Body.Close()
	return nil
}

// get reads one card and its ETag.
func (c *Client) get(ctx context.Context, p string) ([]byte, string, error) {
	resp, err := c.dav.do(ctx, http.MethodGet, p, http.Header{"Accept": {vcardType}}, nil, false)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxCardSize+1))
	if err != nil {
		return nil, "", fmt.Errorf("carddav: GET %s: %w", p, err)
	}
	if len(data) > maxCardSize {
		return nil, "", crm.Errorf(crm.EINVALID, "carddav: %s is larger than %d bytes", p, maxCardSize)
	}
	return data, quoteETag(resp.Header.Get("ETag")), nil
}

// put writes a card: conditional on ifMatch, or on absence with
// ifNoneMatch. It returns the new ETag, "" when the server sent none.
func (c *Client) put(ctx context.Context, p string, data []byte, ifMatch string, ifNoneMatch bool) (string, error) {
	hdr := http.Header{"Content-Type": {vcardType + "; charset=utf-8"}}
	if ifMatch != "" {
		hdr.Set("If-Match", quoteETag(ifMatch))
	}
	if ifNoneMatch {
		hdr.Set("If-None-Match", "*")
	}
	resp, err := c.dav.do(ctx, http.MethodPut, p, hdr, data, false)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return quoteETag(resp.Header.Get("ETag")), nil
}

// moveToDuplicates copies the card unchanged into the duplicates book, then
// deletes it with If-Match; a retry finds the copy already there (412) and
// goes on with the delete. Without a duplicates book it does nothing.
func (c *Client) moveToDuplicates(ctx context.Context, op engine.Op) error {
	if c.dupName == "" {
		return nil
	}
	if !c.inBook(op.ID) {
		return crm.Errorf(crm.ENOTFOUND, "carddav: %s is not in %s", op.ID, c.book)
	}
	dup, err := c.duplicatesBook(ctx)
	if err != nil {
		return err
	}
	data, etag, err := c.get(ctx, op.ID)
	if err != nil {
		return domainError("carddav move to duplicates", err)
	}
	if op.IfVersion != "" && quoteETag(op.IfVersion) != etag {
		return crm.Errorf(crm.EPRECONDITION, "carddav: %s changed since it was read", op.ID)
	}
	if _, err := c.put(ctx, dup+path.Base(op.ID), data, "", true); err != nil && httpStatus(err) != http.StatusPreconditionFailed {
		return domainError("carddav move to duplicates", err)
	}
	return c.delete(ctx, op.ID, etag)
}

const mkcolAddressBook = `<?xml version="1.0" encoding="utf-8"?>
<d:mkcol xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:set><d:prop>
<d:resourcetype><d:collection/><c:addressbook/></d:resourcetype><d:displayname>%s</d:displayname>
</d:prop></d:set></d:mkcol>`

// duplicatesBook finds or creates (extended MKCOL, RFC 5689) the
// duplicates address book.
func (c *Client) duplicatesBook(ctx context.Context) (string, error) {
	c.dupOnce.Lock()
	defer c.dupOnce.Unlock()
	if c.dupBook != "" {
		return c.dupBook, nil
	}
	p := c.dupName
	if !strings.HasPrefix(p, "/") {
		books, err := c.listBooks(ctx)
		if err != nil {
			return "", fmt.Errorf("carddav: listing address books: %w", err)
		}
		for _, b := range books {
			if b.name == p || path.Base(strings.TrimSuffix(b.path, "/")) == p {
				c.dupBook = b.path
				return c.dupBook, nil
			}
		}
		p = c.homeSet + safeSegment(p)
	}
	p = dirPath(p)
	if _, pr, err := c.propfind0(ctx, p); err == nil && pr.isAddressBook() {
		c.dupBook = p
		return p, nil
	}
	resp, err := c.dav.do(ctx, "MKCOL", p, http.Header{"Content-Type": {`application/xml; charset="utf-8"`}},
		[]byte(fmt.Sprintf(mkcolAddressBook, xmlText(c.dupName))), false)
	if err != nil {
		return "", domainError("carddav: creating the duplicates address book", err)
	}
	resp.Body.Close()
	c.dupBook = p
	return p, nil
}

// safeSegment turns a display name into a path segment.
func safeSegment(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	if b.Len() == 0 {
		return "duplicates"
	}
	return b.String()
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
