package remote_test

import (
	"context"
	"testing"

	"github.com/crmsync/crmsync/carddav/remote"
)

// BenchmarkNoChangeListing measures the replica's share of a no-change
// re-sync against Radicale with 300 cards: one sync-collection REPORT,
// against the full ETag listing (PROPFIND Depth 1) a client without
// RFC 6578 support, like vdirsyncer, makes on every run.
func BenchmarkNoChangeListing(b *testing.B) {
	p := startRadicale(b)
	c := open(b, p, nil)
	for start := 0; start < 300; start += 100 {
		for _, r := range mustApply(b, c, createOps(b, start, start+100)) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	for _, mode := range []struct {
		name    string
		disable bool
	}{{"sync-collection", false}, {"etag-listing", true}} {
		b.Run(mode.name, func(b *testing.B) {
			rc := open(b, p, func(cfg *remote.Config) { cfg.DisableSyncCollection = mode.disable })
			cursor := mustChanges(b, rc, "").Cursor
			b.ResetTimer()
			for b.Loop() {
				cs, err := rc.Changes(context.Background(), cursor)
				if err != nil || len(cs.Records) != 0 {
					b.Fatalf("no-change listing: %d records, %v", len(cs.Records), err)
				}
			}
		})
	}
}
