package outlook

import (
	"context"
	"errors"
	"fmt"
	"strings"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
)

// Replica is the engine's view of one folder of an in-process Mailbox: the
// Outlook side of a partnership without HTTP. The engine's tests and
// benchmarks use it; it behaves as the Graph client does against the
// sandbox (same model, same limits, same errors), minus the network.
type Replica struct {
	mb     *Mailbox
	folder string
	// Faults, when set, fails calls on demand: each method call consults
	// it once (Apply as a write).
	Faults *Faults
}

var _ engine.Replica = (*Replica)(nil)

// NewReplica returns a replica over folder of mb: a folder id, or the
// display name of an existing folder ("Contacts", "Duplicate contacts");
// "" is the default Contacts folder.
func NewReplica(mb *Mailbox, folder string) *Replica {
	if folder == "" {
		folder = mb.DefaultFolder()
	} else if _, err := mb.Folder(folder); err != nil {
		for _, f := range mb.Folders() {
			if strings.EqualFold(f.DisplayName, folder) {
				folder = f.ID
				break
			}
		}
	}
	return &Replica{mb: mb, folder: folder}
}

// Folder returns the id of the folder the replica syncs.
func (r *Replica) Folder() string { return r.folder }

// fault applies an injected fault before a call. It returns a non-nil
// error to fail the call now, or lost=true when the call must run and then
// report its response as lost.
func (r *Replica) fault(ctx context.Context, op string, write bool) (lost bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	f, ok := r.Faults.Next(Call{Op: op, Write: write})
	if !ok {
		return false, nil
	}
	switch f.Kind {
	case FaultThrottle, FaultServerError:
		return false, f.Error()
	case FaultTimeout:
		return false, fmt.Errorf("outlook %s: %w", op, context.DeadlineExceeded)
	case FaultDrop:
		return false, fmt.Errorf("outlook %s: connection dropped (injected)", op)
	case FaultLostResponse:
		return true, nil
	}
	return false, nil
}

func errLost(op string) error {
	return fmt.Errorf("outlook %s: response lost after the write was applied (injected)", op)
}

// Changes reads the folder's delta from cursor (a delta token; "" = an
// initial, complete listing).
func (r *Replica) Changes(ctx context.Context, cursor string) (engine.ChangeSet, error) {
	if _, err := r.fault(ctx, "Changes", false); err != nil {
		return engine.ChangeSet{}, err
	}
	cs := engine.ChangeSet{Complete: cursor == ""}
	token := cursor
	for {
		page, err := r.mb.Delta(r.folder, token, 0)
		if err != nil {
			var ge *GraphError
			if errors.As(err, &ge) && ge.Code == CodeSyncStateNotFound {
				return engine.ChangeSet{}, &crm.Error{Code: crm.EPRECONDITION, Message: "the Outlook delta cursor is no longer valid; a full listing is needed", Err: err}
			}
			return engine.ChangeSet{}, err
		}
		for _, e := range page.Changed {
			cs.Records = append(cs.Records, record(e, nil))
		}
		cs.Deleted = append(cs.Deleted, page.Removed...)
		if page.SkipToken == "" {
			cs.Cursor = page.DeltaToken
			return cs, nil
		}
		token = page.SkipToken
	}
}

// Get reads contacts of the folder by id, with photos.
func (r *Replica) Get(ctx context.Context, ids []string) ([]engine.Record, error) {
	if _, err := r.fault(ctx, "Get", false); err != nil {
		return nil, err
	}
	return r.read(ids)
}

func (r *Replica) read(ids []string) ([]engine.Record, error) {
	out := make([]engine.Record, 0, len(ids))
	for _, id := range ids {
		e, err := r.mb.Get(id)
		if err != nil || e.Contact.ParentFolderID != r.folder {
			continue
		}
		var photo []byte
		if e.PhotoHash != "" {
			photo, _, _ = r.mb.Photo(id)
		}
		out = append(out, record(e, photo))
	}
	return out, nil
}

// FindByCRMGUID finds the folder's contacts tagged with the given CRM
// GUIDs (SPEC S6).
func (r *Replica) FindByCRMGUID(ctx context.Context, guids []string) ([]engine.Record, error) {
	if _, err := r.fault(ctx, "FindByCRMGUID", false); err != nil {
		return nil, err
	}
	var ids []string
	for _, g := range guids {
		ids = append(ids, r.mb.FindByCRMGUID(g)...)
	}
	return r.read(ids)
}

// Apply performs the ops one by one; each gets its own result.
func (r *Replica) Apply(ctx context.Context, ops []engine.Op) ([]engine.Result, error) {
	lost, err := r.fault(ctx, "Apply", true)
	if err != nil {
		return nil, err
	}
	results := make([]engine.Result, len(ops))
	for i, op := range ops {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rec, err := r.apply(op)
		results[i] = engine.Result{Record: rec, Err: DomainError(err)}
	}
	if lost {
		return nil, errLost("Apply")
	}
	return results, nil
}

func (r *Replica) apply(op engine.Op) (*engine.Record, error) {
	switch op.Kind {
	case engine.Create:
		return r.create(op)
	case engine.Update:
		return r.update(op)
	case engine.Delete:
		if f, err := r.mb.FolderOf(op.ID); err != nil || f != r.folder {
			return nil, errNotFound()
		}
		return nil, r.mb.Delete(op.ID, op.IfVersion)
	case engine.MoveToDuplicates:
		if f, err := r.mb.FolderOf(op.ID); err != nil || f != r.folder {
			return nil, errNotFound()
		}
		dup, err := r.mb.EnsureFolder(DuplicatesFolder)
		if err != nil {
			return nil, err
		}
		e, err := r.mb.Move(op.ID, dup.ID)
		if err != nil {
			return nil, err
		}
		rec := record(e, nil)
		return &rec, nil
	}
	return nil, crm.Errorf(crm.EINVALID, "unknown operation kind %d", op.Kind)
}

func (r *Replica) create(op engine.Op) (*engine.Record, error) {
	if op.CRMGUID != "" {
		if found, _ := r.read(r.mb.FindByCRMGUID(op.CRMGUID)); len(found) > 0 {
			return &found[0], &crm.Error{Code: crm.EEXISTS, Message: "the contact was already created in Outlook"}
		}
	}
	withPhoto := op.Fields[crm.FieldPicture] != "" && len(op.Photo) > 0
	if withPhoto {
		if _, err := CheckPhoto(op.Photo, ""); err != nil {
			return nil, err // refused before anything is written (SPEC S8)
		}
	}
	c := &Contact{}
	ApplyFields(c, r.normalized(op.Fields))
	if op.CRMGUID != "" {
		c.SetExtended(PropCRMGUID, op.CRMGUID)
	}
	e, err := r.mb.Create(r.folder, c)
	if err != nil {
		return nil, err
	}
	if withPhoto {
		if e, err = r.mb.SetPhoto(e.Contact.ID, "", op.Photo, ""); err != nil {
			return nil, err
		}
	}
	rec := record(e, op.Photo)
	return &rec, nil
}

func (r *Replica) update(op engine.Op) (*engine.Record, error) {
	if f, err := r.mb.FolderOf(op.ID); err != nil || f != r.folder {
		return nil, errNotFound()
	}
	fields := r.normalized(op.Fields)
	_, photoChange := fields[crm.FieldPicture]
	delete(fields, crm.FieldPicture)
	if photoChange && op.Fields[crm.FieldPicture] != "" {
		if _, err := CheckPhoto(op.Photo, ""); err != nil {
			return nil, err // refused before anything is written (SPEC S8)
		}
	}
	ifVersion := op.IfVersion
	var (
		e   Entry
		err error
	)
	if len(fields) > 0 || !photoChange {
		e, err = r.mb.Update(op.ID, ifVersion, func(c *Contact) error {
			ApplyFields(c, fields)
			return nil
		})
		if err != nil {
			return nil, err
		}
		ifVersion = e.Contact.ChangeKey
	}
	if photoChange {
		var data []byte
		if op.Fields[crm.FieldPicture] != "" {
			data = op.Photo
		}
		if e, err = r.mb.SetPhoto(op.ID, ifVersion, data, ""); err != nil {
			return nil, err
		}
	}
	rec := record(e, nil)
	return &rec, nil
}

func (r *Replica) normalized(fields map[string]string) map[string]string {
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		out[k] = Normalize(k, v)
	}
	return out
}

// Normalize is the S3 rule (see the package function Normalize).
func (r *Replica) Normalize(field, value string) string { return Normalize(field, value) }

// record turns a mailbox entry into the engine's record.
func record(e Entry, photo []byte) engine.Record {
	fields := ToRecordFields(e.Contact)
	if e.PhotoHash != "" {
		fields[crm.FieldPicture] = e.PhotoHash
	}
	return engine.Record{
		ID:       e.Contact.ID,
		Version:  e.Contact.ChangeKey,
		CRMGUID:  CRMGUID(e.Contact),
		Fields:   fields,
		Modified: e.Modified,
		Photo:    photo,
	}
}
