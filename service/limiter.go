package service

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/crmsync/crmsync"
)

// signInLimiter slows password guessing on every way in. It counts failed
// sign-ins per client address and per user, and refuses an attempt
// without checking its password once a count reaches its limit within the
// window (counted from the first failure). The address limit is the
// lower, so a guesser on one address is stopped before the user is
// locked; a user locked by guessers on many addresses can still sign in
// from an address it signed in from before (a known client), which gets
// its own count per user. An attempt is counted when it starts and the
// count is given back when it succeeds, so parallel guesses cannot
// overshoot a limit.
type signInLimiter struct {
	mu      sync.Mutex
	now     func() time.Time
	window  time.Duration
	perAddr int
	perUser int

	addrs map[string]*failures // client address
	users map[string]*failures // user key, from addresses the user is not known at
	pairs map[string]*failures // user key + known address
	known map[string]time.Time // user key + address → last success
}

type failures struct {
	count int
	first time.Time
}

// knownFor is how long an address stays a user's known client after a
// successful sign-in.
const knownFor = 30 * 24 * time.Hour

// maxTracked bounds each map; beyond it the expired and then the oldest
// entries go.
const maxTracked = 10000

func newSignInLimiter(now func() time.Time, window time.Duration, perAddr, perUser int) *signInLimiter {
	return &signInLimiter{now: now, window: window, perAddr: perAddr, perUser: perUser,
		addrs: map[string]*failures{}, users: map[string]*failures{}, pairs: map[string]*failures{}, known: map[string]time.Time{}}
}

// attempt is one sign-in under way: the counts it added.
type attempt struct {
	user, addr string
	counted    []*failures
}

// begin counts an attempt of user (a lockKey) from addr, or refuses it
// with EUNAUTHORIZED saying for how long.
func (l *signInLimiter) begin(user, addr string) (*attempt, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	pair := user + "\x00" + addr
	a := &attempt{user: user, addr: addr}
	if seen, ok := l.known[pair]; ok && now.Sub(seen) < knownFor {
		p := l.current(l.pairs, pair, now)
		if p.count >= l.perUser {
			return nil, l.refusal("for this user from this address", p, now)
		}
		a.counted = []*failures{p, l.current(l.addrs, addr, now)}
	} else {
		ad := l.current(l.addrs, addr, now)
		if ad.count >= l.perAddr {
			return nil, l.refusal("from this address", ad, now)
		}
		u := l.current(l.users, user, now)
		if u.count >= l.perUser {
			return nil, l.refusal("for this user from addresses it has not signed in from", u, now)
		}
		a.counted = []*failures{ad, u}
	}
	for _, f := range a.counted {
		f.count++
	}
	return a, nil
}

// succeeded gives back the counts of a, makes its address a known client
// of its user and forgets that pair's earlier failures.
func (l *signInLimiter) succeeded(a *attempt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range a.counted {
		f.count = max(0, f.count-1)
	}
	pair := a.user + "\x00" + a.addr
	delete(l.pairs, pair)
	if _, ok := l.known[pair]; !ok && len(l.known) >= maxTracked {
		pruneOldest(l.known, func(t time.Time) time.Time { return t }, l.now().Add(-knownFor))
	}
	l.known[pair] = l.now()
}

// current returns the failures of key in m within the window, starting a
// new count when there is none or the old one expired.
func (l *signInLimiter) current(m map[string]*failures, key string, now time.Time) *failures {
	if f, ok := m[key]; ok && now.Sub(f.first) < l.window {
		return f
	}
	if len(m) >= maxTracked {
		pruneOldest(m, func(f *failures) time.Time { return f.first }, now.Add(-l.window))
	}
	f := &failures{first: now}
	m[key] = f
	return f
}

func (l *signInLimiter) refusal(what string, f *failures, now time.Time) error {
	wait := max(time.Minute, f.first.Add(l.window).Sub(now)).Round(time.Minute)
	minutes := fmt.Sprintf("%d minutes", int(wait.Minutes()))
	if wait == time.Minute {
		minutes = "a minute"
	}
	return &crmsync.Error{Code: crmsync.EUNAUTHORIZED, Err: crmsync.ErrThrottled,
		Message: fmt.Sprintf("too many failed sign-ins %s: try again in %s", what, minutes)}
}

// pruneOldest drops the entries of m older than cutoff and, if that frees
// nothing, the older half.
func pruneOldest[V any](m map[string]V, at func(V) time.Time, cutoff time.Time) {
	var times []time.Time
	for k, v := range m {
		if at(v).Before(cutoff) {
			delete(m, k)
		} else {
			times = append(times, at(v))
		}
	}
	if len(m) < maxTracked {
		return
	}
	slices.SortFunc(times, time.Time.Compare)
	median := times[len(times)/2]
	for k, v := range m {
		if at(v).Before(median) {
			delete(m, k)
		}
	}
}

// clientKey is the address a limit applies to: the host of a
// "host:port", and for IPv6 its /64 network, which one machine can fill
// with addresses. Without an address every caller shares "unknown".
func clientKey(remote string) string {
	if remote == "" {
		return "unknown"
	}
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
