package outlook

import (
	"sync"
	"time"
)

// FaultKind is a failure tests can inject into the in-process replica and
// the Graph sandbox, to prove the engine and the Graph client survive the
// ways a real mailbox fails.
type FaultKind int

const (
	// FaultThrottle answers 429 TooManyRequests with Retry-After.
	FaultThrottle FaultKind = iota + 1
	// FaultServerError answers a 5xx (503 unless Fault.Status says else),
	// with Retry-After when Fault.RetryAfter is set.
	FaultServerError
	// FaultTimeout does nothing and fails as a timed-out call: the replica
	// returns an error wrapping context.DeadlineExceeded; the sandbox
	// stalls for Fault.RetryAfter (default 1s) and then drops the connection.
	FaultTimeout
	// FaultDrop drops the call before doing anything (sandbox: the
	// connection is closed without a response).
	FaultDrop
	// FaultLostResponse performs the call and then loses its response:
	// the write happened but the caller sees a failure. It matches only
	// calls that write.
	FaultLostResponse
)

// Fault is one injected failure.
type Fault struct {
	Kind       FaultKind
	Status     int           // FaultServerError: the status (default 503)
	RetryAfter time.Duration // FaultThrottle (default 1s), FaultServerError, FaultTimeout
}

// Call describes the call a fault may hit.
type Call struct {
	// Op is the replica method ("Changes", "Get", "FindByCRMGUID",
	// "Apply") or the sandbox request's method and path ("PATCH
	// /v1.0/me/contacts/AAMk…").
	Op    string
	Write bool
}

// Faults is a queue of failures for the next calls, plus an optional hook
// that may fail any call. A nil *Faults injects nothing. Safe for
// concurrent use.
type Faults struct {
	mu    sync.Mutex
	queue []Fault
	hook  func(Call) *Fault
	hits  map[FaultKind]int
}

// SetHook installs h (nil removes it): it is asked first about every
// call, and a non-nil fault it returns is injected. h may be called
// concurrently.
func (f *Faults) SetHook(h func(Call) *Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = h
}

// Inject makes the next n calls fail with f (FaultLostResponse: the next n
// writes).
func (f *Faults) Inject(n int, fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ; n > 0; n-- {
		f.queue = append(f.queue, fault)
	}
}

// Pending returns how many queued faults have not fired yet.
func (f *Faults) Pending() int {
	if f == nil {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queue)
}

// Hits returns how many faults of kind k have fired.
func (f *Faults) Hits(k FaultKind) int {
	if f == nil {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[k]
}

// Next returns the fault for call, if one is due, and consumes it.
func (f *Faults) Next(call Call) (Fault, bool) {
	if f == nil {
		return Fault{}, false
	}
	f.mu.Lock()
	hook := f.hook
	f.mu.Unlock()
	if hook != nil {
		if ft := hook(call); ft != nil {
			f.record(ft.Kind)
			return withDefaults(*ft), true
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, ft := range f.queue {
		if ft.Kind == FaultLostResponse && !call.Write {
			continue
		}
		f.queue = append(f.queue[:i], f.queue[i+1:]...)
		if f.hits == nil {
			f.hits = map[FaultKind]int{}
		}
		f.hits[ft.Kind]++
		return withDefaults(ft), true
	}
	return Fault{}, false
}

func (f *Faults) record(k FaultKind) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hits == nil {
		f.hits = map[FaultKind]int{}
	}
	f.hits[k]++
}

func withDefaults(f Fault) Fault {
	switch f.Kind {
	case FaultThrottle:
		if f.RetryAfter == 0 {
			f.RetryAfter = time.Second
		}
	case FaultServerError:
		if f.Status == 0 {
			f.Status = 503
		}
	case FaultTimeout:
		if f.RetryAfter == 0 {
			f.RetryAfter = time.Second
		}
	}
	return f
}

// Error returns the GraphError a throttle or server-error fault answers
// with; nil for the other kinds.
func (f Fault) Error() *GraphError {
	switch f.Kind {
	case FaultThrottle:
		return &GraphError{Status: 429, Code: CodeTooManyRequests, Message: "Please retry again later.", Retry: f.RetryAfter}
	case FaultServerError:
		return &GraphError{Status: f.Status, Code: CodeServiceUnavailable, Message: "The service is temporarily unavailable.", Retry: f.RetryAfter}
	}
	return nil
}
