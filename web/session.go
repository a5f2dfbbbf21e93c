package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"sync"
	"time"

	"github.com/crmsync/crmsync"
)

// session is one browser's sign-in. It lives in memory: a restart signs
// everybody out, as the eWay API's sessions do.
type session struct {
	id       string
	user     *crmsync.User
	csrf     string // the token every form of this session carries
	created  time.Time
	lastUsed time.Time
	flash    string // a one-shot message for the next page
	// askedFirstSync is set once the "Run the first sync now?" question
	// was shown in this session, so that Later asks again at the next
	// sign-in only.
	askedFirstSync bool
}

const (
	sessionCookie = "crmsync_session"
	// preCookie carries the CSRF token of the sign-in form, before there
	// is a session (double submit).
	preCookie   = "crmsync_signin"
	sessionIdle = 2 * time.Hour
	sessionMax  = 12 * time.Hour
	maxSessions = 10000
)

type sessions struct {
	mu   sync.Mutex
	now  func() time.Time
	byID map[string]*session
}

func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never on supported systems
	}
	return hex.EncodeToString(b[:])
}

func (s *sessions) expired(ss *session, now time.Time) bool {
	return now.Sub(ss.lastUsed) >= sessionIdle || now.Sub(ss.created) >= sessionMax
}

// create starts a session for u, dropping expired ones; when the server
// still holds maxSessions, the least recently used goes.
func (s *sessions) create(u *crmsync.User) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var oldest *session
	for id, ss := range s.byID {
		if s.expired(ss, now) {
			delete(s.byID, id)
		} else if oldest == nil || ss.lastUsed.Before(oldest.lastUsed) {
			oldest = ss
		}
	}
	if len(s.byID) >= maxSessions && oldest != nil {
		delete(s.byID, oldest.id)
	}
	ss := &session{id: randomToken(), user: u, csrf: randomToken(), created: now, lastUsed: now}
	s.byID[ss.id] = ss
	return ss
}

// get returns the live session of id and slides its idle deadline.
func (s *sessions) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.byID[id]
	if ss == nil {
		return nil
	}
	now := s.now()
	if s.expired(ss, now) {
		delete(s.byID, id)
		return nil
	}
	ss.lastUsed = now
	return ss
}

func (s *sessions) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, id)
}

// takeFlash returns and clears the session's one-shot message.
func (s *sessions) takeFlash(ss *session) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := ss.flash
	ss.flash = ""
	return f
}

func (s *sessions) setFlash(ss *session, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss.flash = msg
}

// firstAsk reports whether the first-sync question is still to be asked in
// this session, and marks it asked.
func (s *sessions) firstAsk(ss *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ask := !ss.askedFirstSync
	ss.askedFirstSync = true
	return ask
}

// sameToken compares tokens in constant time; an empty one never matches.
func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// cookie builds a cookie of the UI: HttpOnly, SameSite=Lax, scoped to the
// base path, Secure over TLS.
func (h *Handler) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: h.base + "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil}
}
