package engine

import (
	"context"
	"fmt"

	crm "github.com/crmsync/crmsync"
)

// apply executes the plans in batches, committing the state after each.
// It reports whether every write succeeded or failed for good (clean); on
// a transient failure the cursors must not advance, so the next run lists
// the same changes again (writes already done are then recognised by their
// versions).
//
// The remote writes of the next batch go out while a batch is committed,
// so a remote that bounds its own requests (the Graph client: four in
// flight in all) never idles on the engine's bookkeeping or on the tail
// of a batch. Batches are finished — CRM writes, state commit, counts —
// one at a time and in order.
func (e *Engine) apply(ctx context.Context, plans []plan, run *Run) (clean bool, err error) {
	clean = true
	var sent []*outbound // on their way, oldest first
	done, next := 0, 0
	for len(sent) > 0 || (err == nil && next < len(plans)) {
		for err == nil && next < len(plans) && len(sent) < pipelineDepth {
			size := e.BatchSize
			if next == 0 {
				// A small first batch puts the first writes on the wire at
				// once; the batches after it overlap.
				size = max(size/5, 1)
			}
			o := e.newOutbound(plans[next:min(next+size, len(plans))])
			next += len(o.batch)
			sent = append(sent, o)
			go func() {
				defer close(o.sent)
				o.err = e.send(ctx, o)
			}()
		}
		o := sent[0]
		sent = sent[1:]
		<-o.sent
		if err == nil && o.err == nil && e.remoteWritten != nil {
			// The next pass's listing overlaps the writes and commits.
			e.remoteWritten(len(sent) == 0 && next == len(plans))
		}
		if err != nil {
			continue // wait for the writes under way, start no more
		}
		if err = o.err; err != nil {
			continue
		}
		var ok bool
		ok, err = e.finish(ctx, o, run, true)
		clear(o.batch) // its records may go now
		if err != nil {
			continue
		}
		clean = clean && ok
		done += len(o.batch)
		if e.Progress != nil {
			e.Progress(Progress{Done: done, Total: len(plans)})
		}
	}
	return clean && err == nil, err
}

// pipelineDepth is how many batches may be on their way at once.
const pipelineDepth = 2

// outbound is one batch of plans and the writes it makes.
type outbound struct {
	batch             []plan
	pending           []Pending
	crmOps, remoteOps []Op
	crmIdx, remoteIdx []int // plan index of each op
	remoteResults     []Result
	sent              chan struct{} // closed when send returned
	err               error
}

// applyBatch writes and finishes one batch at once.
func (e *Engine) applyBatch(ctx context.Context, batch []plan, run *Run, followUps bool) (clean bool, err error) {
	o := e.newOutbound(batch)
	if err := e.send(ctx, o); err != nil {
		return false, err
	}
	return e.finish(ctx, o, run, followUps)
}

// newOutbound builds the writes of a batch and the pending rows that
// make them recoverable (SPEC S6).
func (e *Engine) newOutbound(batch []plan) *outbound {
	o := &outbound{batch: batch, sent: make(chan struct{})}
	for i, pl := range batch {
		if op := pl.crmOp; op != nil {
			if op.Kind == Create {
				o.pending = append(o.pending, Pending{Side: CRMSide, CRMGUID: op.CRMGUID, SourceID: idOf(pl.it.remote, pl.it.pair, RemoteSide), Base: baseFields(op.Fields)})
			}
			o.crmOps, o.crmIdx = append(o.crmOps, *op), append(o.crmIdx, i)
		}
		if op := pl.remoteOp; op != nil {
			if op.Kind == Create {
				op = &Op{Kind: Create, CRMGUID: op.CRMGUID, Fields: remoteFields(op.Fields), Photo: op.Photo}
			}
			switch {
			case op.Kind == Create:
				o.pending = append(o.pending, Pending{Side: RemoteSide, CRMGUID: op.CRMGUID, SourceID: op.CRMGUID, Base: baseFields(pl.it.crm.Fields)})
			case op.Kind == Delete && pl.it.pair != nil:
				o.pending = append(o.pending, Pending{Side: RemoteSide, Kind: Delete, CRMGUID: pl.it.pair.CRMID, SourceID: op.ID})
			case op.Kind == Update && pl.it.pair != nil:
				o.pending = append(o.pending, Pending{Side: RemoteSide, Kind: Update, CRMGUID: pl.it.pair.CRMID, SourceID: op.ID, Base: sentFromCRM(pl, op)})
			}
			o.remoteOps, o.remoteIdx = append(o.remoteOps, *op), append(o.remoteIdx, i)
		}
	}
	return o
}

// send records the batch's pending writes and makes its remote writes. It
// may run while the previous batch finishes.
func (e *Engine) send(ctx context.Context, o *outbound) error {
	if len(o.pending) > 0 {
		if err := e.State.AddPending(ctx, e.Partnership.ID, o.pending); err != nil {
			return err
		}
	}
	if err := e.attachPhotos(ctx, o.batch, o.crmOps, o.crmIdx, o.remoteOps, o.remoteIdx); err != nil {
		return err
	}
	var err error
	if o.remoteResults, err = applyAll(ctx, e.Remote, o.remoteOps); err != nil {
		return fmt.Errorf("writing to the remote: %w", err)
	}
	return nil
}

// finish makes the batch's CRM writes and commits the outcome of both.
func (e *Engine) finish(ctx context.Context, o *outbound, run *Run, followUps bool) (clean bool, err error) {
	pid := e.Partnership.ID
	batch, pending, crmOps, crmIdx, remoteIdx, remoteResults := o.batch, o.pending, o.crmOps, o.crmIdx, o.remoteIdx, o.remoteResults
	crmResults, err := applyAll(ctx, e.CRM, crmOps)
	if err != nil {
		return false, fmt.Errorf("writing to the CRM: %w", err)
	}
	crmRes := make([]*Result, len(batch))
	remoteRes := make([]*Result, len(batch))
	for k, i := range crmIdx {
		crmRes[i] = &crmResults[k]
	}
	for k, i := range remoteIdx {
		remoteRes[i] = &remoteResults[k]
	}

	if e.written != nil {
		for _, r := range remoteResults {
			if r.Err == nil && r.Record != nil {
				e.written[RemoteSide][r.Record.ID] = r.Record.Version
			}
		}
		for k, r := range crmResults {
			// A contact the CRM created is compared again as the CRM holds
			// it (see newPair), so its echo is kept.
			if r.Err == nil && r.Record != nil && crmOps[k].Kind != Create {
				e.written[CRMSide][r.Record.ID] = r.Record.Version
			}
		}
	}
	clean = true
	var c Commit
	keep := map[string]bool{} // pending writes whose outcome is unknown
	var more []plan
	for i, pl := range batch {
		cr, rr := crmRes[i], remoteRes[i]
		failed := false
		for _, res := range []struct {
			r    *Result
			side Side
			op   *Op
		}{{cr, CRMSide, pl.crmOp}, {rr, RemoteSide, pl.remoteOp}} {
			if res.r == nil || res.r.Err == nil {
				continue
			}
			code := crm.ErrorCode(res.r.Err)
			if code == crm.EEXISTS && res.r.Record != nil {
				res.r.Err = nil // the create had happened: take the item it found
				continue
			}
			if code == crm.ENOTFOUND && res.op.Kind == Delete {
				res.r.Err = nil // already gone
				continue
			}
			failed = true
			if transient(res.r.Err) {
				clean = false
				keep[string(res.side)+pendingKey(pl, res.side)] = true
				run.Retry = append(run.Retry, ItemError{Side: res.side, ID: res.op.ID + res.op.CRMGUID, Message: res.r.Err.Error()})
				continue
			}
			run.Errors = append(run.Errors, ItemError{Side: res.side, ID: res.op.ID + res.op.CRMGUID, Message: crm.ErrorMessage(res.r.Err)})
			run.Counts.Errors++
			if f := e.followUp(ctx, pl, res.side, res.op); f != nil && followUps {
				more = append(more, *f)
			}
		}
		if failed {
			continue
		}
		countPlan(&run.Counts, pl)
		if pl.duplicate != nil {
			run.Duplicates = append(run.Duplicates, *pl.duplicate)
			c.Duplicates = append(c.Duplicates, *pl.duplicate)
			continue
		}
		if pl.dropPair {
			if pl.it.pair != nil {
				c.RemoveCRM = append(c.RemoveCRM, pl.it.pair.CRMID)
			}
			continue
		}
		if pair := e.newPair(pl, cr, rr); pair != nil {
			c.Save = append(c.Save, *pair)
		}
		if len(pl.merged.conflicts) > 0 {
			run.Conflicts = append(run.Conflicts, pl.merged.conflicts...)
			if e.Journal != nil {
				if err := e.Journal.RecordConflicts(ctx, pl.merged.conflicts[0].CRMID, pl.merged.conflicts); err != nil {
					return false, fmt.Errorf("recording conflicts: %w", err)
				}
			}
		}
	}
	for _, pe := range pending {
		if !keep[string(pe.Side)+pe.CRMGUID] {
			c.Settled = append(c.Settled, pe)
		}
	}
	if err := e.State.Commit(ctx, pid, c); err != nil {
		return false, err
	}
	if len(more) > 0 {
		ok, err := e.applyBatch(ctx, more, run, false)
		return clean && ok, err
	}
	return clean, nil
}

// applyAll calls Apply and checks it answered every op.
func applyAll(ctx context.Context, r Replica, ops []Op) ([]Result, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	res, err := r.Apply(ctx, ops)
	if err != nil {
		return nil, err
	}
	if len(res) != len(ops) {
		return nil, fmt.Errorf("replica answered %d of %d writes", len(res), len(ops))
	}
	return res, nil
}

func idOf(r *Record, p *Pair, side Side) string {
	if r != nil {
		return r.ID
	}
	if p != nil {
		if side == CRMSide {
			return p.CRMID
		}
		return p.RemoteID
	}
	return ""
}

// newPair is the state of a plan's pair after its writes succeeded.
func (e *Engine) newPair(pl plan, cr, rr *Result) *Pair {
	it := pl.it
	pair := Pair{}
	if it.pair != nil {
		pair = *it.pair
		pair.Base = copyFields(pair.Base)
	}
	if it.crm != nil {
		pair.CRMID, pair.CRMVersion = it.crm.ID, it.crm.Version
	}
	if it.remote != nil {
		pair.RemoteID, pair.RemoteVersion = it.remote.ID, it.remote.Version
	}
	switch {
	case pl.crmOp != nil && pl.crmOp.Kind == Create && cr != nil && cr.Record != nil:
		// The base is what was sent. The CRM's version is left unknown, so
		// the next pass compares the contact as the CRM holds it (with its
		// journals, normalised values) and brings the remote in line.
		pair.CRMID, pair.CRMVersion = cr.Record.ID, ""
		pair.Base = baseFields(pl.crmOp.Fields)
	case pl.remoteOp != nil && pl.remoteOp.Kind == Create && rr != nil && rr.Record != nil:
		pair.RemoteID, pair.RemoteVersion = rr.Record.ID, rr.Record.Version
		pair.Base = baseFields(it.crm.Fields)
	default:
		pair.Base = pl.merged.base
		if cr != nil && cr.Record != nil {
			pair.CRMVersion = cr.Record.Version
		}
		if rr != nil && rr.Record != nil {
			pair.RemoteVersion = rr.Record.Version
		}
	}
	if pair.CRMID == "" || pair.RemoteID == "" {
		return nil
	}
	return &pair
}

// baseFields keeps the merged fields of a CRM record.
func baseFields(fields map[string]string) map[string]string {
	out := map[string]string{}
	for _, f := range mergeFields {
		setField(out, f, fields[f])
	}
	return out
}

// followUp is what to do after a side refused a write for good.
func (e *Engine) followUp(ctx context.Context, pl plan, side Side, op *Op) *plan {
	it := pl.it
	if side != CRMSide || it.pair == nil {
		return nil
	}
	switch {
	case op.Kind == Delete:
		// The user may not delete the CRM contact: restore it remotely.
		recs, err := e.CRM.Get(ctx, []string{it.pair.CRMID})
		if err != nil || len(recs) == 0 {
			return nil
		}
		r := recs[0]
		return &plan{it: &item{pair: it.pair, crm: &r}, remoteOp: &Op{Kind: Create, CRMGUID: r.ID, Fields: r.Fields, Photo: r.Photo}}
	case op.Kind == Create && pl.restoreCRM:
		// The CRM contact cannot come back (it left the user's set): the
		// remote copy goes.
		return &plan{it: &item{pair: it.pair}, remoteOp: &Op{Kind: Delete, ID: it.pair.RemoteID}, dropPair: true}
	case op.Kind == Update:
		// The user may not edit the CRM contact: put the CRM values back.
		crmFields := it.pair.Base
		if it.crm != nil {
			crmFields = it.crm.Fields
		}
		revert := map[string]string{}
		for f := range op.Fields {
			revert[f] = crmFields[f]
		}
		remote := it.remote
		if remote == nil {
			return nil
		}
		m := merge{base: baseFields(crmFields), toRemote: revert}
		return &plan{it: &item{pair: it.pair, remote: remote}, merged: m, remoteOp: e.updateOp(remote, revert, m.base)}
	}
	return nil
}

// attachPhotos fetches the picture bytes that writes need but the listing
// did not carry.
func (e *Engine) attachPhotos(ctx context.Context, batch []plan, crmOps []Op, crmIdx []int, remoteOps []Op, remoteIdx []int) error {
	need := func(ops []Op, idx []int, source func(*item) *Record, from Replica) error {
		var ids []string
		var which []int
		for k := range ops {
			op := &ops[k]
			if op.Kind == Delete || op.Kind == MoveToDuplicates || op.Fields[crm.FieldPicture] == "" || op.Photo != nil {
				continue
			}
			r := source(batch[idx[k]].it)
			if r != nil && r.Photo != nil {
				op.Photo = r.Photo
				continue
			}
			if id := idOfSource(batch[idx[k]].it, from == e.CRM); id != "" {
				ids = append(ids, id)
				which = append(which, k)
			}
		}
		if len(ids) == 0 {
			return nil
		}
		recs, err := from.Get(ctx, ids)
		if err != nil {
			return fmt.Errorf("reading photos: %w", err)
		}
		byID := map[string]*Record{}
		for i := range recs {
			byID[recs[i].ID] = &recs[i]
		}
		for n, k := range which {
			if r := byID[ids[n]]; r != nil {
				ops[k].Photo = r.Photo
			}
		}
		return nil
	}
	if err := need(remoteOps, remoteIdx, func(it *item) *Record { return it.crm }, e.CRM); err != nil {
		return err
	}
	return need(crmOps, crmIdx, func(it *item) *Record { return it.remote }, e.Remote)
}

func idOfSource(it *item, crmSide bool) string {
	if crmSide {
		return idOf(it.crm, it.pair, CRMSide)
	}
	return idOf(it.remote, it.pair, RemoteSide)
}

// pendingKey is the CRM GUID a plan's pending write on side is filed under.
func pendingKey(pl plan, side Side) string {
	op := pl.crmOp
	if side == RemoteSide {
		op = pl.remoteOp
	}
	if op != nil && op.Kind == Create {
		return op.CRMGUID
	}
	if pl.it.pair != nil {
		return pl.it.pair.CRMID
	}
	return ""
}

// sentFromCRM is what a remote update sends that the CRM already holds:
// the fields of op not also written to the CRM by the same plan, with their
// agreed values (the note as note and journal block). Only for these may a
// lost update's echo count as agreed: a value on its way to the CRM too
// has not arrived there if the CRM's write never ran.
func sentFromCRM(pl plan, op *Op) map[string]string {
	sent := map[string]string{}
	for f := range op.Fields {
		fields := []string{f}
		if f == crm.FieldNote {
			fields = []string{crm.FieldNote, FieldJournals}
		}
		for _, f := range fields {
			if pl.crmOp != nil {
				if _, toCRM := pl.crmOp.Fields[f]; toCRM {
					continue
				}
			}
			sent[f] = pl.merged.base[f]
		}
	}
	return sent
}
