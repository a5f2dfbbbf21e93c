package engine

import (
	"context"
	"crypto/sha1"
	"fmt"
	"log/slog"
	"strings"
	"time"

	crm "github.com/crmsync/crmsync"
)

// ConflictJournal writes the losing values of conflicts into a system
// journal "Item conflict" on the CRM contact (SPEC S2).
type ConflictJournal interface {
	RecordConflicts(ctx context.Context, crmID string, conflicts []Conflict) error
}

// Progress is reported while a cycle applies writes.
type Progress struct {
	Done, Total int
}

// Engine runs sync cycles of one partnership.
type Engine struct {
	Partnership *Partnership
	State       StateStore
	CRM         Replica
	Remote      Replica
	// Journal, when set, records conflict losers (usually the CRM replica).
	Journal ConflictJournal

	// DryRun plans without writing anything (SPEC X4).
	DryRun bool
	// ConfirmDeletes lets a run delete more than the breaker allows (S5).
	ConfirmDeletes bool
	// BatchSize is how many items are applied and committed at once.
	BatchSize int
	Progress  func(Progress)
	Now       func() time.Time
	Logger    *slog.Logger

	// written holds the versions this cycle's writes produced, per side
	// and id, so the next pass drops its own echoes before loading state.
	written map[Side]map[string]string
	// sentUpdates are remote updates whose outcome was lost, by CRM id:
	// a remote value equal to what was sent is the engine's own write.
	sentUpdates map[string]Pending
	// nextListing is the next pass's remote listing, started while this
	// pass's remote writes are still under way (see remoteWritten); nil
	// when none is under way.
	nextListing *listing
	// remoteWritten, when set, is called each time a batch of a pass's
	// remote writes has returned; last says it was the pass's last.
	remoteWritten func(last bool)
}

// listing is a remote listing under way.
type listing struct {
	cursor string
	done   chan struct{}
	set    ChangeSet
	err    error
}

func (l *listing) finished() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

func (e *Engine) startListing(ctx context.Context, cursor string) {
	l := &listing{cursor: cursor, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.set, l.err = e.Remote.Changes(ctx, cursor)
	}()
	e.nextListing = l
}

// extendListing follows the listing under way with one from the cursor
// it ends at, once it ends: the two, joined, list what changed from the
// first one's cursor up to now. Extended after each batch of writes, the
// listing takes in their echoes while the next batches are on their way,
// so the next pass waits only for the last batch's (on a first sync of
// 3,000 contacts into Outlook: one delta page instead of 3 in a row, or of
// 15 where Graph stops delta pages at 200).
func (e *Engine) extendListing(ctx context.Context) {
	first := e.nextListing
	l := &listing{cursor: first.cursor, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		<-first.done
		if first.err != nil {
			l.set, l.err = e.Remote.Changes(ctx, first.cursor)
			return
		}
		var then ChangeSet
		if then, l.err = e.Remote.Changes(ctx, first.set.Cursor); l.err == nil {
			l.set = first.set.followedBy(then)
		}
	}()
	e.nextListing = l
}

// followedBy joins cs with then, a listing from cs's cursor, into one
// listing from cs's start to then's cursor: an item listed by both is as
// then lists it (changed again, deleted, or back). A full listing (a
// remote without change tracking, an expired cursor) replaces all before.
func (cs ChangeSet) followedBy(then ChangeSet) ChangeSet {
	if then.Complete {
		return then
	}
	later := make(map[string]bool, len(then.Records)+len(then.Deleted))
	for _, r := range then.Records {
		later[r.ID] = true
	}
	for _, id := range then.Deleted {
		later[id] = true
	}
	out := ChangeSet{Complete: cs.Complete, Cursor: then.Cursor}
	for _, r := range cs.Records {
		if !later[r.ID] {
			out.Records = append(out.Records, r)
		}
	}
	for _, id := range cs.Deleted {
		if !later[id] {
			out.Deleted = append(out.Deleted, id)
		}
	}
	out.Records = append(out.Records, then.Records...)
	out.Deleted = append(out.Deleted, then.Deleted...)
	return out
}

// takeListing waits for the listing under way, if any, and returns it if
// it lists from cursor (ok); one from another cursor is dropped.
func (e *Engine) takeListing(cursor string) (set ChangeSet, ok bool, err error) {
	l := e.nextListing
	if l == nil {
		return ChangeSet{}, false, nil
	}
	e.nextListing = nil
	<-l.done
	return l.set, l.cursor == cursor, l.err
}

// Breaker thresholds (SPEC S5): a run that would delete more than this
// share of a side, and more than minBreakerDeletes contacts, stops.
const (
	breakerShare      = 0.20
	minBreakerDeletes = 10
)

// maxPasses bounds the passes of one cycle.
const maxPasses = 3

// item is one contact in a cycle: its pair, if any, and what each side
// listed for it.
type item struct {
	pair       *Pair
	crm        *Record
	remote     *Record
	crmGone    bool // deleted or left the set on the CRM side
	remoteGone bool
}

// plan is what one item needs.
type plan struct {
	it          *item
	crmOp       *Op
	remoteOp    *Op
	merged      merge
	dropPair    bool
	duplicate   *Duplicate
	restoreCRM  bool // a remote delete the CRM refused: put the remote copy back
	countAsEdit bool
}

// Cycle runs one sync cycle: list both sides, merge, apply, commit.
func (e *Engine) Cycle(ctx context.Context) (*Run, error) {
	e.defaults()
	p := e.Partnership
	run := &Run{Partnership: p.ID, Started: e.Now(), DryRun: e.DryRun, Outcome: "ok"}
	// Passes repeat while they write, so the cursors move past the
	// engine's own writes at once: a change a user makes right after a
	// write is then listed against the right versions.
	var err error
	e.written = map[Side]map[string]string{CRMSide: {}, RemoteSide: {}}
	defer func() { e.written = nil }()
	for pass := 0; pass < maxPasses; pass++ {
		before := run.Counts
		if err = e.cycle(ctx, run, pass < maxPasses-1); err != nil || e.DryRun || run.Outcome != "ok" || run.Counts == before {
			break
		}
	}
	e.takeListing("") // one no pass came to use
	run.Finished = e.Now()
	if err != nil {
		run.Outcome, run.Message = "failed", err.Error()
		if crm.ErrorCode(err) == crm.EPRECONDITION {
			run.Outcome = "needs-confirmation"
		}
	}
	// The log keeps runs that did or found something; a quiet poll every
	// 30 seconds would otherwise add a row each time, forever.
	if !e.DryRun && !run.quiet() {
		if serr := e.State.SaveRun(context.WithoutCancel(ctx), run); serr != nil && err == nil {
			err = serr
		}
	}
	return run, err
}

func (e *Engine) defaults() {
	if e.BatchSize <= 0 {
		e.BatchSize = 500
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Logger == nil {
		e.Logger = slog.New(slog.DiscardHandler)
	}
}

// cycle runs one pass; more says whether another may follow, which then
// lists the remote from this pass's cursor.
func (e *Engine) cycle(ctx context.Context, run *Run, more bool) error {
	p := e.Partnership
	if !e.DryRun {
		if err := e.recoverPending(ctx); err != nil {
			return fmt.Errorf("recovering unfinished creates: %w", err)
		}
	}
	crmSet, remoteSet, err := e.list(ctx)
	if err != nil {
		return err
	}
	e.remoteWritten = nil
	if more {
		cursor := remoteSet.Cursor
		// The listing starts after the first batch of writes and is
		// extended after each later one that finds it done; a remote
		// whose listings from a cursor come whole (a CardDAV book
		// without sync-collection, too big for an ETag cursor) is
		// listed once, after the last.
		early := !remoteSet.Complete || p.CursorRemote == ""
		e.remoteWritten = func(last bool) {
			switch {
			case e.nextListing == nil && (last || early):
				e.startListing(ctx, cursor)
			case last || (early && e.nextListing.finished()):
				e.extendListing(ctx)
			}
		}
	}
	crmSet.Records = e.dropEchoes(CRMSide, crmSet)
	remoteSet.Records = e.dropEchoes(RemoteSide, remoteSet)
	for i := range remoteSet.Records {
		splitRemoteNote(&remoteSet.Records[i])
	}
	items, err := e.join(ctx, crmSet, remoteSet)
	if err != nil {
		return err
	}
	plans, err := e.plan(ctx, items)
	if err != nil {
		return err
	}
	if err := e.checkBreaker(ctx, plans, remoteSet); err != nil {
		return err
	}
	if e.DryRun {
		for _, pl := range plans {
			countPlan(&run.Counts, pl)
			run.Conflicts = append(run.Conflicts, pl.merged.conflicts...)
			if pl.duplicate != nil {
				run.Duplicates = append(run.Duplicates, *pl.duplicate)
			}
		}
		return nil
	}
	cursors := &Cursors{CRM: crmSet.Cursor, Remote: remoteSet.Cursor}
	// The plans hold what the writes need; the listings can go, and each
	// batch's records once it is finished (see apply).
	crmSet, remoteSet, items = ChangeSet{}, ChangeSet{}, nil
	clean, err := e.apply(ctx, plans, run)
	if err != nil {
		return err
	}
	if !clean {
		run.Outcome = "partial"
		return nil
	}
	var settled []Pending
	for _, pe := range e.sentUpdates {
		settled = append(settled, pe) // their echoes were in this listing
	}
	e.sentUpdates = nil
	if err := e.State.Commit(ctx, p.ID, Commit{Cursors: cursors, Synced: true, Settled: settled}); err != nil {
		return err
	}
	p.CursorCRM, p.CursorRemote, p.Synced = cursors.CRM, cursors.Remote, true
	return nil
}

// list lists the changes of both sides. When the CRM side is re-listed in
// full (first run, or rights changed), so is the remote, so that items
// refused before are tried again. A full listing of both sides, known in
// advance, runs the two at once: on a first sync the remote's round trips
// then overlap the CRM's reading.
func (e *Engine) list(ctx context.Context) (crmSet, remoteSet ChangeSet, err error) {
	p := e.Partnership
	if p.CursorCRM == "" && e.nextListing == nil {
		e.startListing(ctx, "")
	}
	if crmSet, err = e.CRM.Changes(ctx, p.CursorCRM); err != nil {
		return crmSet, remoteSet, fmt.Errorf("listing CRM changes: %w", err) // Cycle waits for a listing under way
	}
	remoteCursor := p.CursorRemote
	if crmSet.Complete {
		remoteCursor = ""
	}
	remoteSet, ok, err := e.takeListing(remoteCursor)
	if !ok {
		remoteSet, err = e.Remote.Changes(ctx, remoteCursor)
	}
	if err != nil {
		return crmSet, remoteSet, fmt.Errorf("listing remote changes: %w", err)
	}
	return crmSet, remoteSet, nil
}

// dropEchoes removes from an incremental listing the items as this cycle
// wrote them: nothing changed there since.
func (e *Engine) dropEchoes(side Side, cs ChangeSet) []Record {
	written := e.written[side]
	if cs.Complete || len(written) == 0 {
		return cs.Records
	}
	kept := cs.Records[:0]
	for _, r := range cs.Records {
		if v, ok := written[r.ID]; !ok || v != r.Version {
			kept = append(kept, r)
		}
	}
	return kept
}

// splitRemoteNote moves the journal block of a remote note to its own field.
func splitRemoteNote(r *Record) {
	if r.Fields == nil {
		r.Fields = map[string]string{}
	}
	note, block := SplitNote(r.Fields[crm.FieldNote])
	setField(r.Fields, crm.FieldNote, note)
	setField(r.Fields, FieldJournals, block)
}

func setField(m map[string]string, f, v string) {
	if v == "" {
		delete(m, f)
		return
	}
	m[f] = v
}

// recoverPending settles creates of a run that died before committing
// their outcome (SPEC S6): an item found by its CRM GUID is paired, the
// rest are forgotten and planned again from the listings.
func (e *Engine) recoverPending(ctx context.Context) error {
	pid := e.Partnership.ID
	pending, err := e.State.PendingOps(ctx, pid)
	if err != nil || len(pending) == 0 {
		return err
	}
	e.sentUpdates = map[string]Pending{}
	var c Commit
	var settled []Pending
	for _, pe := range pending {
		if pe.Kind == Update {
			e.sentUpdates[pe.CRMGUID] = pe
		} else {
			settled = append(settled, pe)
		}
	}
	// A remote delete whose outcome was lost: if the copy is gone, so is
	// the pair; otherwise the pair stays and the delete is planned again.
	var deleted []string
	deleteOf := map[string]string{}
	for _, pe := range pending {
		if pe.Kind == Delete {
			deleted = append(deleted, pe.SourceID)
			deleteOf[pe.SourceID] = pe.CRMGUID
		}
	}
	if len(deleted) > 0 {
		still, err := e.Remote.Get(ctx, deleted)
		if err != nil {
			return err
		}
		present := map[string]bool{}
		for _, r := range still {
			present[r.ID] = true
		}
		for _, id := range deleted {
			if !present[id] {
				c.RemoveCRM = append(c.RemoveCRM, deleteOf[id])
			}
		}
	}
	for _, side := range []Side{RemoteSide, CRMSide} {
		var guids []string
		sent := map[string]Pending{}
		for _, pe := range pending {
			if pe.Side == side && pe.Kind != Delete && pe.Kind != Update {
				guids = append(guids, pe.CRMGUID)
				sent[pe.CRMGUID] = pe
			}
		}
		if len(guids) == 0 {
			continue
		}
		r := e.Remote
		if side == CRMSide {
			r = e.CRM
		}
		found, err := r.FindByCRMGUID(ctx, guids)
		if err != nil {
			return err
		}
		for _, rec := range found {
			// The base is what was sent; the versions are left unknown, so
			// both sides are compared with it on this run: an edit made
			// after the create is kept, not mistaken for the base.
			pe := sent[rec.CRMGUID]
			pair := Pair{Base: copyFields(pe.Base)}
			if side == RemoteSide {
				pair.CRMID, pair.RemoteID = rec.CRMGUID, rec.ID
			} else {
				pair.CRMID, pair.RemoteID = rec.ID, pe.SourceID
			}
			c.Save = append(c.Save, pair)
		}
	}
	c.Settled = settled
	return e.State.Commit(ctx, pid, c)
}

// crmForm is a remote's fields as the CRM would store them.
func (e *Engine) crmForm(fields map[string]string) map[string]string {
	out := map[string]string{}
	for _, f := range mergeFields {
		if v := fields[f]; v != "" {
			if f != FieldJournals {
				v = e.CRM.Normalize(f, v)
			}
			setField(out, f, v)
		}
	}
	return out
}

// join matches the listed records with the stored pairs.
func (e *Engine) join(ctx context.Context, crmSet, remoteSet ChangeSet) ([]*item, error) {
	pid := e.Partnership.ID
	var pairs []Pair
	if crmSet.Complete || remoteSet.Complete {
		all, err := e.State.AllPairs(ctx, pid)
		if err != nil {
			return nil, err
		}
		pairs = all
	} else {
		var crmIDs, remoteIDs []string
		for _, r := range crmSet.Records {
			crmIDs = append(crmIDs, r.ID)
		}
		crmIDs = append(crmIDs, crmSet.Deleted...)
		for _, r := range remoteSet.Records {
			remoteIDs = append(remoteIDs, r.ID)
		}
		remoteIDs = append(remoteIDs, remoteSet.Deleted...)
		a, err := e.State.PairsByCRM(ctx, pid, crmIDs)
		if err != nil {
			return nil, err
		}
		b, err := e.State.PairsByRemote(ctx, pid, remoteIDs)
		if err != nil {
			return nil, err
		}
		c, err := e.State.UnsettledPairs(ctx, pid)
		if err != nil {
			return nil, err
		}
		pairs = append(append(a, b...), c...)
	}
	byCRM := map[string]*item{}
	byRemote := map[string]*item{}
	var items []*item
	for i := range pairs {
		if byCRM[pairs[i].CRMID] != nil {
			continue // loaded twice, by both ids
		}
		it := &item{pair: &pairs[i]}
		byCRM[it.pair.CRMID] = it
		byRemote[it.pair.RemoteID] = it
		items = append(items, it)
	}
	var unpairedCRM, unpairedRemote []*item
	seenCRM := map[string]bool{}
	for i := range crmSet.Records {
		r := &crmSet.Records[i]
		seenCRM[r.ID] = true
		if it := byCRM[r.ID]; it != nil {
			if r.Version != it.pair.CRMVersion {
				it.crm = r
			}
			continue
		}
		it := &item{crm: r}
		byCRM[r.ID] = it
		unpairedCRM = append(unpairedCRM, it)
	}
	seenRemote := map[string]bool{}
	for i := range remoteSet.Records {
		r := &remoteSet.Records[i]
		seenRemote[r.ID] = true
		if it := byRemote[r.ID]; it != nil {
			if r.Version != it.pair.RemoteVersion {
				it.remote = r
			}
			continue
		}
		// A remote item carrying the GUID of an unpaired CRM record is the
		// copy of a create whose result was lost: pair them.
		if it := byCRM[r.CRMGUID]; r.CRMGUID != "" && it != nil && it.pair == nil && it.remote == nil {
			it.remote = r
			continue
		}
		it := &item{remote: r}
		unpairedRemote = append(unpairedRemote, it)
	}
	for _, id := range crmSet.Deleted {
		if it := byCRM[id]; it != nil && it.pair != nil {
			it.crmGone, it.crm = true, nil
		}
	}
	for _, id := range remoteSet.Deleted {
		if it := byRemote[id]; it != nil && it.pair != nil {
			it.remoteGone, it.remote = true, nil
		}
	}
	for _, it := range items {
		if crmSet.Complete && !seenCRM[it.pair.CRMID] {
			it.crmGone = true
		}
		if remoteSet.Complete && !seenRemote[it.pair.RemoteID] {
			it.remoteGone = true
		}
	}
	if err := e.settle(ctx, items, seenCRM, seenRemote); err != nil {
		return nil, err
	}
	items = append(items, unpairedCRM...)
	return append(items, unpairedRemote...), nil
}

// settle reads the sides of pairs whose version is unknown and that the
// listings did not mention: such an item is read directly, and counts as
// gone if it is missing.
func (e *Engine) settle(ctx context.Context, items []*item, seenCRM, seenRemote map[string]bool) error {
	for _, side := range []Side{CRMSide, RemoteSide} {
		var ids []string
		byID := map[string]*item{}
		for _, it := range items {
			if it.pair == nil || it.crmGone || it.remoteGone {
				continue
			}
			id, version, seen := it.pair.CRMID, it.pair.CRMVersion, seenCRM
			if side == RemoteSide {
				id, version, seen = it.pair.RemoteID, it.pair.RemoteVersion, seenRemote
			}
			if version == "" && !seen[id] {
				ids = append(ids, id)
				byID[id] = it
			}
		}
		if len(ids) == 0 {
			continue
		}
		r := e.CRM
		if side == RemoteSide {
			r = e.Remote
		}
		recs, err := r.Get(ctx, ids)
		if err != nil {
			return err
		}
		found := map[string]bool{}
		for i := range recs {
			rec := &recs[i]
			it := byID[rec.ID]
			if it == nil {
				continue
			}
			found[rec.ID] = true
			if side == CRMSide {
				it.crm = rec
			} else {
				splitRemoteNote(rec)
				it.remote = rec
			}
		}
		for _, id := range ids {
			if !found[id] {
				if side == CRMSide {
					byID[id].crmGone = true
				} else {
					byID[id].remoteGone = true
				}
			}
		}
	}
	return nil
}

// plan decides what every item needs.
func (e *Engine) plan(ctx context.Context, items []*item) ([]plan, error) {
	crmEmails := map[string]string{} // e-mail → CRM id, for M13
	for _, it := range items {
		if it.crm != nil {
			for _, email := range emails(it.crm.Fields) {
				crmEmails[email] = it.crm.ID
			}
		}
	}
	var lookup []string
	for _, it := range items {
		if it.pair == nil && it.crm == nil && it.remote != nil {
			for _, email := range emails(it.remote.Fields) {
				if crmEmails[email] == "" {
					lookup = append(lookup, email)
				}
			}
		}
	}
	if len(lookup) > 0 {
		known, err := e.State.CRMIDsByEmail(ctx, e.Partnership.ID, lookup)
		if err != nil {
			return nil, err
		}
		for k, v := range known {
			crmEmails[k] = v
		}
	}
	remoteWins := func(it *item) bool {
		switch e.Partnership.Policy {
		case PolicyCRM:
			return false
		case PolicyRemote:
			return true
		}
		return it.crm != nil && it.remote != nil && it.remote.Modified.After(it.crm.Modified)
	}
	var plans []plan
	for _, it := range items {
		pl := plan{it: it}
		switch {
		case it.pair == nil && it.crm != nil && it.remote != nil:
			// A create recovered by its GUID: the remote copy is the base.
			m := mergePair(e.crmForm(it.remote.Fields), it.crm.Fields, it.remote.Fields, e.CRM.Normalize, e.Remote.Normalize, false)
			pl.merged = m
			pl.remoteOp = e.updateOp(it.remote, m.toRemote, m.base)
		case it.pair == nil && it.crm != nil:
			// Fields are joined into the remote's form batch by batch
			// (see applyBatch), so a first sync holds one copy of them.
			pl.remoteOp = &Op{Kind: Create, CRMGUID: it.crm.ID, Fields: it.crm.Fields, Photo: it.crm.Photo}
		case it.pair == nil && it.remote != nil:
			if it.remote.CRMGUID != "" {
				// Ours, but its CRM contact is paired with another copy:
				// a leftover of a lost create. Remove it.
				if known, err := e.State.PairsByCRM(ctx, e.Partnership.ID, []string{it.remote.CRMGUID}); err != nil {
					return nil, err
				} else if len(known) > 0 && known[0].RemoteID != it.remote.ID {
					pl.remoteOp = &Op{Kind: Delete, ID: it.remote.ID, IfVersion: it.remote.Version}
					break
				}
			}
			if dup := e.duplicateOf(it.remote, crmEmails); dup != nil {
				pl.duplicate = dup
				pl.remoteOp = &Op{Kind: MoveToDuplicates, ID: it.remote.ID}
				break
			}
			pl.crmOp = &Op{Kind: Create, CRMGUID: e.crmGUIDFor(it.remote.ID), Fields: e.crmForm(it.remote.Fields), Photo: it.remote.Photo}
			delete(pl.crmOp.Fields, FieldJournals)
		case it.crmGone && it.remoteGone:
			pl.dropPair = true
		case it.crmGone && it.remote != nil:
			// An edit beats a delete: the CRM gets the contact back.
			pl.crmOp = &Op{Kind: Create, CRMGUID: it.pair.CRMID, Fields: e.crmForm(e.remoteEdits(e.baseOf(it), it.remote.Fields))}
			delete(pl.crmOp.Fields, FieldJournals)
			pl.restoreCRM = true
		case it.crmGone:
			pl.remoteOp = &Op{Kind: Delete, ID: it.pair.RemoteID, IfVersion: it.pair.RemoteVersion}
			pl.dropPair = true
		case it.remoteGone && it.crm != nil:
			// An edit beats a delete: the remote gets the contact back.
			pl.remoteOp = &Op{Kind: Create, CRMGUID: it.pair.CRMID, Fields: it.crm.Fields, Photo: it.crm.Photo}
		case it.remoteGone:
			pl.crmOp = &Op{Kind: Delete, ID: it.pair.CRMID, IfVersion: it.pair.CRMVersion}
			pl.dropPair = true
		case it.crm != nil || it.remote != nil:
			var crmFields, remoteFields map[string]string
			if it.crm != nil {
				crmFields = it.crm.Fields
			}
			if it.remote != nil {
				remoteFields = it.remote.Fields
			}
			m := mergePair(e.baseOf(it), crmFields, remoteFields, e.CRM.Normalize, e.Remote.Normalize, remoteWins(it))
			for i := range m.conflicts {
				m.conflicts[i].CRMID = it.pair.CRMID
			}
			pl.merged = m
			if len(m.toCRM) > 0 {
				pl.crmOp = &Op{Kind: Update, ID: it.pair.CRMID, IfVersion: versionOf(it.crm, it.pair.CRMVersion), Fields: withGroups(m.toCRM, m.base)}
			}
			pl.remoteOp = e.updateOp(it.remote, m.toRemote, m.base)
			if pl.remoteOp != nil && it.remote == nil {
				pl.remoteOp.ID, pl.remoteOp.IfVersion = it.pair.RemoteID, it.pair.RemoteVersion
			}
		default:
			continue
		}
		plans = append(plans, pl)
	}
	return plans, nil
}

// baseOf is the merge base of a paired item: the stored base, except where
// the remote holds what a lost update of the engine sent.
func (e *Engine) baseOf(it *item) map[string]string {
	sent, ok := e.sentUpdates[it.pair.CRMID]
	if !ok || it.remote == nil {
		return it.pair.Base
	}
	base := copyFields(it.pair.Base)
	for f := range sent.Base {
		rv, want := it.remote.Fields[f], sent.Base[f]
		if f != FieldJournals {
			want = e.Remote.Normalize(f, want)
		}
		if rv == want {
			setField(base, f, sent.Base[f])
		}
	}
	return base
}

func versionOf(r *Record, stored string) string {
	if r != nil {
		return r.Version
	}
	return stored
}

// updateOp builds a remote update writing fields, or nil if there are none.
// The note and the journal block travel as one note; base gives the
// agreed value of whichever of the two did not change.
func (e *Engine) updateOp(r *Record, fields, base map[string]string) *Op {
	if len(fields) == 0 {
		return nil
	}
	_, note := fields[crm.FieldNote]
	_, block := fields[FieldJournals]
	if note || block {
		fields[crm.FieldNote] = JoinNote(base[crm.FieldNote], base[FieldJournals])
		delete(fields, FieldJournals)
	}
	op := &Op{Kind: Update, Fields: withGroups(fields, base)}
	if r != nil {
		op.ID, op.IfVersion = r.ID, r.Version
	}
	return op
}

// remoteEdits returns base with the fields the remote changed since it
// (so a value the remote holds cut, SPEC S3, does not replace the base).
func (e *Engine) remoteEdits(base, remote map[string]string) map[string]string {
	out := copyFields(base)
	for _, f := range mergeFields {
		if v := remote[f]; v != e.Remote.Normalize(f, base[f]) {
			setField(out, f, v)
		}
	}
	return out
}

func copyFields(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// remoteFields are CRM fields as a remote create gets them: the note with
// the journal block joined in.
func remoteFields(fields map[string]string) map[string]string {
	out := copyFields(fields)
	delete(out, FieldJournals)
	setField(out, crm.FieldNote, JoinNote(fields[crm.FieldNote], fields[FieldJournals]))
	return out
}

// emails returns the lower-cased e-mail addresses of a record.
func emails(fields map[string]string) []string {
	var out []string
	for _, f := range []string{crm.FieldEmail1, crm.FieldEmail2, crm.FieldEmail3} {
		if v := strings.ToLower(strings.TrimSpace(fields[f])); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (e *Engine) duplicateOf(r *Record, crmEmails map[string]string) *Duplicate {
	for _, email := range emails(r.Fields) {
		if id := crmEmails[email]; id != "" {
			name := strings.TrimSpace(r.Fields[crm.FieldFirstName] + " " + r.Fields[crm.FieldLastName])
			return &Duplicate{RemoteID: r.ID, CRMID: id, Email: email, Name: name, Found: e.Now()}
		}
	}
	return nil
}

// crmGUIDFor derives the GUID a CRM contact created from remote id gets,
// so that a retried create finds the first one (SPEC S6).
func (e *Engine) crmGUIDFor(remoteID string) string {
	h := sha1.Sum([]byte(fmt.Sprintf("crmsync:%d:%s", e.Partnership.ID, remoteID)))
	h[6] = h[6]&0x0f | 0x50 // version 5
	h[8] = h[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// checkBreaker stops a run that would delete too much, or that finds the
// remote empty (SPEC S5). Runs without deletes skip the count.
func (e *Engine) checkBreaker(ctx context.Context, plans []plan, remoteSet ChangeSet) error {
	if e.ConfirmDeletes {
		return nil
	}
	var pairCount int
	count := func() error {
		var err error
		pairCount, err = e.State.PairCount(ctx, e.Partnership.ID)
		return err
	}
	if remoteSet.Complete && len(remoteSet.Records) == 0 {
		if err := count(); err != nil {
			return err
		}
		if pairCount > 0 {
			return crm.Errorf(crm.EPRECONDITION, "the remote address book is empty but %d contacts were synced with it; nothing was deleted — confirm to delete them in the CRM", pairCount)
		}
	}
	var crmDeletes, remoteDeletes int
	for _, pl := range plans {
		if pl.crmOp != nil && pl.crmOp.Kind == Delete {
			crmDeletes++
		}
		if pl.remoteOp != nil && pl.remoteOp.Kind == Delete && pl.it.pair != nil {
			remoteDeletes++
		}
	}
	if crmDeletes <= minBreakerDeletes && remoteDeletes <= minBreakerDeletes {
		return nil
	}
	if err := count(); err != nil {
		return err
	}
	limit := max(minBreakerDeletes, int(breakerShare*float64(pairCount)))
	if crmDeletes > limit || remoteDeletes > limit {
		return crm.Errorf(crm.EPRECONDITION,
			"this run would delete %d contacts in the CRM and %d in the remote address book out of %d synced; nothing was deleted — confirm to go ahead",
			crmDeletes, remoteDeletes, pairCount)
	}
	return nil
}

func countPlan(c *Counts, pl plan) {
	count := func(op *Op, created, updated, deleted *int) {
		if op == nil {
			return
		}
		switch op.Kind {
		case Create:
			*created++
		case Update:
			*updated++
		case Delete:
			*deleted++
		}
	}
	count(pl.crmOp, &c.CreatedInCRM, &c.UpdatedInCRM, &c.DeletedInCRM)
	count(pl.remoteOp, &c.CreatedInRemote, &c.UpdatedInRemote, &c.DeletedInRemote)
	if pl.duplicate != nil {
		c.Duplicates++
	}
	c.Conflicts += len(pl.merged.conflicts)
}

// transient reports whether an op error may succeed on a later run.
func transient(err error) bool {
	switch crm.ErrorCode(err) {
	case crm.EFORBIDDEN, crm.EINVALID, crm.EDUPLICATE:
		return false
	}
	return true
}
