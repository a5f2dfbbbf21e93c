package schedule

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/engine"
)

// fakeClock moves only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]bool
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), timers: map[*fakeTimer]bool{}}
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), ch: make(chan time.Time, 1)}
	c.timers[t] = true
	return t.ch, func() { c.mu.Lock(); delete(c.timers, t); c.mu.Unlock() }
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
			delete(c.timers, t)
		}
	}
}

// call is one cycle under way; the test answers it on done.
type call struct {
	id   int64
	tag  string
	done chan result
}

type result struct {
	run *engine.Run
	err error
}

var ok = result{run: &engine.Run{Outcome: "ok"}}

// harness runs a scheduler on a fake clock with cycles that wait for the
// test's answer, recording how many run at once.
type harness struct {
	t       *testing.T
	s       *Scheduler
	clock   *fakeClock
	started chan call
	passes  int // dispatch passes, under s.mu

	mu       sync.Mutex
	inFlight map[int64]int
	now      int
	peak     int
	double   []int64
	runs     map[int64]int
}

func newHarness(t *testing.T, cfg Config) *harness {
	h := &harness{t: t, clock: newFakeClock(), started: make(chan call, 1000), inFlight: map[int64]int{}, runs: map[int64]int{}}
	cfg.Clock = h.clock
	h.s = New(cfg)
	h.s.onDispatch = func() { h.passes++ }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

func (h *harness) cycle(id int64, tag string) Cycle {
	return func(ctx context.Context) (*engine.Run, error) {
		h.mu.Lock()
		h.inFlight[id]++
		if h.inFlight[id] > 1 {
			h.double = append(h.double, id)
		}
		h.now++
		h.peak = max(h.peak, h.now)
		h.runs[id]++
		h.mu.Unlock()
		c := call{id: id, tag: tag, done: make(chan result)}
		h.started <- c
		var r result
		select {
		case r = <-c.done:
		case <-ctx.Done():
			r = result{err: ctx.Err()}
		}
		h.mu.Lock()
		h.inFlight[id]--
		h.now--
		h.mu.Unlock()
		return r.run, r.err
	}
}

// next is the next cycle to start (the timeout only stops a broken test).
func (h *harness) next() call {
	h.t.Helper()
	select {
	case c := <-h.started:
		return c
	case <-time.After(10 * time.Second):
		h.t.Fatal("no cycle started")
		return call{}
	}
}

// settle waits until the scheduler has looked at its state after the
// last change (a dispatch pass that began after it) with busy cycles
// running, then returns the cycles started meanwhile.
func (h *harness) settle(busy int) []call {
	h.t.Helper()
	var p0 int
	for i := 0; ; i++ {
		h.s.mu.Lock()
		b := h.s.busy
		if b == busy {
			p0 = h.passes
			h.s.poke() // a pass that sees this state
		}
		h.s.mu.Unlock()
		if b == busy {
			break
		}
		if i > 10000 {
			h.t.Fatalf("%d cycles running, want %d", b, busy)
		}
		time.Sleep(time.Millisecond)
	}
	for i := 0; ; i++ {
		h.s.mu.Lock()
		p := h.passes
		h.s.mu.Unlock()
		if p > p0 {
			break
		}
		if i > 10000 {
			h.t.Fatal("the scheduler did not look again")
		}
		time.Sleep(time.Millisecond)
	}
	var out []call
	for len(h.started) > 0 {
		out = append(out, <-h.started)
	}
	return out
}

// wait is how long until id is due.
func (h *harness) wait(id int64) time.Duration {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	return h.s.entries[id].due.Sub(h.clock.Now())
}

// TestBoundedNeverTwiceAndWakeUpsCoalesce adds ten partnerships to three
// workers: three run at once, never more; wake-ups sent five times while
// three run make each of those run once more, and the seven still waiting
// run once each.
func TestBoundedNeverTwiceAndWakeUpsCoalesce(t *testing.T) {
	h := newHarness(t, Config{Workers: 3, PollInterval: time.Hour})
	for id := int64(1); id <= 10; id++ {
		h.s.Add(context.Background(), id, h.cycle(id, ""))
	}
	running := []call{h.next(), h.next(), h.next()}
	if extra := h.settle(3); len(extra) != 0 {
		t.Fatalf("%d cycles beyond the 3 workers started", len(extra))
	}
	for range 5 {
		h.s.WakeAll()
	}
	total, completed := 3, 0
	for len(running) > 0 {
		c := running[0]
		running = running[1:]
		c.done <- ok
		completed++
		more := h.settle(min(3, 13-completed))
		total += len(more)
		running = append(running, more...)
		if len(more) > 1 {
			t.Fatalf("one finished cycle let %d start", len(more))
		}
	}
	h.settle(0)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.peak != 3 {
		t.Errorf("at most %d cycles ran at once, want 3", h.peak)
	}
	if len(h.double) > 0 {
		t.Errorf("partnerships %v ran twice at once", h.double)
	}
	if total != 13 {
		t.Errorf("%d cycles ran, want 13 (10 first ones, 3 woken while running)", total)
	}
	for id := int64(1); id <= 10; id++ {
		want := 1
		if id <= 3 {
			want = 2
		}
		if h.runs[id] != want {
			t.Errorf("partnership %d ran %d times, want %d", id, h.runs[id], want)
		}
	}
}

type throttled struct{ after time.Duration }

func (e throttled) Error() string             { return "throttled" }
func (e throttled) RetryAfter() time.Duration { return e.after }

// TestBackoffGrowsHonoursRetryAfterAndResets fails a partnership's cycles:
// the waits double (2s, 4s, 8s), a Retry-After longer than the back-off
// wins, a wake-up does not cut a back-off short, and a success goes back
// to the poll interval.
func TestBackoffGrowsHonoursRetryAfterAndResets(t *testing.T) {
	poll := time.Minute
	h := newHarness(t, Config{Workers: 1, PollInterval: poll, Rand: func() float64 { return 0.5 }})
	h.s.Add(context.Background(), 1, h.cycle(1, ""))
	failure := result{err: errors.New("remote down")}
	steps := []struct {
		answer result
		want   time.Duration
	}{
		{failure, 2 * time.Second},
		{failure, 4 * time.Second},
		{failure, 8 * time.Second},
		{result{err: throttled{90 * time.Second}}, 90 * time.Second},
		{ok, poll},
		{failure, 2 * time.Second},
	}
	for i, st := range steps {
		h.next().done <- st.answer
		if extra := h.settle(0); len(extra) != 0 {
			t.Fatalf("step %d: ran again before its wait", i)
		}
		if got := h.wait(1); got != st.want {
			t.Fatalf("step %d: waits %v, want %v", i, got, st.want)
		}
		if st.answer.err != nil {
			h.s.WakeAll()
			if extra := h.settle(0); len(extra) != 0 || h.wait(1) != st.want {
				t.Fatalf("step %d: a wake-up cut the back-off short", i)
			}
		}
		h.clock.Advance(st.want - time.Millisecond)
		if extra := h.settle(0); len(extra) != 0 {
			t.Fatalf("step %d: ran before its wait was over", i)
		}
		h.clock.Advance(time.Millisecond)
	}
	h.next().done <- ok
}

// TestJitterWithinBounds: poll waits stay within PollInterval±10%, reach
// both ends for the extreme draws, and vary from one cycle to the next.
func TestJitterWithinBounds(t *testing.T) {
	poll := 10 * time.Second
	draws := []float64{0, 0.999999, 0.5, 0.25}
	i := 0
	h := newHarness(t, Config{Workers: 1, PollInterval: poll, Rand: func() float64 { d := draws[i%len(draws)]; i++; return d }})
	h.s.Add(context.Background(), 7, h.cycle(7, ""))
	want := []time.Duration{9 * time.Second, 11 * time.Second, 10 * time.Second, 9500 * time.Millisecond}
	for k, w := range want {
		h.next().done <- ok
		h.settle(0)
		got := h.wait(7)
		if got < 9*time.Second || got > 11*time.Second || (got-w).Abs() > time.Millisecond {
			t.Fatalf("cycle %d waits %v, want %v within [9s, 11s]", k, got, w)
		}
		h.clock.Advance(got)
	}
	h.next().done <- ok

	s := New(Config{PollInterval: poll})
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := s.jitter(poll)
		if d < 9*time.Second || d > 11*time.Second {
			t.Fatalf("jittered wait %v outside [9s, 11s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct waits in 1000: not jittered", len(seen))
	}
}

// TestReplacedWhileRunningNeverOverlaps re-adds a running partnership (a
// new lease): the old cycle is cancelled and the new one starts only
// after it returned; a removed one is cancelled and never runs again.
func TestReplacedWhileRunningNeverOverlaps(t *testing.T) {
	h := newHarness(t, Config{Workers: 4, PollInterval: time.Hour})
	h.s.Add(context.Background(), 1, h.cycle(1, "old"))
	old := h.next()
	h.s.Add(context.Background(), 1, h.cycle(1, "new"))
	c := h.next() // the old cycle saw its context end and returned
	if c.tag != "new" {
		t.Fatalf("cycle %q started, want the new one", c.tag)
	}
	_ = old
	h.s.Remove(1)
	h.settle(0)
	h.s.WakeAll()
	h.clock.Advance(2 * time.Hour)
	if extra := h.settle(0); len(extra) != 0 {
		t.Fatalf("a removed partnership ran again")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.double) > 0 {
		t.Errorf("partnership 1 ran twice at once")
	}
	if h.s.Len() != 0 {
		t.Errorf("%d partnerships still scheduled after removal", h.s.Len())
	}
}
