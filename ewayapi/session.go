package ewayapi

import (
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/crmsync/crmsync"
)

// session is one LogIn: the user it acts as and its two deadlines.
type session struct {
	user     *crmsync.User
	created  time.Time
	lastUsed time.Time
}

// sessions holds the live sessions in memory. A restart of the server
// logs everybody out, which eWay clients handle (rcBadSession → LogIn).
type sessions struct {
	mu      sync.Mutex
	now     func() time.Time
	idle    time.Duration
	max     time.Duration
	limit   int
	perUser int
	byID    map[string]*session
}

func (s *sessions) expired(ss *session, now time.Time) bool {
	return now.Sub(ss.lastUsed) >= s.idle || now.Sub(ss.created) >= s.max
}

// create starts a session for u. When the user already has perUser
// sessions, their least recently used one ends (clients that never
// LogOut must not lock the user out); when the server holds limit
// sessions after dropping expired ones, LogIn is refused, as eWay refuses
// with "too many sessions".
func (s *sessions) create(u *crmsync.User) (string, error) {
	id, err := newGUID()
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var mine []string
	for k, ss := range s.byID {
		if s.expired(ss, now) {
			delete(s.byID, k)
			continue
		}
		if ss.user.GUID == u.GUID {
			mine = append(mine, k)
		}
	}
	if len(mine) >= s.perUser {
		oldest := mine[0]
		for _, k := range mine[1:] {
			if s.byID[k].lastUsed.Before(s.byID[oldest].lastUsed) {
				oldest = k
			}
		}
		delete(s.byID, oldest)
	}
	if len(s.byID) >= s.limit {
		return "", errTooManySessions
	}
	s.byID[id] = &session{user: u, created: now, lastUsed: now}
	return id, nil
}

var errTooManySessions = crmsync.Errorf(crmsync.EUNAUTHORIZED, "too many sessions: log out unused sessions and try again")

// get returns the user of a live session and slides its idle deadline.
func (s *sessions) get(id string) (*crmsync.User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.byID[id]
	if !ok {
		return nil, false
	}
	now := s.now()
	if s.expired(ss, now) {
		delete(s.byID, id)
		return nil, false
	}
	ss.lastUsed = now
	return ss.user, true
}

func (s *sessions) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, id)
}

func (s *sessions) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// newGUID returns a random (version 4) GUID: eWay session ids are GUIDs.
func newGUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
