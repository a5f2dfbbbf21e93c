package graph

import "sync"

// Budget is one mailbox's share of Graph's Outlook limits (requests at
// once, requests per window, the Retry-After fence). Clients of the same
// mailbox — several partnerships, the web UI's first sync beside the
// server's — pass the same Budget in Config so that together they stay
// within what Outlook allows one mailbox.
type Budget struct{ lim *limiter }

// NewBudget returns a budget with cfg's limits (MaxInFlight,
// WindowRequests, Window, Now; zero values take Config's defaults).
func NewBudget(cfg Config) *Budget {
	cfg.setDefaults()
	return &Budget{lim: newLimiter(cfg.MaxInFlight, cfg.WindowRequests, cfg.Window, cfg.Now)}
}

// Budgets hands out one Budget per mailbox key, made on first use.
type Budgets struct {
	cfg Config
	mu  sync.Mutex
	by  map[string]*Budget
}

// NewBudgets returns budgets with cfg's limits.
func NewBudgets(cfg Config) *Budgets { return &Budgets{cfg: cfg, by: map[string]*Budget{}} }

// For returns the budget of the mailbox named by key; on nil Budgets, nil
// (each client then has its own).
func (b *Budgets) For(key string) *Budget {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.by[key] == nil {
		b.by[key] = NewBudget(b.cfg)
	}
	return b.by[key]
}
