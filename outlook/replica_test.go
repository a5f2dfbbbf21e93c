package outlook_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/outlook"
)

func applyOne(tb testing.TB, r engine.Replica, op engine.Op) engine.Result {
	tb.Helper()
	res, err := r.Apply(context.Background(), []engine.Op{op})
	if err != nil {
		tb.Fatalf("Apply: %v", err)
	}
	if len(res) != 1 {
		tb.Fatalf("Apply returned %d results for 1 op", len(res))
	}
	return res[0]
}

func TestReplicaLifecycle(t *testing.T) {
	ctx := context.Background()
	mb := outlook.NewMemory()
	r := outlook.NewReplica(mb, "")

	cs, err := r.Changes(ctx, "")
	if err != nil || !cs.Complete || len(cs.Records) != 0 || cs.Cursor == "" {
		t.Fatalf("empty Changes = %+v, %v", cs, err)
	}
	cursor := cs.Cursor

	photo := []byte("\xff\xd8\xff\xe0 a jpeg")
	sum := sha256.Sum256(photo)
	hash := hex.EncodeToString(sum[:])
	fields := fullFields()
	fields[crm.FieldPicture] = hash
	fields[crm.FieldLastName] = strings.Repeat("x", 300)
	res := applyOne(t, r, engine.Op{Kind: engine.Create, CRMGUID: "guid-1", Fields: fields, Photo: photo})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	rec := res.Record
	want := fullFields()
	want[crm.FieldPicture] = hash
	want[crm.FieldLastName] = strings.Repeat("x", 256)
	if diff := cmp.Diff(want, rec.Fields); diff != "" {
		t.Errorf("created record (-want +got):\n%s", diff)
	}
	if rec.CRMGUID != "guid-1" || rec.ID == "" || rec.Version == "" || rec.Modified.IsZero() {
		t.Errorf("created record identity: %+v", rec)
	}

	// a retried create finds the first one (S6)
	again := applyOne(t, r, engine.Op{Kind: engine.Create, CRMGUID: "guid-1", Fields: fields})
	if crm.ErrorCode(again.Err) != crm.EEXISTS || again.Record == nil || again.Record.ID != rec.ID {
		t.Errorf("second create: %+v", again)
	}
	if mb.Count("") != 1 {
		t.Errorf("mailbox holds %d contacts after a retried create", mb.Count(""))
	}
	found, err := r.FindByCRMGUID(ctx, []string{"guid-1", "nope"})
	if err != nil || len(found) != 1 || found[0].ID != rec.ID {
		t.Errorf("FindByCRMGUID = %+v, %v", found, err)
	}

	got, err := r.Get(ctx, []string{rec.ID, "missing"})
	if err != nil || len(got) != 1 || string(got[0].Photo) != string(photo) {
		t.Fatalf("Get = %+v, %v", got, err)
	}

	// conditional update
	stale := applyOne(t, r, engine.Op{Kind: engine.Update, ID: rec.ID, IfVersion: "EQAAABYAAAAold", Fields: map[string]string{crm.FieldFirstName: "Eva"}})
	if crm.ErrorCode(stale.Err) != crm.EPRECONDITION {
		t.Errorf("stale update: %v", stale.Err)
	}
	upd := applyOne(t, r, engine.Op{Kind: engine.Update, ID: rec.ID, IfVersion: rec.Version,
		Fields: map[string]string{crm.FieldFirstName: "Eva", crm.FieldPhoneFax: "", crm.FieldPicture: ""}})
	if upd.Err != nil {
		t.Fatal(upd.Err)
	}
	if upd.Record.Fields[crm.FieldFirstName] != "Eva" || upd.Record.Fields[crm.FieldPhoneFax] != "" ||
		upd.Record.Fields[crm.FieldPicture] != "" || upd.Record.Fields[crm.FieldPhoneOther] != "+420 4" {
		t.Errorf("updated fields: %v", upd.Record.Fields)
	}

	cs, err = r.Changes(ctx, cursor)
	if err != nil || cs.Complete || len(cs.Records) != 1 || cs.Records[0].Version != upd.Record.Version {
		t.Fatalf("Changes after writes = %+v, %v", cs, err)
	}
	cursor = cs.Cursor

	mv := applyOne(t, r, engine.Op{Kind: engine.MoveToDuplicates, ID: rec.ID})
	if mv.Err != nil {
		t.Fatal(mv.Err)
	}
	cs, _ = r.Changes(ctx, cursor)
	if diff := cmp.Diff([]string{rec.ID}, cs.Deleted); diff != "" || len(cs.Records) != 0 {
		t.Errorf("after move (-want +got): %s records %d", diff, len(cs.Records))
	}
	if got, _ := r.Get(ctx, []string{rec.ID}); len(got) != 0 {
		t.Error("Get returns a contact moved out of the folder")
	}
	dupFolder, _ := mb.EnsureFolder(outlook.DuplicatesFolder)
	if byName := outlook.NewReplica(mb, outlook.DuplicatesFolder); byName.Folder() != dupFolder.ID {
		t.Errorf("replica by folder name uses %q, want %q", byName.Folder(), dupFolder.ID)
	}
	dr := outlook.NewReplica(mb, dupFolder.ID)
	if del := applyOne(t, dr, engine.Op{Kind: engine.Delete, ID: rec.ID}); del.Err != nil {
		t.Fatal(del.Err)
	}
	if gone := applyOne(t, r, engine.Op{Kind: engine.Delete, ID: rec.ID}); crm.ErrorCode(gone.Err) != crm.ENOTFOUND {
		t.Errorf("delete of a gone contact: %v", gone.Err)
	}
	bad := applyOne(t, r, engine.Op{Kind: engine.Create, Fields: map[string]string{crm.FieldFirstName: "x"}, Photo: make([]byte, outlook.MaxPhotoBytes+1)})
	_ = bad // no ProfilePicture hash: photo ignored
	if r.Normalize(crm.FieldNote, strings.Repeat("n", 400)) != strings.Repeat("n", 400) {
		t.Error("Normalize cut the note")
	}
}

func TestReplicaFaults(t *testing.T) {
	ctx := context.Background()
	mb := outlook.NewMemory()
	r := outlook.NewReplica(mb, "")
	r.Faults = &outlook.Faults{}

	r.Faults.Inject(1, outlook.Fault{Kind: outlook.FaultThrottle, RetryAfter: 3 * time.Second})
	_, err := r.Changes(ctx, "")
	var ra interface{ RetryAfter() time.Duration }
	if !errors.As(err, &ra) || ra.RetryAfter() != 3*time.Second {
		t.Errorf("throttle: %v", err)
	}
	r.Faults.Inject(1, outlook.Fault{Kind: outlook.FaultServerError})
	if _, err := r.Get(ctx, nil); err == nil || crm.ErrorCode(err) != crm.EINTERNAL {
		t.Errorf("5xx: %v", err)
	}
	r.Faults.Inject(1, outlook.Fault{Kind: outlook.FaultTimeout})
	if _, err := r.Apply(ctx, []engine.Op{{Kind: engine.Create, Fields: map[string]string{crm.FieldFirstName: "t"}}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: %v", err)
	}
	if mb.Count("") != 0 {
		t.Error("a timed-out Apply wrote")
	}
	// a lost response skips reads and hits the next write
	r.Faults.Inject(1, outlook.Fault{Kind: outlook.FaultLostResponse})
	if _, err := r.Changes(ctx, ""); err != nil {
		t.Errorf("read hit a lost-response fault: %v", err)
	}
	res, err := r.Apply(ctx, []engine.Op{{Kind: engine.Create, CRMGUID: "g", Fields: map[string]string{crm.FieldFirstName: "lost"}}})
	if err == nil || res != nil {
		t.Fatalf("lost response: %v %v", res, err)
	}
	if mb.Count("") != 1 {
		t.Errorf("lost-response write not applied: %d contacts", mb.Count(""))
	}
	if found, _ := r.FindByCRMGUID(ctx, []string{"g"}); len(found) != 1 {
		t.Error("the write whose response was lost is not findable by its CRM GUID")
	}
	if r.Faults.Pending() != 0 || r.Faults.Hits(outlook.FaultLostResponse) != 1 {
		t.Errorf("pending %d hits %d", r.Faults.Pending(), r.Faults.Hits(outlook.FaultLostResponse))
	}
	r.Faults.SetHook(func(c outlook.Call) *outlook.Fault {
		if c.Op == "Get" {
			return &outlook.Fault{Kind: outlook.FaultDrop}
		}
		return nil
	})
	if _, err := r.Get(ctx, nil); err == nil {
		t.Error("hook fault not injected")
	}
	if _, err := r.Changes(ctx, ""); err != nil {
		t.Errorf("hook failed a call it should not: %v", err)
	}
}

func TestReplicaRefusesInvalid(t *testing.T) {
	r := outlook.NewReplica(outlook.NewMemory(), "")
	res := applyOne(t, r, engine.Op{Kind: engine.Create,
		Fields: map[string]string{crm.FieldFirstName: "p", crm.FieldPicture: "abc"}, Photo: []byte("not an image at all")})
	if crm.ErrorCode(res.Err) != crm.EINVALID {
		t.Errorf("non-image photo: %v", res.Err)
	}
}

func BenchmarkMailboxCreate(b *testing.B) {
	mb := outlook.NewMemory()
	c := &outlook.Contact{}
	outlook.ApplyFields(c, fullFields())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mb.Create("", c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMailbox100k creates 100,000 contacts, then measures a delta
// round that finds no change (the cost of a no-change sync cycle).
func BenchmarkMailbox100k(b *testing.B) {
	const n = 100_000
	var mb *outlook.Mailbox
	b.Run("create", func(b *testing.B) {
		template := &outlook.Contact{}
		outlook.ApplyFields(template, fullFields())
		emails := make([]string, n)
		for i := range emails {
			emails[i] = fmt.Sprintf("c%d@example.com", i)
		}
		for b.Loop() {
			mb = outlook.NewMemory()
			for i := range n {
				c := *template
				c.EmailAddresses = []outlook.EmailAddress{{Address: emails[i]}}
				if _, err := mb.Create("", &c); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/contact")
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "MB-heap-after")
	})
	r := outlook.NewReplica(mb, "")
	ctx := context.Background()
	var cursor string
	b.Run("initial-changes", func(b *testing.B) {
		for b.Loop() {
			cs, err := r.Changes(ctx, "")
			if err != nil || len(cs.Records) != n {
				b.Fatalf("%d records, %v", len(cs.Records), err)
			}
			cursor = cs.Cursor
		}
	})
	b.Run("no-change-delta", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cs, err := r.Changes(ctx, cursor)
			if err != nil || len(cs.Records)+len(cs.Deleted) != 0 {
				b.Fatalf("%d records, %v", len(cs.Records), err)
			}
		}
	})
}
