package graph_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/graph"
	"github.com/crmsync/crmsync/graph/sandbox"
)

// benchOps returns n creates with every field, one in twenty with a photo.
func benchOps(b *testing.B, n int) []engine.Op {
	photo := testPNG(b, 96, 96, 9)
	ops := make([]engine.Op, n)
	for i := range ops {
		var p []byte
		if i%20 == 0 {
			p = photo
		}
		ops[i] = engine.Op{Kind: engine.Create, CRMGUID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), Fields: fullFields(i, p), Photo: p}
	}
	return ops
}

// BenchmarkFirstSync3000 runs the Outlook half of a 3,000-contact first
// sync against the sandbox over loopback HTTP: a complete listing of the
// empty folder, then 3,000 creates through Apply (in chunks of chunk ops,
// as the engine commits its state after each applied batch). It reports
// the HTTP requests sent and, with latency, the ratio of the wall time to
// the bound N_requests × latency / 4.
func BenchmarkFirstSync3000(b *testing.B) {
	for _, tc := range []struct {
		latency time.Duration
		chunk   int
	}{{0, 3000}, {0, 500}, {50 * time.Millisecond, 3000}, {50 * time.Millisecond, 500}} {
		b.Run(fmt.Sprintf("latency=%v/chunk=%d", tc.latency, tc.chunk), func(b *testing.B) {
			ops := benchOps(b, 3000)
			var requests int64
			var wall time.Duration
			for b.Loop() {
				sb := newSandbox(b, sandbox.Options{Latency: tc.latency})
				cl := newTestClient(b, sb.url, nil)
				start := time.Now()
				if _, err := cl.Changes(context.Background(), ""); err != nil {
					b.Fatal(err)
				}
				for i := 0; i < len(ops); i += tc.chunk {
					res, err := cl.Apply(context.Background(), ops[i:min(i+tc.chunk, len(ops))])
					if err != nil {
						b.Fatal(err)
					}
					for _, r := range res {
						if r.Err != nil {
							b.Fatal(r.Err)
						}
					}
				}
				wall += time.Since(start)
				requests += cl.Requests()
				if n := sb.mb.Count(""); n != len(ops) {
					b.Fatalf("mailbox holds %d contacts", n)
				}
				if st := sb.srv.Stats(); st.Throttled != 0 {
					b.Fatalf("the sandbox throttled %d requests", st.Throttled)
				}
			}
			perRun := float64(requests) / float64(b.N)
			b.ReportMetric(perRun, "requests/op")
			b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "wall-ms/op")
			if tc.latency > 0 {
				bound := time.Duration(perRun * float64(tc.latency) / 4)
				b.ReportMetric(float64(wall)/float64(b.N)/float64(bound), "x-bound")
			}
		})
	}
}

// BenchmarkIncrementalAfterFirstSync measures the next delta round after
// the client's own 3,000 creates: every entry is the client's own write,
// known at its changeKey, so nothing is read again.
func BenchmarkIncrementalAfterFirstSync(b *testing.B) {
	ops := benchOps(b, 3000)
	for b.Loop() {
		b.StopTimer()
		sb := newSandbox(b, sandbox.Options{})
		cl := newTestClient(b, sb.url, nil)
		cs, err := cl.Changes(context.Background(), "")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cl.Apply(context.Background(), ops); err != nil {
			b.Fatal(err)
		}
		before := cl.Requests()
		b.StartTimer()
		next, err := cl.Changes(context.Background(), cs.Cursor)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if len(next.Records) != 3000 || next.Records[0].Fields[crm.FieldLastName] == "" {
			b.Fatalf("%d records", len(next.Records))
		}
		b.ReportMetric(float64(cl.Requests()-before), "requests/op")
		b.StartTimer()
	}
}

var _ = graph.DefaultBaseURL

// BenchmarkListingAfterRestart is the first Changes of a new process over
// a mailbox of 3,000 contacts (one in twenty with a photo): nothing is
// remembered, so every photo is looked up, in parallel batches.
func BenchmarkListingAfterRestart(b *testing.B) {
	for _, latency := range []time.Duration{0, 50 * time.Millisecond} {
		b.Run(fmt.Sprintf("latency=%v", latency), func(b *testing.B) {
			sb := newSandbox(b, sandbox.Options{})
			if _, err := newTestClient(b, sb.url, nil).Apply(context.Background(), benchOps(b, 3000)); err != nil {
				b.Fatal(err)
			}
			var requests int64
			for b.Loop() {
				// The same mailbox, served with the latency under test.
				srv := sandbox.NewServer(sb.mb, sandbox.Options{Latency: latency})
				hs := httptest.NewServer(srv)
				cl := newTestClient(b, hs.URL, nil)
				cs, err := cl.Changes(context.Background(), "")
				hs.Close()
				if err != nil || len(cs.Records) != 3000 {
					b.Fatalf("%d records, %v", len(cs.Records), err)
				}
				requests += cl.Requests()
			}
			b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
		})
	}
}
