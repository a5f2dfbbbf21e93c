package graph

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestBudgetSharedByClientsOfOneMailbox sends six requests through two
// clients of one mailbox: sharing a Budget, four are in the mailbox at
// once and two wait; with a budget each, all six get in.
func TestBudgetSharedByClientsOfOneMailbox(t *testing.T) {
	for _, shared := range []bool{true, false} {
		var mu sync.Mutex
		inFlight, peak := 0, 0
		gate := make(chan struct{})
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			inFlight++
			peak = max(peak, inFlight)
			mu.Unlock()
			<-gate
			mu.Lock()
			inFlight--
			mu.Unlock()
			w.Write([]byte(`{}`))
		}))
		budget := NewBudget(Config{})
		var clients []*Client
		for range 2 {
			cfg := Config{BaseURL: hs.URL, TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"})}
			if shared {
				cfg.Budget = budget
			}
			cl, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, cl)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var v struct{}
				errs <- clients[i%2].getJSON(context.Background(), "/me/contacts", "", &v)
			}()
		}
		want := 6
		if shared {
			want = 4
		}
		for i := 0; ; i++ { // until the requests are in the mailbox or in line
			mu.Lock()
			n := inFlight
			mu.Unlock()
			budget.lim.slots.Lock()
			queued := len(budget.lim.waiters)
			budget.lim.slots.Unlock()
			if n == want && (!shared || queued == 2) {
				break
			}
			if i > 5000 {
				t.Fatalf("shared %v: %d requests in the mailbox, %d queued; want %d in", shared, n, queued, want)
			}
			time.Sleep(time.Millisecond)
		}
		close(gate)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		hs.Close()
		if peak != want {
			t.Errorf("shared %v: %d requests in the mailbox at once, want %d", shared, peak, want)
		}
	}
}
