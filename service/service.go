package service

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/crmsync/crmsync"
	"golang.org/x/crypto/bcrypt"
)

// Options configure a Service; the zero value is valid.
type Options struct {
	// Now returns the current time; time.Now when nil. Injected so tests
	// get reproducible timestamps.
	Now func() time.Time
	// NewGUID returns a fresh item GUID; random (version 4) when nil.
	NewGUID func() string
	// PasswordCost is the bcrypt cost of stored password hashes;
	// bcrypt.DefaultCost when 0. Tests lower it to stay fast.
	PasswordCost int
	// Logger receives, on the request path, one line per failed or
	// refused sign-in (user name and client address, never the password);
	// other errors are returned. slog.Default when nil.
	Logger *slog.Logger

	// SignInWindow is how long failed sign-ins count (15 minutes when 0).
	// Within it, MaxFailuresPerAddress failures from one client address
	// (10 when 0) refuse further attempts from that address, and
	// MaxFailuresPerUser failures for one user (30 when 0) refuse further
	// attempts for it from addresses it has not signed in from before; a
	// known client is refused after MaxFailuresPerUser failures of its own.
	SignInWindow          time.Duration
	MaxFailuresPerAddress int
	MaxFailuresPerUser    int
	// CredentialCacheTTL is how long a verified password is recognized
	// without bcrypt (CardDAV clients send it with every request); 5
	// minutes when 0, never when negative. A password change ends it.
	CredentialCacheTTL time.Duration
}

// Service is the CRM: every method runs in one Store transaction and acts
// as the user of the context.
type Service struct {
	store   Store
	now     func() time.Time
	newGUID func() string
	cost    int
	log     *slog.Logger

	mu       sync.Mutex
	watchers map[chan int64]struct{}
	lastSent int64 // highest id broadcast; a late, lower one is dropped

	dummyOnce sync.Once
	dummy     []byte

	limiter     *signInLimiter
	bcryptSlots chan struct{} // bounds the bcrypt checks running at once
	credTTL     time.Duration
	credSecret  [32]byte
	credMu      sync.Mutex
	creds       map[string]credential // credentialKey → verified password
}

var _ crmsync.CRM = (*Service)(nil)

// New returns a Service over store with opts' defaults filled in.
func New(store Store, opts Options) *Service {
	s := &Service{
		store:    store,
		now:      opts.Now,
		newGUID:  opts.NewGUID,
		cost:     opts.PasswordCost,
		log:      opts.Logger,
		watchers: map[chan int64]struct{}{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.newGUID == nil {
		s.newGUID = randomGUID
	}
	if s.cost == 0 {
		s.cost = bcrypt.DefaultCost
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.limiter = newSignInLimiter(s.now, cmp.Or(opts.SignInWindow, 15*time.Minute),
		cmp.Or(opts.MaxFailuresPerAddress, 10), cmp.Or(opts.MaxFailuresPerUser, 30))
	s.bcryptSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))
	s.credTTL = cmp.Or(opts.CredentialCacheTTL, 5*time.Minute)
	s.credSecret = newCredentialSecret()
	s.creds = map[string]credential{}
	return s
}

// randomGUID returns a version 4 UUID in lower case.
func randomGUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// caller is the acting party of one call with its effective rights.
type caller struct {
	system bool
	user   *UserRecord
	rights map[crmsync.Folder]crmsync.Rights
}

func (c *caller) guid() string {
	if c.user == nil {
		return ""
	}
	return c.user.GUID
}

func (c *caller) admin() bool { return c.system || c.user.IsAdmin }

// callerIn resolves the caller of ctx inside tx. The user is re-read so that
// a revoked right or a removed user takes effect on the next call.
func callerIn(ctx context.Context, tx Tx) (*caller, error) {
	u := crmsync.UserFrom(ctx)
	if u == nil {
		if crmsync.IsSystem(ctx) {
			c := &caller{system: true, rights: map[crmsync.Folder]crmsync.Rights{}}
			for _, f := range crmsync.Folders {
				c.rights[f] = crmsync.FullRights(f)
			}
			return c, nil
		}
		return nil, crmsync.Errorf(crmsync.EUNAUTHORIZED, "not signed in")
	}
	rec, err := tx.UserByGUID(crmsync.NormalizeGUID(u.GUID))
	if err != nil {
		return nil, fmt.Errorf("reading user: %w", err)
	}
	if rec == nil {
		return nil, crmsync.Errorf(crmsync.EUNAUTHORIZED, "user no longer exists")
	}
	if u.PasswordStamp != "" && u.PasswordStamp != passwordStamp(rec.PasswordHash) {
		return nil, crmsync.Errorf(crmsync.EUNAUTHORIZED, "the password was changed: sign in again")
	}
	if rec.Disabled {
		return nil, crmsync.Errorf(crmsync.EUNAUTHORIZED, "user %s is disabled", rec.Name)
	}
	c := &caller{user: rec, rights: map[crmsync.Folder]crmsync.Rights{}}
	if rec.IsAdmin {
		for _, f := range crmsync.Folders {
			c.rights[f] = crmsync.FullRights(f)
		}
		return c, nil
	}
	groups, err := tx.Groups()
	if err != nil {
		return nil, fmt.Errorf("reading groups: %w", err)
	}
	granted := map[crmsync.Folder][]crmsync.Rights{}
	for _, g := range rec.Groups {
		for _, r := range groups[g] {
			granted[r.Folder] = append(granted[r.Folder], r)
		}
	}
	for _, f := range crmsync.Folders {
		c.rights[f] = crmsync.Combine(f, granted[f])
	}
	return c, nil
}

// session carries one call's transaction, caller and caches.
type session struct {
	ctx    context.Context
	s      *Service
	tx     Tx
	c      *caller
	owners map[string]string // folder/guid -> owner, for LevelRelated
	links  map[itemKey]bool  // linked contact or company -> visible to the caller
	// linked holds, per folder, the snapshots of its items not in the
	// trash, once a call has looked up linkScanAfter links there: one scan
	// instead of a query per journal of a long listing.
	linked      map[crmsync.Folder]map[string]Snapshot
	linkLookups map[crmsync.Folder]int
	enums       map[string]*crmsync.EnumValue
	last        int64 // the last change id appended in this transaction
	global      map[string]string
	scratch     *crmsync.Item // reused by canSnapshot
}

func (s *Service) newSession(ctx context.Context, tx Tx) (*session, error) {
	c, err := callerIn(ctx, tx)
	if err != nil {
		return nil, err
	}
	return &session{ctx: ctx, s: s, tx: tx, c: c, owners: map[string]string{}, links: map[itemKey]bool{}, enums: map[string]*crmsync.EnumValue{}}, nil
}

// read runs fn in a read transaction as the caller of ctx.
func (s *Service) read(ctx context.Context, fn func(*session) error) error {
	return s.store.Read(ctx, func(tx Tx) error {
		ss, err := s.newSession(ctx, tx)
		if err != nil {
			return err
		}
		return fn(ss)
	})
}

// write runs fn in a write transaction as the caller of ctx and, after the
// commit, tells the watchers about the new last change id.
func (s *Service) write(ctx context.Context, fn func(*session) error) error {
	var last int64
	err := s.store.Write(ctx, func(tx Tx) error {
		ss, err := s.newSession(ctx, tx)
		if err != nil {
			return err
		}
		if err := fn(ss); err != nil {
			return err
		}
		last = ss.last
		return nil
	})
	if err == nil && last > 0 {
		s.broadcast(last)
	}
	return err
}

// appendChange logs a change of it in the current transaction.
func (ss *session) appendChange(it *crmsync.Item, removed bool) error {
	id, err := ss.tx.AppendChange(crmsync.Change{Folder: it.Folder, GUID: it.GUID, Version: it.Version, Removed: removed, At: ss.s.now().UTC()}, SnapshotOf(it))
	if err != nil {
		return err
	}
	ss.last = max(ss.last, id)
	return nil
}

// appendPermissionChange logs a change of rights; guid names the user (for
// membership and admin edits) or "group:"+name (for a group's rights).
func (ss *session) appendPermissionChange(guid string) error {
	id, err := ss.tx.AppendChange(crmsync.Change{Folder: PermissionsFolder, GUID: guid, At: ss.s.now().UTC()}, Snapshot{})
	if err != nil {
		return err
	}
	ss.last = max(ss.last, id)
	return nil
}

// ownerOf returns the owner of an item ("" if missing), cached per call.
func (ss *session) ownerOf(folder crmsync.Folder, guid string) (string, error) {
	key := string(folder) + "/" + guid
	if o, ok := ss.owners[key]; ok {
		return o, nil
	}
	it, err := ss.tx.Item(folder, guid)
	if err != nil {
		return "", err
	}
	o := ""
	if it != nil && !it.Trashed {
		o = it.Owner()
	}
	ss.owners[key] = o
	return o, nil
}

// can reports whether the caller reaches it at the level of its folder's
// right picked by pick (View, Edit or Delete). A journal is, in addition,
// only reachable when the caller may see the contact and the company it is
// linked to: the one visibility rule that keeps the journals of a private
// contact private on every path (lists, search, the change feed, the
// journal block of the sync). The rule reads the linked item as it is now,
// so a journal hidden because its contact went private later is never
// reported removed by the change feed (its later changes are just left
// out); a full listing (Identifiers) drops it.
func (ss *session) can(pick func(crmsync.Rights) crmsync.Level, it *crmsync.Item) (bool, error) {
	if ss.c.system {
		return true, nil
	}
	level := pick(ss.c.rights[it.Folder])
	var lookupErr error
	ok := crmsync.Reach(level, ss.c.guid(), it, func() bool {
		for _, link := range itemLinks {
			g := it.Get(link.field)
			if g == "" {
				continue
			}
			o, err := ss.ownerOf(link.folder, g)
			if err != nil {
				lookupErr = err
				return false
			}
			if o != "" && o == ss.c.guid() {
				return true
			}
		}
		return false
	})
	if !ok || lookupErr != nil || it.Folder != crmsync.Journal {
		return ok, lookupErr
	}
	for _, link := range itemLinks {
		if g := it.Get(link.field); g != "" {
			if seen, err := ss.linkVisible(link.folder, g); err != nil || !seen {
				return false, err
			}
		}
	}
	return true, nil
}

// itemLinks are the fields that link an item to a company or a contact.
var itemLinks = []struct {
	folder crmsync.Folder
	field  string
}{{crmsync.Companies, crmsync.FieldCompanyGUID}, {crmsync.Contacts, crmsync.FieldContactGUID}}

// linkScanAfter is how many links of one folder a call looks up one by one
// before it reads the snapshots of the whole folder.
const linkScanAfter = 64

// linkVisible reports whether the caller may see the linked item (trashed
// or not), cached per call. A link to an item that does not exist hides
// nothing.
func (ss *session) linkVisible(folder crmsync.Folder, guid string) (bool, error) {
	k := itemKey{folder, guid}
	if v, ok := ss.links[k]; ok {
		return v, nil
	}
	it, err := ss.linkedItem(folder, guid)
	if err != nil {
		return false, err
	}
	v := true
	if it != nil {
		if v, err = ss.can(view, it); err != nil {
			return false, err
		}
	}
	ss.links[k] = v
	return v, nil
}

// linkedItem returns what rights checks need of a linked item: from the
// folder's snapshots once they are read, else the stored item (nil if
// there is none).
func (ss *session) linkedItem(folder crmsync.Folder, guid string) (*crmsync.Item, error) {
	if ss.linked == nil {
		ss.linked, ss.linkLookups = map[crmsync.Folder]map[string]Snapshot{}, map[crmsync.Folder]int{}
	}
	if ss.linked[folder] == nil && ss.linkLookups[folder] >= linkScanAfter {
		ids, err := ss.tx.ListIdentifiers(folder)
		if err != nil {
			return nil, err
		}
		snaps := make(map[string]Snapshot, len(ids))
		for _, id := range ids {
			snaps[id.GUID] = id.Snapshot
		}
		ss.linked[folder] = snaps
	}
	if snap, ok := ss.linked[folder][guid]; ok {
		it := &crmsync.Item{Fields: make(map[string]string, 4)}
		fillSnapshot(it, folder, guid, snap)
		return it, nil
	}
	ss.linkLookups[folder]++
	return ss.tx.Item(folder, guid) // trashed, missing, or not scanned yet
}

// forgetLink drops what the call knows of it as a link, after writing it.
func (ss *session) forgetLink(it *crmsync.Item) {
	delete(ss.links, itemKey{it.Folder, it.GUID})
	if snaps := ss.linked[it.Folder]; snaps != nil {
		delete(snaps, it.GUID)
	}
}

func view(r crmsync.Rights) crmsync.Level { return r.View }
func edit(r crmsync.Rights) crmsync.Level { return r.Edit }
func del(r crmsync.Rights) crmsync.Level  { return r.Delete }

// WatchChanges implements crmsync.CRM. It needs no rights: it only tells
// that something changed, and the caller must still read through the
// rights-checked methods.
func (s *Service) WatchChanges(ctx context.Context) <-chan int64 {
	ch := make(chan int64, 1)
	s.mu.Lock()
	s.watchers[ch] = struct{}{}
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		delete(s.watchers, ch)
		close(ch)
		s.mu.Unlock()
	}()
	return ch
}

// Notify tells the watchers about change id committed by another process
// sharing the database (a PostgreSQL node), as a commit here would.
func (s *Service) Notify(id int64) { s.broadcast(id) }

// broadcast sends id to every watcher, replacing a value a slow reader has
// not taken so that it always sees the latest id.
func (s *Service) broadcast(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id <= s.lastSent {
		return
	}
	s.lastSent = id
	for ch := range s.watchers {
		select {
		case ch <- id:
		default:
			select {
			case <-ch:
			default:
			}
			select {
			case ch <- id:
			default:
			}
		}
	}
}
