package service

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/crmsync/crmsync"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/unicode/norm"
)

// dummyHash is compared against when a user does not exist, so that an
// unknown name takes as long as a wrong password. It is made on first use
// with the service's cost.
func (s *Service) dummyHash() []byte {
	s.dummyOnce.Do(func() {
		s.dummy, _ = bcrypt.GenerateFromPassword([]byte("crmsync-no-such-user"), s.cost)
	})
	return s.dummy
}

var errWrongPassword = crmsync.Errorf(crmsync.EUNAUTHORIZED, "wrong user name or password")

// Authenticate implements crmsync.CRM; it needs no signed-in caller. The
// name is compared in its canonical form (canonicalName), the limiter is
// asked before any password is checked, a recently verified password is
// recognized without bcrypt, and every failure is logged with the name
// and client address (never the password).
func (s *Service) Authenticate(ctx context.Context, name, passwordMD5 string) (*crmsync.User, error) {
	name = canonicalName(name)
	addr := clientKey(crmsync.ClientAddrFrom(ctx))
	var u *UserRecord
	err := s.store.Read(ctx, func(tx Tx) error {
		var err error
		u, err = tx.UserByName(name)
		return err
	})
	if err != nil {
		return nil, err
	}
	a, err := s.limiter.begin(lockKey(u, name), addr)
	if err != nil {
		s.log.WarnContext(ctx, "sign-in refused", "user", logName(name), "addr", addr, "reason", crmsync.ErrorMessage(err))
		return nil, err
	}
	sent := strings.ToLower(strings.TrimSpace(passwordMD5))
	ok, err := s.passwordMatches(ctx, u, sent)
	if err != nil {
		return nil, err // the attempt stays counted
	}
	if !ok {
		s.log.WarnContext(ctx, "sign-in failed", "user", logName(name), "addr", addr, "known_user", u != nil)
		return nil, errWrongPassword
	}
	if u.Disabled {
		// Answered, timed and counted like a wrong password, so that the
		// answer tells nobody the password was right.
		s.log.WarnContext(ctx, "sign-in refused", "user", logName(name), "addr", addr, "reason", "user disabled")
		return nil, errWrongPassword
	}
	s.limiter.succeeded(a)
	user := u.User
	user.PasswordStamp = passwordStamp(u.PasswordHash)
	return &user, nil
}

// lockKey is what the per-user limits count: the user, or for a name that
// names nobody the name itself, so that unknown names are limited (and
// answered) exactly like known ones.
func lockKey(u *UserRecord, name string) string {
	if u != nil {
		return "user:" + u.GUID
	}
	return "name:" + strings.ToLower(name)
}

// logName bounds what a failed sign-in puts into the log.
func logName(name string) string {
	if utf8.RuneCountInString(name) > 100 {
		return string([]rune(name)[:100]) + "…"
	}
	return name
}

// passwordMatches checks sent against u's hash: from the cache of
// verified credentials when it holds this pair for the current hash, else
// with bcrypt (at most a few at a time, so guessers cannot take every CPU
// from the other requests). An unknown user costs a bcrypt too.
func (s *Service) passwordMatches(ctx context.Context, u *UserRecord, sent string) (bool, error) {
	if u == nil || u.PasswordHash == "" {
		if err := s.bcrypt(ctx, s.dummyHash(), sent); !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, err
		}
		return false, nil
	}
	key := s.credentialKey(u.GUID, sent)
	now := s.now()
	s.credMu.Lock()
	e, ok := s.creds[key]
	s.credMu.Unlock()
	if ok && e.hash == u.PasswordHash && now.Before(e.expires) {
		return true, nil
	}
	if err := s.bcrypt(ctx, []byte(u.PasswordHash), sent); err != nil {
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, nil
		}
		return false, err
	}
	if s.credTTL > 0 {
		s.credMu.Lock()
		if _, ok := s.creds[key]; !ok && len(s.creds) >= maxTracked {
			pruneOldest(s.creds, func(c credential) time.Time { return c.expires }, now)
		}
		s.creds[key] = credential{user: u.GUID, hash: u.PasswordHash, expires: now.Add(s.credTTL)}
		s.credMu.Unlock()
	}
	return true, nil
}

// bcrypt compares sent with hash in one of the service's bcrypt slots;
// for a mismatch it returns bcrypt.ErrMismatchedHashAndPassword.
func (s *Service) bcrypt(ctx context.Context, hash []byte, sent string) error {
	select {
	case s.bcryptSlots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.bcryptSlots }()
	err := bcrypt.CompareHashAndPassword(hash, []byte(sent))
	if err != nil && !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return bcrypt.ErrMismatchedHashAndPassword // a malformed stored hash matches nothing
	}
	return err
}

// credential is a verified password of a user: valid while the stored
// hash is still the one it was checked against.
type credential struct {
	user    string
	hash    string
	expires time.Time
}

// credentialKey keys the cache by an HMAC under a key made at start, so
// the cache never holds what a client sent.
func (s *Service) credentialKey(userGUID, sent string) string {
	m := hmac.New(sha256.New, s.credSecret[:])
	m.Write([]byte(userGUID + "\x00" + sent))
	return string(m.Sum(nil))
}

// forgetCredentials drops the cached credentials of a user (its password
// changed; the hash check would refuse them anyway).
func (s *Service) forgetCredentials(userGUID string) {
	s.credMu.Lock()
	defer s.credMu.Unlock()
	for k, e := range s.creds {
		if e.user == userGUID {
			delete(s.creds, k)
		}
	}
}

// passwordStamp is User.PasswordStamp for a stored hash: it changes with
// every password change and does not reveal the hash.
func passwordStamp(hash string) string {
	sum := sha256.Sum256([]byte("crmsync password stamp\x00" + hash))
	return hex.EncodeToString(sum[:8])
}

func newCredentialSecret() (b [32]byte) {
	rand.Read(b[:])
	return b
}

// canonicalName is how a user name is stored and looked up: trimmed and
// in Unicode NFC, so that "Novák" typed as "a"+combining acute signs in
// as the precomposed name and both count against one lockout.
func canonicalName(name string) string {
	return norm.NFC.String(strings.TrimSpace(name))
}

// checkUserName refuses user names that are easy to mistake for another
// one: with invisible (format) characters, with compatibility forms that
// fold to plainer letters (full-width "ｄａｖｅ"; the error names the plain
// form) or with letters of two of Latin, Greek and Cyrillic ("dаve" with a
// Cyrillic "а").
func checkUserName(name string) error {
	if err := checkName("user", name); err != nil {
		return err
	}
	if folded := norm.NFKC.String(name); folded != name {
		return crmsync.Errorf(crmsync.EINVALID, "user name %q has compatibility characters: use %q", name, folded)
	}
	var scripts []string
	for _, r := range name {
		if unicode.Is(unicode.Cf, r) {
			return crmsync.Errorf(crmsync.EINVALID, "user name %q contains an invisible character (%U)", name, r)
		}
		for _, sc := range confusableScripts {
			if unicode.Is(unicode.Scripts[sc], r) && !slices.Contains(scripts, sc) {
				scripts = append(scripts, sc)
			}
		}
	}
	if len(scripts) > 1 {
		return crmsync.Errorf(crmsync.EINVALID, "user name %q mixes %s letters, which look alike: use one script", name, strings.Join(scripts, " and "))
	}
	return nil
}

// confusableScripts are the scripts whose letters pass for each other.
var confusableScripts = []string{"Latin", "Greek", "Cyrillic"}
