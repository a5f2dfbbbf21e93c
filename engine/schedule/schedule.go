// Package schedule runs the sync cycles of many partnerships on one node
// with a bounded number at once (issue 11): a thousand partnerships must
// not mean a thousand goroutines hammering the database and Graph. Each
// partnership polls at its own jittered interval, backs off on its own
// errors (honouring Retry-After), and CRM changes wake it, coalesced: any
// number of wake-ups while it waits or runs cause one more cycle. A
// partnership never runs twice at once.
package schedule

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/crmsync/crmsync/engine"
)

// Cycle runs one sync cycle of a partnership.
type Cycle func(ctx context.Context) (*engine.Run, error)

// Clock is the scheduler's time; tests pass a fake one.
type Clock interface {
	Now() time.Time
	// Timer fires once after d; stop cancels it.
	Timer(d time.Duration) (fire <-chan time.Time, stop func())
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// Config sets a Scheduler up; zero values take the defaults.
type Config struct {
	// Workers is the most cycles running at once (default 2×GOMAXPROCS).
	Workers int
	// PollInterval is the usual wait between a partnership's cycles
	// (default 30s), spread by Jitter.
	PollInterval time.Duration
	// Jitter spreads each poll wait uniformly over PollInterval×(1±Jitter)
	// (default 0.1), so partnerships started together drift apart.
	Jitter float64
	// MaxBackoff caps the wait after repeated failures (default 5 min).
	MaxBackoff time.Duration
	Clock      Clock
	// Rand returns a number in [0, 1) for the jitter (default math/rand).
	Rand func() float64
}

// Scheduler runs the cycles of the partnerships added to it, until the
// context given to Run ends.
type Scheduler struct {
	cfg  Config
	kick chan struct{} // something changed: the dispatcher looks again
	wg   sync.WaitGroup

	mu      sync.Mutex
	entries map[int64]*entry
	busy    int // cycles running now

	onDispatch func() // tests: called with mu held after each dispatch pass
}

type entry struct {
	id       int64
	cycle    Cycle
	ctx      context.Context
	cancel   context.CancelFunc
	due      time.Time
	running  bool
	woken    bool // woken while running: run again when done
	removed  bool // removed while running: forget when done
	failures int
}

// New returns a scheduler for cfg; it runs nothing until Run.
func New(cfg Config) *Scheduler {
	if cfg.Workers <= 0 {
		cfg.Workers = 2 * runtime.GOMAXPROCS(0)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 30 * time.Second
	}
	if cfg.Jitter <= 0 {
		cfg.Jitter = 0.1
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	return &Scheduler{cfg: cfg, kick: make(chan struct{}, 1), entries: map[int64]*entry{}}
}

// Add schedules partnership id to run cycle now and then on. Adding an id
// already there replaces its cycle (a new lease's fencing token): a cycle
// of the old one still running is cancelled and the new one starts once
// it has returned, never beside it. ctx bounds the partnership's cycles.
func (s *Scheduler) Add(ctx context.Context, id int64, cycle Cycle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[id]
	if e == nil {
		e = &entry{id: id}
		s.entries[id] = e
	} else {
		e.cancel()
	}
	e.cycle, e.removed, e.failures = cycle, false, 0
	e.ctx, e.cancel = context.WithCancel(ctx)
	e.due = s.cfg.Clock.Now()
	if e.running {
		e.woken = true
	}
	s.poke()
}

// Remove stops scheduling id and cancels its running cycle, if any.
func (s *Scheduler) Remove(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[id]
	if e == nil {
		return
	}
	e.cancel()
	if e.running {
		e.removed = true
		return
	}
	delete(s.entries, id)
}

// WakeAll runs every partnership soon, after a CRM change: one that waits
// runs as soon as a worker is free, one that runs runs once more after.
// Any number of wake-ups before that make one cycle. A partnership backing
// off keeps its back-off: a CRM edit does not fix a failing remote.
func (s *Scheduler) WakeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Clock.Now()
	for _, e := range s.entries {
		switch {
		case e.failures > 0:
		case e.running:
			e.woken = true
		case e.due.After(now):
			e.due = now
		}
	}
	s.poke()
}

// poke wakes the dispatcher; s.mu is held or not, it never blocks.
func (s *Scheduler) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run dispatches cycles until ctx ends, then cancels the running ones and
// waits for them to return.
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.wg.Wait()
	defer func() {
		s.mu.Lock()
		for _, e := range s.entries {
			e.cancel()
		}
		s.mu.Unlock()
	}()
	for {
		next, ok := s.dispatch()
		var fire <-chan time.Time
		stop := func() {}
		if ok {
			fire, stop = s.cfg.Clock.Timer(next)
		}
		select {
		case <-ctx.Done():
			stop()
			return nil
		case <-s.kick:
		case <-fire:
		}
		stop()
	}
}

// dispatch starts the due partnerships, the longest overdue first, while
// workers are free, and says how long until the next one is due (ok false:
// none waits, or every worker is busy and a finishing one pokes).
func (s *Scheduler) dispatch() (next time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.onDispatch != nil {
		defer s.onDispatch()
	}
	now := s.cfg.Clock.Now()
	for s.busy < s.cfg.Workers {
		var first *entry
		for _, e := range s.entries {
			if !e.running && !e.removed && (first == nil || e.due.Before(first.due) || e.due.Equal(first.due) && e.id < first.id) {
				first = e
			}
		}
		if first == nil {
			return 0, false
		}
		if first.due.After(now) {
			return first.due.Sub(now), true
		}
		first.running = true
		s.busy++
		s.wg.Add(1)
		go s.exec(first, first.ctx, first.cycle)
	}
	return 0, false
}

// exec runs one cycle of e and schedules its next.
func (s *Scheduler) exec(e *entry, ctx context.Context, cycle Cycle) {
	defer s.wg.Done()
	run, err := cycle(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.poke()
	s.busy--
	e.running = false
	if e.removed {
		delete(s.entries, e.id)
		return
	}
	if e.ctx != ctx { // replaced by Add while running: the new cycle runs now
		e.woken = false
		return
	}
	if ctx.Err() != nil { // its owner's context ended: nothing more to run
		delete(s.entries, e.id)
		return
	}
	var wait time.Duration
	wait, e.failures = engine.NextWait(s.cfg.PollInterval, s.cfg.MaxBackoff, e.failures, run, err)
	if e.failures == 0 {
		wait = s.jitter(wait)
	}
	if e.woken && e.failures == 0 {
		wait = 0
	}
	e.woken = false
	e.due = s.cfg.Clock.Now().Add(wait)
}

// jitter spreads a poll wait over d×(1±Jitter).
func (s *Scheduler) jitter(d time.Duration) time.Duration {
	f := 1 + s.cfg.Jitter*(2*s.cfg.Rand()-1)
	return time.Duration(float64(d) * f)
}

// Has says whether id is scheduled.
func (s *Scheduler) Has(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[id]
	return e != nil && !e.removed
}

// Len is how many partnerships are scheduled.
func (s *Scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}
