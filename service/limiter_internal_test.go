package service

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/crmsync/crmsync"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/unicode/norm"
)

// A flood of made-up names from made-up addresses cannot grow the
// limiter's memory past its bound, and the limits still hold after it.
func TestLimiterStaysBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newSignInLimiter(func() time.Time { return now }, 15*time.Minute, 3, 6)
	for i := range 3 * maxTracked {
		now = now.Add(time.Millisecond)
		if a, err := l.begin(fmt.Sprintf("name:u%d", i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)); err == nil && i%7 == 0 {
			l.succeeded(a)
		}
	}
	for name, m := range map[string]int{"addrs": len(l.addrs), "users": len(l.users), "pairs": len(l.pairs), "known": len(l.known)} {
		if m > maxTracked {
			t.Errorf("%s holds %d entries, bound %d", name, m, maxTracked)
		}
	}
	for range 3 {
		if _, err := l.begin("user:x", "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.begin("user:y", "192.0.2.1"); err == nil {
		t.Error("the address limit no longer holds after the flood")
	}
}

// The cache of verified passwords stays within maxTracked when it is full
// of live entries, and still takes the newest one.
func TestCredentialCacheStaysBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(nil, Options{Now: func() time.Time { return now }, PasswordCost: bcrypt.MinCost})
	for i := range maxTracked {
		s.creds[fmt.Sprint(i)] = credential{user: "u", hash: "h", expires: now.Add(time.Duration(i+1) * time.Millisecond)}
	}
	sent := crmsync.PasswordMD5("pw")
	hash, err := bcrypt.GenerateFromPassword([]byte(sent), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u := &UserRecord{User: crmsync.User{GUID: "guid"}, PasswordHash: string(hash)}
	if ok, err := s.passwordMatches(context.Background(), u, sent); !ok || err != nil {
		t.Fatalf("passwordMatches = %v, %v", ok, err)
	}
	if n := len(s.creds); n > maxTracked || n < maxTracked/4 {
		t.Errorf("the full cache holds %d entries after one more, want at most %d and not nearly none", n, maxTracked)
	}
	if _, ok := s.creds[s.credentialKey(u.GUID, sent)]; !ok {
		t.Error("the newest credential was not cached")
	}
}

// checkUserName never panics, and what it accepts is its own NFC and
// canonical form, so a stored name is found by the name as typed.
func FuzzUserName(f *testing.F) {
	for _, s := range []string{"alice", "Nova\u0301k", "\uff44ave", "d\u0430ve", "al\u200bice", " bob", "山田", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		c := canonicalName(name)
		if canonicalName(c) != c {
			t.Errorf("canonicalName(%q) = %q is not stable", name, c)
		}
		if checkUserName(name) != nil {
			return
		}
		if !utf8.ValidString(name) || !norm.NFC.IsNormalString(name) || c != name || strings.TrimSpace(name) != name {
			t.Errorf("accepted %q, which is not its canonical form %q", name, c)
		}
	})
}
