package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/outlook"
)

// plan is the work for one op.
type plan struct {
	op      engine.Op
	fields  map[string]string // normalized
	photo   []byte            // prepared upload, nil for none
	photoCT string
	photoOp int              // 0 none, 1 set, -1 clear
	contact *outlook.Contact // create: the body; update: base+fields
	done    bool
	result  engine.Result
	// lost marks a create whose answer never came; retry a re-read after
	// a photo clear that found none; needRecord a write whose Record is
	// built from contact once photos are settled.
	lost, retry, needRecord, photoSent bool
}

// Apply performs the writes in $batch requests of up to 20, four batches
// in flight (see batch):
//
//   - Create: POST into the folder with every mapped property and the
//     extended properties (fax, other phone, the CRM GUID tag); a photo is
//     uploaded in a second round, since its URL needs the new id. A create
//     whose answer was lost is looked up by its CRM GUID before it is sent
//     again (SPEC S6), so it never makes a second contact.
//   - Update: PATCH of the changed properties only, structured ones whole,
//     displayName always (Graph regenerates it otherwise), If-Match with
//     the changeKey when IfVersion is set (412 → EPRECONDITION), then the
//     photo, then a GET of the result, all chained in one batch.
//   - Delete: DELETE (an item already gone counts as deleted).
//   - MoveToDuplicates: POST …/move into "Duplicate contacts", created on
//     demand.
//
// Errors per op follow engine.Result. Photos over 4 MB are downscaled.
// Calls may overlap; the requests of the earlier call are sent first.
func (cl *Client) Apply(ctx context.Context, ops []engine.Op) ([]engine.Result, error) {
	// An earlier call's requests go first (see limiter).
	ctx = withRank(ctx, cl.applies.Add(1))
	plans := make([]*plan, len(ops))
	needFolder, needDup := false, false
	var needBase []string
	for i, op := range ops {
		p := &plan{op: op}
		plans[i] = p
		if err := cl.prepare(p); err != nil {
			p.fail(err)
			continue
		}
		switch op.Kind {
		case engine.Create:
			needFolder = true
		case engine.MoveToDuplicates:
			needDup = true
		case engine.Update:
			if cl.baseFor(op) == nil {
				needBase = append(needBase, op.ID)
			}
		}
	}
	var fid, dupID string
	var err error
	if needFolder {
		if fid, err = cl.folder(ctx); err != nil {
			return nil, err
		}
	}
	if needDup {
		if dupID, err = cl.duplicatesID(ctx); err != nil {
			return nil, err
		}
	}
	// An update is built on the contact as it is: displayName is derived
	// from all the name parts, and what the mapping does not carry (e-mail
	// display names, the second home phone) must go back unchanged. A
	// contact this client has not seen at the op's version is read first.
	if len(needBase) > 0 {
		contacts, _, err := cl.readContacts(ctx, needBase)
		if err != nil {
			return nil, err
		}
		for _, c := range contacts {
			cl.remember(c)
		}
	}

	if err := cl.writeRound(ctx, plans, fid, dupID); err != nil {
		return nil, err
	}
	if err := cl.recoverCreates(ctx, plans, fid, dupID); err != nil {
		return nil, err
	}
	if err := cl.photoRound(ctx, plans); err != nil {
		return nil, err
	}
	if err := cl.checkConflicts(ctx, plans); err != nil {
		return nil, err
	}
	out := make([]engine.Result, len(plans))
	for i, p := range plans {
		out[i] = p.result
	}
	return out, nil
}

func (p *plan) fail(err error) {
	p.done = true
	p.result = engine.Result{Err: err}
}

// prepare validates an op and builds what it sends.
func (cl *Client) prepare(p *plan) error {
	op := p.op
	switch op.Kind {
	case engine.Create, engine.Update, engine.Delete, engine.MoveToDuplicates:
	default:
		return crm.Errorf(crm.EINVALID, "graph: unknown write kind %d", op.Kind)
	}
	if op.Kind != engine.Create && op.ID == "" {
		return crm.Errorf(crm.EINVALID, "graph: a write of an existing contact needs its id")
	}
	if op.Kind == engine.Delete || op.Kind == engine.MoveToDuplicates {
		return nil
	}
	p.fields = make(map[string]string, len(op.Fields))
	for k, v := range op.Fields {
		p.fields[k] = outlook.Normalize(k, v)
	}
	if h, ok := op.Fields[crm.FieldPicture]; ok {
		switch {
		case h == "":
			if op.Kind == engine.Update {
				p.photoOp = -1
			}
		case len(op.Photo) == 0:
			return crm.Errorf(crm.EINVALID, "graph: the photo of the contact is missing")
		default:
			b, ct, err := preparePhoto(op.Photo, MaxPhotoBytes)
			if err != nil {
				return err
			}
			p.photo, p.photoCT, p.photoOp = b, ct, 1
		}
	}
	return nil
}

// baseFor returns the contact an update builds on: the version this
// client last saw, if it is the version the op is conditional on (or the
// op is unconditional); nil otherwise.
func (cl *Client) baseFor(op engine.Op) *outlook.Contact {
	b := cl.baseOf(op.ID)
	if b == nil || (op.IfVersion != "" && b.ChangeKey != op.IfVersion) {
		return nil
	}
	return b
}

// writeRound sends the creates, updates, deletes and moves.
func (cl *Client) writeRound(ctx context.Context, plans []*plan, fid, dupID string) error {
	var units []unit
	var idx []int
	// Creates with a photo go first: their uploads, which need the new
	// id, then queue early instead of trailing the call on their own.
	for _, withPhoto := range []bool{true, false} {
		for i, p := range plans {
			if p.done || (p.op.Kind == engine.Create && p.photoOp == 1) != withPhoto {
				continue
			}
			u, err := cl.unitFor(p, fid, dupID)
			if err != nil {
				p.fail(err)
				continue
			}
			units = append(units, u)
			idx = append(idx, i)
		}
	}
	if len(units) == 0 {
		return nil
	}
	// A new contact's photo goes out as soon as the contact exists, in
	// the same stream of batches.
	photoOf := map[int]*plan{}
	n := len(units)
	withPhoto := func(k int) bool { p := plans[idx[k]]; return p.op.Kind == engine.Create && p.photoOp == 1 }
	_, err := cl.batchThen(ctx, units, withPhoto, func(k int, res []subResult) []unit {
		if p, ok := photoOf[k]; ok {
			cl.settlePhoto(p, res)
			return nil
		}
		p := plans[idx[k]]
		cl.settle(p, res)
		if p.op.Kind != engine.Create || p.photoOp != 1 || p.contact == nil || p.done || p.lost {
			return nil
		}
		photoOf[n] = p
		n++
		p.photoSent = true
		return []unit{photoUnit(p)}
	})
	return err
}

// unitFor builds the requests of one op.
func (cl *Client) unitFor(p *plan, fid, dupID string) (unit, error) {
	op := p.op
	item := "/me/contacts/" + url.PathEscape(op.ID)
	ifMatch := map[string]string(nil)
	if op.IfVersion != "" {
		ifMatch = map[string]string{"If-Match": `W/"` + op.IfVersion + `"`}
	}
	switch op.Kind {
	case engine.Create:
		c := &outlook.Contact{}
		outlook.ApplyFields(c, p.fields)
		if op.CRMGUID != "" {
			c.SetExtended(outlook.PropCRMGUID, op.CRMGUID)
		}
		c.DisplayName = displayName(c)
		p.contact = c
		body, err := json.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("encoding a contact: %w", err)
		}
		return unit{{method: http.MethodPost, url: "/me/contactFolders/" + url.PathEscape(fid) + "/contacts", body: body}}, nil
	case engine.Update:
		base := cl.baseFor(op)
		if base == nil {
			base = &outlook.Contact{ID: op.ID}
		}
		next := base.Clone()
		outlook.ApplyFields(next, p.fields)
		// A display name the user chose is kept; one derived from the
		// name follows it.
		if base.DisplayName == "" || base.DisplayName == displayName(base) {
			next.DisplayName = displayName(next)
		}
		p.contact = next
		body, err := patchBody(next, p.fields)
		if err != nil {
			return nil, err
		}
		u := unit{{method: http.MethodPatch, url: item, body: body, header: ifMatch, safe: true}}
		switch p.photoOp {
		case 1:
			u = append(u, sub{method: http.MethodPut, url: item + "/photo/$value", body: p.photo, contentType: p.photoCT, safe: true})
		case -1:
			u = append(u, sub{method: http.MethodDelete, url: item + "/photo/$value", safe: true})
		}
		return append(u, sub{method: http.MethodGet, url: item + "?" + selectQuery(), safe: true}), nil
	case engine.Delete:
		return unit{{method: http.MethodDelete, url: item, header: ifMatch, safe: true}}, nil
	default: // MoveToDuplicates
		body, _ := json.Marshal(map[string]string{"destinationId": dupID})
		// Moving an item into the folder it is in changes nothing, so
		// the move may be sent again.
		return unit{{method: http.MethodPost, url: item + "/move", body: body, safe: true}}, nil
	}
}

// patchBody renders the properties that fields touch, taken from c, plus
// displayName and the extended properties named. A property that became
// empty is sent as null ([] for collections), which clears it.
func patchBody(c *outlook.Contact, fields map[string]string) ([]byte, error) {
	full, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encoding a contact: %w", err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(full, &all); err != nil {
		return nil, fmt.Errorf("encoding a contact: %w", err)
	}
	body := map[string]json.RawMessage{}
	for f := range fields {
		for _, prop := range fieldProperties[f] {
			if prop == "singleValueExtendedProperties" {
				continue
			}
			if v, ok := all[prop]; ok {
				body[prop] = v
			} else if collectionProperties[prop] {
				body[prop] = json.RawMessage("[]")
			} else {
				body[prop] = json.RawMessage("null")
			}
		}
	}
	body["displayName"], _ = json.Marshal(c.DisplayName)
	var eps []outlook.ExtendedProperty
	for f, prop := range extendedFields {
		if _, ok := fields[f]; ok {
			eps = append(eps, outlook.ExtendedProperty{ID: prop, Value: c.Extended(prop)})
		}
	}
	if len(eps) > 0 {
		body["singleValueExtendedProperties"], _ = json.Marshal(eps)
	}
	return json.Marshal(body)
}

// fieldProperties maps each synced CRM field to the Graph properties that
// carry it, derived from outlook.ApplyFields.
var fieldProperties = func() map[string][]string {
	m := map[string][]string{}
	for _, f := range engine.SyncFields {
		m[f] = touchedProperties(map[string]string{f: "x"})
	}
	return m
}()

// collectionProperties are the mapped properties that are JSON arrays.
var collectionProperties = map[string]bool{"emailAddresses": true, "businessPhones": true, "homePhones": true}

// extendedFields maps CRM fields kept in extended properties to their ids.
var extendedFields = map[string]string{crm.FieldPhoneFax: outlook.PropBusinessFax, crm.FieldPhoneOther: outlook.PropOtherPhone}

// displayName is what Outlook would show for c; it is sent on every write
// so that Graph does not regenerate it differently (§1.1).
func displayName(c *outlook.Contact) string {
	var parts []string
	for _, s := range []string{c.GivenName, c.MiddleName, c.Surname, c.Generation} {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) > 0 {
		return outlook.Normalize("", strings.Join(parts, " "))
	}
	if c.CompanyName != "" {
		return c.CompanyName
	}
	for _, e := range c.EmailAddresses {
		if e.Address != "" {
			return e.Address
		}
	}
	return ""
}

// settle records the outcome of an op's write round.
func (cl *Client) settle(p *plan, res []subResult) {
	op := p.op
	first, last := res[0], res[len(res)-1]
	switch op.Kind {
	case engine.Create:
		if first.err != nil {
			if errors.Is(first.err, errUnknownOutcome) && op.CRMGUID != "" {
				p.lost = true // recoverCreates looks it up by its tag
				return
			}
			p.fail(first.err)
			return
		}
		c, err := decodeContact(first.body)
		if err != nil {
			p.fail(err)
			return
		}
		// POST answers leave extended properties out (§1.3); the new
		// contact holds exactly the ones sent.
		c.SingleValueExtendedProperties = p.contact.SingleValueExtendedProperties
		cl.created(p, c)
	case engine.Update:
		if first.err == nil && p.photoOp == -1 && res[1].status == http.StatusNotFound {
			// There was no photo to clear: the PATCH stands, read it back.
			p.photoOp = 0
			p.retry = true
			return
		}
		if err := cmpErr(first.err, last.err); err != nil {
			p.fail(err)
			return
		}
		c, err := decodeContact(last.body)
		if err != nil {
			p.fail(err)
			return
		}
		hash, known := cl.knownPhoto(op.ID, op.IfVersion)
		switch p.photoOp {
		case 1:
			hash, known = photoHash(p.photo), true
		case -1:
			hash, known = "", true
		}
		cl.remember(c)
		if known {
			cl.rememberPhoto(c.ID, c.ChangeKey, hash)
		}
		p.contact, p.needRecord = c, true
	case engine.Delete:
		if first.err != nil && crm.ErrorCode(first.err) != crm.ENOTFOUND {
			p.fail(first.err)
			return
		}
		cl.forget(op.ID)
		p.done = true
	case engine.MoveToDuplicates:
		if first.err != nil {
			p.fail(first.err)
			return
		}
		cl.forget(op.ID)
		p.done = true
		if c, err := decodeContact(first.body); err == nil {
			p.result = engine.Result{Record: recordPtr(toRecord(c))}
		}
	}
}

func cmpErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// created records a contact a Create made (or found again).
func (cl *Client) created(p *plan, c *outlook.Contact) {
	cl.remember(c)
	if p.photoOp != 1 {
		cl.rememberPhoto(c.ID, c.ChangeKey, "")
	}
	p.contact, p.needRecord = c, true
}

// knownPhoto returns the photo hash remembered for id when the remembered
// version is version, the one a conditional write was based on.
func (cl *Client) knownPhoto(id, version string) (string, bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	s := cl.seen[id]
	if s == nil || version == "" || s.contact.ChangeKey != version || !s.photoOK {
		return "", false
	}
	return s.photoHash, true
}

// recoverCreates resolves creates whose answer was lost: one listing of
// the folder finds those that were applied (by their CRM GUID tag); the
// others are sent again, a bounded number of times.
func (cl *Client) recoverCreates(ctx context.Context, plans []*plan, fid, dupID string) error {
	for round := 0; ; round++ {
		var lost []*plan
		for _, p := range plans {
			if p.lost {
				lost = append(lost, p)
			}
		}
		if len(lost) == 0 {
			return nil
		}
		all, err := cl.listFolder(ctx, fid)
		if err != nil {
			return err
		}
		byGUID := map[string]*outlook.Contact{}
		for _, c := range all {
			if g := outlook.CRMGUID(c); g != "" {
				byGUID[strings.ToLower(g)] = c
			}
		}
		var again []*plan
		for _, p := range lost {
			p.lost = false
			if c := byGUID[strings.ToLower(p.op.CRMGUID)]; c != nil {
				cl.log.Info("graph create found after its answer was lost")
				cl.created(p, c)
				continue
			}
			if round >= 2 {
				p.fail(fmt.Errorf("creating an Outlook contact: %w", errUnknownOutcome))
				continue
			}
			again = append(again, p)
		}
		if len(again) == 0 {
			return nil
		}
		if err := cl.writeRound(ctx, again, fid, dupID); err != nil {
			return err
		}
	}
}

// photoRound uploads the photos of new contacts and reads each back for
// its new changeKey, in one chained pair per contact; then it re-reads
// updates whose photo clear found no photo, and builds every Record.
func (cl *Client) photoRound(ctx context.Context, plans []*plan) error {
	var units []unit
	var idx []*plan
	for _, p := range plans {
		switch {
		case p.done || p.contact == nil:
		case p.op.Kind == engine.Create && p.photoOp == 1 && !p.photoSent:
			units = append(units, photoUnit(p))
			idx = append(idx, p)
		}
	}
	for _, p := range plans {
		if p.retry {
			p.retry = false
			units = append(units, unit{{method: http.MethodGet, url: "/me/contacts/" + url.PathEscape(p.op.ID) + "?" + selectQuery(), safe: true}})
			idx = append(idx, p)
		}
	}
	if len(units) > 0 {
		res, err := cl.batch(ctx, units)
		if err != nil {
			return err
		}
		for k, p := range idx {
			cl.settlePhoto(p, res[k])
		}
	}
	var need []*plan
	var contacts []*outlook.Contact
	for _, p := range plans {
		if p.needRecord && !p.done {
			need = append(need, p)
			contacts = append(contacts, p.contact)
		}
	}
	recs, err := cl.records(ctx, contacts, false)
	if err != nil {
		return err
	}
	for k, p := range need {
		p.done = true
		p.result = engine.Result{Record: recordPtr(recs[k])}
	}
	return nil
}

// checkConflicts looks again at updates refused with 412. When the
// contact now holds exactly the version the op was based on with the op's
// values applied — its first send was applied and only the answer was
// lost — the update has happened and succeeds. Anything else (someone
// else changed it too) stays EPRECONDITION, so the engine merges.
func (cl *Client) checkConflicts(ctx context.Context, plans []*plan) error {
	var ids []string
	expect := map[string]map[string]string{}
	ignorePhoto := map[string]bool{}
	byID := map[string]*plan{}
	for _, p := range plans {
		if p.op.Kind != engine.Update || crm.ErrorCode(p.result.Err) != crm.EPRECONDITION {
			continue
		}
		base := cl.baseFor(p.op)
		if base == nil || p.op.IfVersion == "" {
			continue
		}
		want := outlook.ToRecordFields(base)
		if h, ok := cl.knownPhoto(p.op.ID, p.op.IfVersion); ok && h != "" {
			want[crm.FieldPicture] = h
		} else if !ok {
			ignorePhoto[p.op.ID] = true // unknown before, untouched by the op
		}
		for k, v := range p.fields {
			if k == crm.FieldPicture && p.photoOp == 1 {
				v = photoHash(p.photo)
			}
			if v == "" {
				delete(want, k)
			} else {
				want[k] = v
			}
		}
		ids = append(ids, p.op.ID)
		expect[p.op.ID] = want
		byID[p.op.ID] = p
	}
	if len(ids) == 0 {
		return nil
	}
	contacts, _, err := cl.readContacts(ctx, ids)
	if err != nil {
		return err
	}
	recs, err := cl.records(ctx, contacts, false)
	if err != nil {
		return err
	}
	for _, r := range recs {
		p, want := byID[r.ID], expect[r.ID]
		got := r.Fields
		if ignorePhoto[r.ID] && p.photoOp == 0 {
			got, want = maps.Clone(got), maps.Clone(want)
			delete(got, crm.FieldPicture)
			delete(want, crm.FieldPicture)
		}
		if maps.Equal(got, want) {
			p.result = engine.Result{Record: recordPtr(r)}
		}
	}
	return nil
}

// photoUnit uploads a new contact's photo and reads the contact back for
// the changeKey the upload produced.
func photoUnit(p *plan) unit {
	item := "/me/contacts/" + url.PathEscape(p.contact.ID)
	return unit{
		{method: http.MethodPut, url: item + "/photo/$value", body: p.photo, contentType: p.photoCT, safe: true},
		{method: http.MethodGet, url: item + "?" + selectQuery(), safe: true},
	}
}

// settlePhoto records the outcome of a photoUnit (or of a re-read).
func (cl *Client) settlePhoto(p *plan, res []subResult) {
	last := res[len(res)-1]
	if last.err != nil {
		if p.op.Kind == engine.Create {
			// The contact exists; its photo did not make it. The record
			// says so (the photo is read back), and a later sync sends
			// it again.
			cl.log.Warn("graph photo upload failed", "err", last.err)
			return
		}
		p.fail(last.err)
		return
	}
	c, err := decodeContact(last.body)
	if err != nil {
		p.fail(err)
		return
	}
	cl.remember(c)
	if p.photoOp == 1 {
		cl.rememberPhoto(c.ID, c.ChangeKey, photoHash(p.photo))
	}
	p.contact, p.needRecord = c, true
}

func recordPtr(r engine.Record) *engine.Record { return &r }
