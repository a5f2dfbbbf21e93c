package postgres

import (
	"context"
	"testing"

	"github.com/crmsync/crmsync/internal/testenv"
)

// TestPoolSize: PoolSize grows the pool to what a node needs, and never
// overrides a pool_max_conns the URL sets.
func TestPoolSize(t *testing.T) {
	url := testenv.Postgres(t)
	for _, c := range []struct {
		url  string
		want int32
	}{
		{url, 19},
		{url + "&pool_max_conns=2", 2},
	} {
		db, err := Open(context.Background(), c.url, PoolSize(19))
		if err != nil {
			t.Fatal(err)
		}
		if got := db.pool.Config().MaxConns; got != c.want {
			t.Errorf("%s: pool of %d, want %d", c.url, got, c.want)
		}
		db.Close()
	}
}
