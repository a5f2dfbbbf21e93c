package engine

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"

	crm "github.com/crmsync/crmsync"
)

// CRMReplica is the CRM side of a partnership: the contacts one user may
// see, narrowed by the partnership's mode and filter (SPEC M8), read from
// the change feed and written through the CRM service with the user's
// rights.
type CRMReplica struct {
	CRM  crm.CRM
	User *crm.User
	// Mode and Filter as in Partnership.
	Mode, Filter string
	// SystemJournal writes a system journal on a contact (the "Item
	// conflict" journal); nil disables conflict journals.
	SystemJournal func(ctx context.Context, contactGUID, subject, note string) error

	mu    sync.Mutex
	enums map[string]crm.EnumValue // GUID → value
	// enumList holds the same values in the CRM's order, for
	// crm.FindEnumValue.
	enumList []crm.EnumValue
	// resolved holds the values EnsureEnumValue gave this cycle, by type
	// and name: it is a write transaction, too dear for every enum field
	// of every contact of a first sync.
	resolved map[enumName]crm.EnumValue
}

type enumName struct{ enumType, name string }

var _ Replica = (*CRMReplica)(nil)
var _ ConflictJournal = (*CRMReplica)(nil)

// ManualMarkPath is the user-settings path of the contacts a user marked
// for sync in manual mode: one setting per contact, named by its GUID.
const ManualMarkPath = "Contacts.SyncMarks"

func (c *CRMReplica) ctx(ctx context.Context) context.Context { return crm.WithUser(ctx, c.User) }

// Changes lists the user's contacts changed since cursor, a change id.
// "" (or a cursor the log no longer reaches, or changed permissions) gives
// a complete listing.
func (c *CRMReplica) Changes(ctx context.Context, cursor string) (ChangeSet, error) {
	ctx = c.ctx(ctx)
	c.mu.Lock()
	c.resolved = nil // an admin may have renamed a value since
	c.mu.Unlock()
	target, err := c.CRM.LastChangeID(ctx)
	if err != nil {
		return ChangeSet{}, err
	}
	next := strconv.FormatInt(target, 10)
	base, perr := strconv.ParseInt(cursor, 10, 64)
	// Manual marks are user settings, which the change feed does not
	// carry: manual mode lists its marked contacts every time.
	if cursor == "" || perr != nil || base > target || c.Mode == "manual" {
		return c.fullListing(ctx, next)
	}
	if base == target {
		return ChangeSet{Cursor: next}, nil
	}
	if changed, err := c.CRM.HavePermissionsChanged(ctx, base, target); err != nil {
		return ChangeSet{}, err
	} else if changed {
		return c.fullListing(ctx, next)
	}
	folders, err := c.CRM.ChangedItems(ctx, []crm.Folder{crm.Contacts, crm.Journal}, base, target)
	if err != nil {
		return ChangeSet{}, err
	}
	cs := ChangeSet{Cursor: next}
	contacts := map[string]*crm.Item{}
	touched := map[string]bool{} // contacts whose journals changed
	var removedJournals []string
	for _, f := range folders {
		switch f.Folder {
		case crm.Contacts:
			for _, it := range f.Items {
				contacts[it.GUID] = it
			}
			cs.Deleted = append(cs.Deleted, f.Removed...)
		case crm.Journal:
			for _, j := range f.Items {
				if id := j.Get(crm.FieldContactGUID); id != "" {
					touched[id] = true
				}
			}
			removedJournals = append(removedJournals, f.Removed...)
		}
	}
	if len(removedJournals) > 0 {
		trash, err := c.CRM.Trash(ctx, crm.Journal)
		if err != nil {
			return ChangeSet{}, err
		}
		gone := map[string]bool{}
		for _, g := range removedJournals {
			gone[g] = true
		}
		for _, j := range trash {
			if gone[j.GUID] && j.Get(crm.FieldContactGUID) != "" {
				touched[j.Get(crm.FieldContactGUID)] = true
			}
		}
	}
	var extra []string
	for id := range touched {
		if contacts[id] == nil {
			extra = append(extra, id)
		}
	}
	if len(extra) > 0 {
		more, err := c.CRM.Items(ctx, crm.Contacts, extra)
		if err != nil {
			return ChangeSet{}, err
		}
		for _, it := range more {
			contacts[it.GUID] = it
		}
	}
	var list []*crm.Item
	for _, it := range contacts {
		list = append(list, it)
	}
	recs, out, err := c.records(ctx, list, nil)
	if err != nil {
		return ChangeSet{}, err
	}
	cs.Records = recs
	cs.Deleted = append(cs.Deleted, out...)
	return cs, nil
}

func (c *CRMReplica) fullListing(ctx context.Context, cursor string) (ChangeSet, error) {
	if c.Mode == "manual" {
		marked, err := c.marked(ctx)
		if err != nil {
			return ChangeSet{}, err
		}
		items := []*crm.Item{}
		if len(marked) > 0 {
			if items, err = c.CRM.Items(ctx, crm.Contacts, marked); err != nil {
				return ChangeSet{}, err
			}
		}
		recs, _, err := c.records(ctx, items, nil)
		return ChangeSet{Records: recs, Complete: true, Cursor: cursor}, err
	}
	items, err := c.CRM.Items(ctx, crm.Contacts, nil)
	if err != nil {
		return ChangeSet{}, err
	}
	journals, err := c.CRM.Items(ctx, crm.Journal, nil)
	if err != nil {
		return ChangeSet{}, err
	}
	recs, _, err := c.records(ctx, items, journals)
	if err != nil {
		return ChangeSet{}, err
	}
	return ChangeSet{Records: recs, Complete: true, Cursor: cursor}, nil
}

// records converts items to records, leaving out (and returning the GUIDs
// of) those outside the partnership's set. journals, when nil, are read for
// the given contacts.
func (c *CRMReplica) records(ctx context.Context, items []*crm.Item, journals []*crm.Item) ([]Record, []string, error) {
	inSet, err := c.setFilter(ctx)
	if err != nil {
		return nil, nil, err
	}
	var keep []*crm.Item
	var out []string
	for i, it := range items {
		items[i] = nil // the records replace the items; let them go as we convert
		if inSet(it) {
			keep = append(keep, it)
		} else {
			out = append(out, it.GUID)
		}
	}
	if journals == nil && len(keep) > journalSearchLimit {
		if journals, err = c.CRM.Items(ctx, crm.Journal, nil); err != nil {
			return nil, nil, err
		}
	} else if journals == nil {
		for _, it := range keep {
			js, err := c.CRM.Search(ctx, crm.Journal, map[string]string{crm.FieldContactGUID: it.GUID}, false)
			if err != nil {
				return nil, nil, err
			}
			journals = append(journals, js...)
		}
	}
	byContact := map[string][]JournalEntry{}
	for _, j := range journals {
		id := j.Get(crm.FieldContactGUID)
		if id == "" || j.Get(crm.FieldIsSystem) == "true" {
			continue
		}
		byContact[id] = append(byContact[id], c.journalEntry(ctx, j))
	}
	recs := make([]Record, 0, len(keep))
	for i, it := range keep {
		keep[i] = nil
		r, err := c.record(ctx, it, RenderJournals(byContact[it.GUID]))
		if err != nil {
			return nil, nil, err
		}
		recs = append(recs, r)
	}
	return recs, out, nil
}

func (c *CRMReplica) journalEntry(ctx context.Context, j *crm.Item) JournalEntry {
	e := JournalEntry{Subject: j.Get(crm.FieldFileAs), Note: j.Get(crm.FieldNote)}
	if t, err := crm.ParseTime(j.Get(crm.FieldEventStart)); err == nil {
		e.When = t
	} else if t, err := crm.ParseTime(j.Get(crm.FieldItemCreated)); err == nil {
		e.When = t
	}
	if v, ok := c.enum(ctx, j.Get(crm.FieldJournalType)); ok {
		e.Type = v.En
	}
	return e
}

// journalSearchLimit is how many contacts have their journals searched one
// by one; past it, reading all journals at once is cheaper.
const journalSearchLimit = 20

// marked lists the GUIDs of the contacts the user marked for sync.
func (c *CRMReplica) marked(ctx context.Context) ([]string, error) {
	settings, err := c.CRM.UserSettings(ctx)
	if err != nil {
		return nil, err
	}
	var guids []string
	for _, s := range settings {
		if s.Path == ManualMarkPath && s.Value == "true" {
			guids = append(guids, crm.NormalizeGUID(s.Name))
		}
	}
	return guids, nil
}

// setFilter returns the test of the partnership's set (SPEC M8).
func (c *CRMReplica) setFilter(ctx context.Context) (func(*crm.Item) bool, error) {
	if c.Mode == "manual" {
		list, err := c.marked(ctx)
		if err != nil {
			return nil, err
		}
		marked := map[string]bool{}
		for _, g := range list {
			marked[g] = true
		}
		return func(it *crm.Item) bool { return marked[it.GUID] }, nil
	}
	switch {
	case c.Filter == "own":
		return func(it *crm.Item) bool { return it.Owner() == c.User.GUID }, nil
	case strings.HasPrefix(c.Filter, "companies:"):
		set := map[string]bool{}
		for _, g := range strings.Split(strings.TrimPrefix(c.Filter, "companies:"), ",") {
			set[crm.NormalizeGUID(strings.TrimSpace(g))] = true
		}
		return func(it *crm.Item) bool { return set[it.Get(crm.FieldCompanyGUID)] }, nil
	}
	return func(*crm.Item) bool { return true }, nil
}

// syncField tells the synced fields apart.
var syncField = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range SyncFields {
		m[f] = true
	}
	return m
}()

// record converts one CRM contact to the engine's form. It takes over the
// item's field map (a full listing then holds one map per contact).
func (c *CRMReplica) record(ctx context.Context, it *crm.Item, block string) (Record, error) {
	r := Record{ID: it.GUID, CRMGUID: it.GUID, Fields: it.Fields, Version: strconv.Itoa(it.Version)}
	if r.Fields == nil {
		r.Fields = map[string]string{}
	}
	if t, err := crm.ParseTime(it.Get(crm.FieldItemChanged)); err == nil {
		r.Modified = t
	}
	for f, v := range r.Fields {
		if !syncField[f] || v == "" {
			delete(r.Fields, f)
			continue
		}
		def, _ := crm.LookupField(crm.Contacts, f)
		switch def.Kind {
		case crm.Enum:
			ev, ok := c.enum(ctx, v)
			if !ok {
				delete(r.Fields, f)
				continue
			}
			v = ev.En
		case crm.Binary:
			photo, err := base64.StdEncoding.DecodeString(v)
			if err != nil || len(photo) == 0 {
				delete(r.Fields, f)
				continue
			}
			r.Photo = photo
			v = PhotoHash(photo)
		}
		r.Fields[f] = v
	}
	if block != "" {
		r.Fields[FieldJournals] = block
		h := fnv.New64a()
		h.Write([]byte(block))
		r.Version += fmt.Sprintf("j%x", h.Sum64())
	}
	return r, nil
}

// PhotoHash is how records name a picture: the hex SHA-256 of its bytes.
func PhotoHash(photo []byte) string {
	sum := sha256.Sum256(photo)
	return hex.EncodeToString(sum[:])
}

// enum returns the enum value with GUID id, loading the table on a miss.
func (c *CRMReplica) enum(ctx context.Context, id string) (crm.EnumValue, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.enums[id]; ok {
		return v, true
	}
	c.loadEnumsLocked(ctx)
	v, ok := c.enums[id]
	return v, ok
}

func (c *CRMReplica) loadEnumsLocked(ctx context.Context) {
	values, err := c.CRM.EnumValues(c.ctx(ctx), "")
	if err != nil {
		return
	}
	c.enums = make(map[string]crm.EnumValue, len(values))
	for _, v := range values {
		c.enums[v.GUID] = v
	}
	c.enumList = values
}

// ensureEnum is CRM.EnsureEnumValue, once per type and name a cycle.
func (c *CRMReplica) ensureEnum(ctx context.Context, enumType, name string) (crm.EnumValue, error) {
	key := enumName{enumType, name}
	c.mu.Lock()
	ev, ok := c.resolved[key]
	c.mu.Unlock()
	if ok {
		return ev, nil
	}
	ev, err := c.CRM.EnsureEnumValue(ctx, enumType, name)
	if err != nil {
		return ev, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.resolved == nil {
		c.resolved = map[enumName]crm.EnumValue{}
	}
	c.resolved[key] = ev
	if c.enums != nil {
		if _, known := c.enums[ev.GUID]; !known {
			c.enumList = append(c.enumList, ev)
		}
		c.enums[ev.GUID] = ev
	}
	return ev, nil
}

// Get reads contacts by GUID, with photos.
func (c *CRMReplica) Get(ctx context.Context, ids []string) ([]Record, error) {
	ctx = c.ctx(ctx)
	items, err := c.CRM.Items(ctx, crm.Contacts, ids)
	if err != nil {
		return nil, err
	}
	recs, _, err := c.records(ctx, items, nil)
	return recs, err
}

// FindByCRMGUID is Get: a CRM contact's id is its GUID.
func (c *CRMReplica) FindByCRMGUID(ctx context.Context, guids []string) ([]Record, error) {
	return c.Get(ctx, guids)
}

// Normalize returns what the CRM stores for value: an enum field holds the
// canonical English name of a known value, text is trimmed of spaces at
// the ends of the line.
func (c *CRMReplica) Normalize(field, value string) string {
	def, ok := crm.LookupField(crm.Contacts, field)
	if !ok || def.Kind != crm.Enum {
		return value
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.enums == nil {
		c.loadEnumsLocked(context.Background())
	}
	// The value EnsureEnumValue would store: "USA" is the built-in United
	// States.
	if v, ok := crm.FindEnumValue(c.enumList, def.EnumType, value); ok {
		return v.En
	}
	return strings.TrimSpace(value)
}

// Apply writes contacts as the user. Creates carry the GUID the contact
// gets; a create that finds the contact (a retry, SPEC S6) reports EEXISTS
// with the contact, and one that finds it in the trash restores it (an
// edit beats a delete, SPEC S5).
func (c *CRMReplica) Apply(ctx context.Context, ops []Op) ([]Result, error) {
	ctx = c.ctx(ctx)
	results := make([]Result, len(ops))
	var patches []crm.Patch
	var which []int
	createCompany := false
	if settings, err := c.CRM.GlobalSettings(ctx); err == nil {
		createCompany = settings[crm.SettingCreateCompany] == "true"
	}
	for i, op := range ops {
		switch op.Kind {
		case Delete:
			results[i].Err = c.CRM.Delete(ctx, crm.Contacts, []string{op.ID})
			continue
		case MoveToDuplicates:
			results[i].Err = crm.Errorf(crm.EINVALID, "the CRM has no duplicates folder")
			continue
		}
		set, err := c.crmValues(ctx, op, createCompany)
		if err != nil {
			results[i].Err = err
			continue
		}
		p := crm.Patch{Set: set}
		if op.Kind == Create {
			p.GUID, p.Version = op.CRMGUID, 1
		} else {
			p.GUID = op.ID
			v, err := strconv.Atoi(strings.SplitN(op.IfVersion, "j", 2)[0])
			if err != nil {
				results[i].Err = crm.Errorf(crm.EPRECONDITION, "unknown version %q of contact %s", op.IfVersion, op.ID)
				continue
			}
			p.Version = v + 1
		}
		patches = append(patches, p)
		which = append(which, i)
	}
	if len(patches) > 0 {
		saved, err := c.CRM.Save(ctx, crm.Contacts, patches, crm.SaveOptions{DieOnItemConflict: true})
		if err != nil {
			return nil, err
		}
		for k, res := range saved {
			i := which[k]
			results[i].Err = res.Err
			if res.Err == nil {
				continue
			}
			code := crm.ErrorCode(res.Err)
			switch {
			case ops[i].Kind == Create && (code == crm.EEXISTS || code == crm.ECONFLICT || code == crm.ENOTFOUND):
				// The GUID is taken: by the contact itself (a retry), or by
				// its trashed self (an edit beats the delete).
				results[i].Err = c.existing(ctx, patches[k])
			case code == crm.ECONFLICT:
				results[i].Err = &crm.Error{Code: crm.EPRECONDITION, Message: "the contact changed in the CRM meanwhile", Err: res.Err}
			}
		}
	}
	if c.Mode == "manual" {
		// A contact that comes from the remote is in the user's set: mark it.
		for i, op := range ops {
			if op.Kind == Create && results[i].Err == nil {
				if err := c.CRM.SaveUserSetting(ctx, crm.Setting{Path: ManualMarkPath, Name: op.CRMGUID, Value: "true"}); err != nil {
					results[i].Err = err
				}
			}
		}
	}
	var ids []string
	for i, op := range ops {
		if op.Kind != Delete && (results[i].Err == nil || crm.ErrorCode(results[i].Err) == crm.EEXISTS) {
			ids = append(ids, idOfOp(op))
		}
	}
	if len(ids) > 0 {
		recs, err := c.Get(ctx, ids)
		if err != nil {
			return nil, err
		}
		byID := map[string]*Record{}
		for k := range recs {
			byID[recs[k].ID] = &recs[k]
		}
		for i, op := range ops {
			if op.Kind != Delete && (results[i].Err == nil || crm.ErrorCode(results[i].Err) == crm.EEXISTS) {
				results[i].Record = byID[idOfOp(op)]
				if results[i].Record == nil {
					// Written, but outside the user's set now.
					results[i].Err = crm.Errorf(crm.EFORBIDDEN, "contact %s is not in the synced set after the write", idOfOp(op))
				}
			}
		}
	}
	return results, nil
}

func idOfOp(op Op) string {
	if op.Kind == Create {
		return op.CRMGUID
	}
	return op.ID
}

// existing handles a create whose GUID exists: visible → EEXISTS (the
// caller takes the contact); trashed → restored and updated.
func (c *CRMReplica) existing(ctx context.Context, p crm.Patch) error {
	if items, err := c.CRM.Items(ctx, crm.Contacts, []string{p.GUID}); err != nil {
		return err
	} else if len(items) > 0 {
		return crm.Errorf(crm.EEXISTS, "contact %s exists", p.GUID)
	}
	if err := c.CRM.Restore(ctx, crm.Contacts, p.GUID); err != nil {
		return err
	}
	p.Version = 0 // restored: write the remote's values over it
	res, err := c.CRM.Save(ctx, crm.Contacts, []crm.Patch{p}, crm.SaveOptions{})
	if err != nil {
		return err
	}
	return res[0].Err
}

// crmValues converts an op's fields to CRM values: enum names to enum
// GUIDs (created when unknown), the photo to base64, and the company link
// (SPEC S7).
func (c *CRMReplica) crmValues(ctx context.Context, op Op, createCompany bool) (map[string]string, error) {
	set := map[string]string{}
	for f, v := range op.Fields {
		if f == FieldJournals {
			continue
		}
		def, ok := crm.LookupField(crm.Contacts, f)
		if !ok {
			continue
		}
		switch def.Kind {
		case crm.Enum:
			if v != "" {
				ev, err := c.ensureEnum(ctx, def.EnumType, v)
				if err != nil {
					return nil, err
				}
				v = ev.GUID
			}
		case crm.Binary:
			if v != "" {
				if op.Photo == nil {
					continue // bytes unavailable: leave the picture alone
				}
				v = base64.StdEncoding.EncodeToString(op.Photo)
			}
		}
		set[f] = v
	}
	if name, ok := op.Fields[crm.FieldCompany]; ok && createCompany {
		guid, err := c.companyFor(ctx, name, op.Fields)
		if err != nil {
			return nil, err
		}
		set[crm.FieldCompanyGUID] = guid
	}
	return set, nil
}

// companyFor finds the company named name (case-insensitive, trimmed) or
// creates it from the contact's business details (SPEC S7).
func (c *CRMReplica) companyFor(ctx context.Context, name string, fields map[string]string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", nil
	}
	found, err := c.CRM.Search(ctx, crm.Companies, map[string]string{crm.FieldCompanyName: name}, false)
	if err != nil {
		return "", err
	}
	for _, co := range found {
		if strings.EqualFold(strings.TrimSpace(co.Get(crm.FieldCompanyName)), name) {
			return co.GUID, nil
		}
	}
	set := map[string]string{
		crm.FieldCompanyName: name,
		"Email":              fields[crm.FieldEmail1],
		"Phone":              fields[crm.FieldPhoneBusiness],
		"Mobile":             fields[crm.FieldPhoneMobile],
		"Fax":                fields[crm.FieldPhoneFax],
	}
	for _, part := range []string{"Street", "City", "State", "PostalCode"} {
		set["Address1"+part] = fields[crm.AddressBusiness+part]
	}
	if country := fields[crm.AddressBusiness+"CountryEn"]; country != "" {
		ev, err := c.ensureEnum(ctx, crm.EnumCountry, country)
		if err != nil {
			return "", err
		}
		set["Address1CountryEn"] = ev.GUID
	}
	for k, v := range set {
		if v == "" {
			delete(set, k)
		}
	}
	res, err := c.CRM.Save(ctx, crm.Companies, []crm.Patch{{Set: set}}, crm.SaveOptions{})
	if err != nil {
		return "", err
	}
	if res[0].Err != nil {
		return "", fmt.Errorf("creating company %q: %w", name, res[0].Err)
	}
	return res[0].GUID, nil
}

// RecordConflicts writes the losing values into a system journal "Item
// conflict" on the contact (SPEC S2).
func (c *CRMReplica) RecordConflicts(ctx context.Context, crmID string, conflicts []Conflict) error {
	if c.SystemJournal == nil || len(conflicts) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("Values not kept after a sync conflict:\n")
	for _, cf := range conflicts {
		side := "Outlook/remote"
		if cf.Winner == RemoteSide {
			side = "CRM"
		}
		fmt.Fprintf(&b, "%s: %q (from %s; kept %q)\n", cf.Field, cf.Lost, side, cf.Kept)
	}
	return c.SystemJournal(c.ctx(ctx), crmID, "Item conflict", b.String())
}
