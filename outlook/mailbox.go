package outlook

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Graph's documented and observed limits (graph-and-peers.md §1.11).
const (
	MaxEmailAddresses = 3
	MaxBusinessPhones = 2
	// MaxHomePhones is an assumption (Outlook has Home and Home 2); Graph
	// does not document it.
	MaxHomePhones = 2
	// MaxPhotoBytes is the 4 MB REST request limit that caps a photo.
	MaxPhotoBytes = 4 << 20
)

// DuplicatesFolder is the display name of the folder first-sync duplicates
// are moved to (SPEC M13).
const DuplicatesFolder = "Duplicate contacts"

// Folder is a contact folder (Graph's contactFolder resource).
type Folder struct {
	ID             string `json:"id"`
	DisplayName    string `json:"displayName"`
	ParentFolderID string `json:"parentFolderId"`
}

// Entry is a contact as the mailbox holds it, plus what Graph keeps beside
// it. Contact is an immutable snapshot shared with the mailbox (a write
// stores a new one; copy-on-write keeps reads free of copies at 100,000
// contacts): never modify it, Clone it first.
type Entry struct {
	Contact   *Contact
	Modified  time.Time
	PhotoHash string // hex SHA-256 of the photo bytes, "" for none
}

// item is the mailbox's own record of a contact. c is never modified
// once stored: every write stores a new *Contact.
type item struct {
	c         *Contact
	folder    string
	modified  time.Time
	photo     []byte
	photoType string
	photoHash string
}

// logKey identifies a contact's presence in one folder.
type logKey struct{ id, folder string }

// logEntry is one step of the mailbox's change sequence: the contact was
// written in (removed=false) or left (removed=true) the folder.
type logEntry struct {
	seq     uint64
	id      string
	folder  string
	removed bool
}

// Mailbox models one Outlook mailbox's contacts: a default "Contacts"
// folder with child folders, contacts with opaque immutable ids, a new
// changeKey on every write, Graph's limits and per-folder delta. It is safe
// for concurrent use; every method is one atomic step. Reads hand out
// immutable snapshots (see Entry).
type Mailbox struct {
	// Now is the clock; set it before first use to control timestamps.
	Now func() time.Time

	mu      sync.RWMutex
	epoch   string // tokens of another mailbox (or a wiped one) are refused
	seq     uint64
	root    string // the default Contacts folder
	folders []*Folder
	items   map[string]*item
	byGUID  map[string]map[string]struct{} // CRM GUID tag → contact ids
	log     []logEntry
	latest  map[logKey]uint64
	stale   int
	db      *store // nil for a memory-only mailbox
	closed  bool
}

// NewMemory returns an empty in-memory mailbox with its default Contacts
// folder.
func NewMemory() *Mailbox {
	mb := newMailbox()
	mb.epoch = randomToken(6)
	mb.root = newFolderID()
	mb.folders = []*Folder{{ID: mb.root, DisplayName: "Contacts", ParentFolderID: newFolderID()}}
	return mb
}

func newMailbox() *Mailbox {
	return &Mailbox{
		Now:    time.Now,
		items:  map[string]*item{},
		byGUID: map[string]map[string]struct{}{},
		latest: map[logKey]uint64{},
	}
}

// Close releases the backing file, if any. It is idempotent.
func (mb *Mailbox) Close() error {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if mb.db == nil || mb.closed {
		return nil
	}
	mb.closed = true
	// mb.db stays: a write after Close fails instead of silently
	// living in memory only.
	return mb.db.close()
}

// DefaultFolder returns the id of the default Contacts folder.
func (mb *Mailbox) DefaultFolder() string {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	return mb.root
}

// Folders returns the default Contacts folder and every folder below it.
func (mb *Mailbox) Folders() []Folder {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	out := make([]Folder, len(mb.folders))
	for i, f := range mb.folders {
		out[i] = *f
	}
	return out
}

// Folder returns the folder with id.
func (mb *Mailbox) Folder(id string) (Folder, error) {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	f := mb.folder(id)
	if f == nil {
		return Folder{}, errNotFound()
	}
	return *f, nil
}

func (mb *Mailbox) folder(id string) *Folder {
	for _, f := range mb.folders {
		if f.ID == id {
			return f
		}
	}
	return nil
}

// CreateFolder creates a folder named displayName under parentID ("" =
// the default Contacts folder). A sibling with the same name (ignoring
// case) is a 409 ErrorFolderExists, as in Exchange.
func (mb *Mailbox) CreateFolder(parentID, displayName string) (Folder, error) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return mb.createFolder(parentID, displayName)
}

func (mb *Mailbox) createFolder(parentID, displayName string) (Folder, error) {
	if parentID == "" {
		parentID = mb.root
	}
	if mb.folder(parentID) == nil {
		return Folder{}, errNotFound()
	}
	displayName = strings.TrimSpace(displayName)
	if displayName == "" {
		return Folder{}, errInvalid("The folder name cannot be empty.")
	}
	for _, f := range mb.folders {
		if f.ParentFolderID == parentID && strings.EqualFold(f.DisplayName, displayName) {
			return Folder{}, &GraphError{Status: http.StatusConflict, Code: CodeFolderExists,
				Message: "A folder with the specified name already exists."}
		}
	}
	f := &Folder{ID: newFolderID(), DisplayName: displayName, ParentFolderID: parentID}
	if mb.db != nil {
		if err := mb.db.putFolder(f, len(mb.folders)); err != nil {
			return Folder{}, err
		}
	}
	mb.folders = append(mb.folders, f)
	return *f, nil
}

// EnsureFolder returns the child of the default folder named displayName,
// creating it on demand (e.g. DuplicatesFolder).
func (mb *Mailbox) EnsureFolder(displayName string) (Folder, error) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	for _, f := range mb.folders {
		if f.ParentFolderID == mb.root && strings.EqualFold(f.DisplayName, displayName) {
			return *f, nil
		}
	}
	return mb.createFolder(mb.root, displayName)
}

// Create stores a copy of c as a new contact in folderID ("" = default):
// Graph assigns the id, changeKey, timestamps and parentFolderId, and
// refuses more values than a property may hold.
func (mb *Mailbox) Create(folderID string, c *Contact) (Entry, error) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if folderID == "" {
		folderID = mb.root
	}
	if mb.folder(folderID) == nil {
		return Entry{}, errNotFound()
	}
	if err := validate(c); err != nil {
		return Entry{}, err
	}
	now := mb.now()
	n := c.Clone()
	n.ID = newContactID()
	n.ParentFolderID = folderID
	n.CreatedDateTime = now.Format(time.RFC3339)
	if n.DisplayName == "" {
		n.DisplayName = generatedDisplayName(n)
	}
	it := &item{c: n, folder: folderID}
	if err := mb.commit(it, now, folderID, nil); err != nil {
		return Entry{}, err
	}
	return it.entry(), nil
}

// Get returns the contact with id, in whatever folder it is.
func (mb *Mailbox) Get(id string) (Entry, error) {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	it := mb.items[id]
	if it == nil {
		return Entry{}, errNotFound()
	}
	return it.entry(), nil
}

// FolderOf returns the id of the folder holding contact id.
func (mb *Mailbox) FolderOf(id string) (string, error) {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	it := mb.items[id]
	if it == nil {
		return "", errNotFound()
	}
	return it.folder, nil
}

// Update changes contact id through fn, which gets a copy to modify (e.g.
// with Patch or ApplyFields). ifChangeKey, when not "", must be the current
// changeKey, else 412 ErrorIrresolvableConflict. An error from fn is
// returned as it is and nothing changes.
func (mb *Mailbox) Update(id, ifChangeKey string, fn func(c *Contact) error) (Entry, error) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	it, err := mb.writable(id, ifChangeKey)
	if err != nil {
		return Entry{}, err
	}
	old := it.c
	n := old.Clone()
	if err := fn(n); err != nil {
		return Entry{}, err
	}
	if err := validate(n); err != nil {
		return Entry{}, err
	}
	// Graph regenerates a display name it made itself; one the user
	// chose is kept.
	if n.DisplayName == old.DisplayName && old.DisplayName == generatedDisplayName(old) {
		n.DisplayName = generatedDisplayName(n)
	}
	n.ID, n.ParentFolderID, n.CreatedDateTime = old.ID, old.ParentFolderID, old.CreatedDateTime
	next := *it
	next.c = n
	if err := mb.commit(&next, mb.now(), it.folder, nil); err != nil {
		return Entry{}, err
	}
	return next.entry(), nil
}

// Delete removes contact id (ifChangeKey as in Update).
func (mb *Mailbox) Delete(id, ifChangeKey string) error {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	it, err := mb.writable(id, ifChangeKey)
	if err != nil {
		return err
	}
	seq := mb.seq + 1
	if mb.db != nil {
		if err := mb.db.deleteContact(id, it.folder, seq); err != nil {
			return err
		}
	}
	mb.seq = seq
	mb.unindex(it)
	delete(mb.items, id)
	mb.append(logEntry{seq: seq, id: id, folder: it.folder, removed: true})
	return nil
}

// Move moves contact id to folder destID. The id stays (immutable ids);
// the changeKey changes. The source folder's delta reports it removed, the
// destination's reports it created.
func (mb *Mailbox) Move(id, destID string) (Entry, error) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	it := mb.items[id]
	if it == nil {
		return Entry{}, errNotFound()
	}
	if mb.folder(destID) == nil {
		return Entry{}, errNotFound()
	}
	if destID == it.folder {
		return it.entry(), nil
	}
	next := *it
	next.c = it.c.Clone()
	next.c.ParentFolderID = destID
	next.folder = destID
	if err := mb.commit(&next, mb.now(), destID, &it.folder); err != nil {
		return Entry{}, err
	}
	return next.entry(), nil
}

// Photo returns contact id's photo and its content type; 404 when the
// contact has none, as Graph's photo/$value does.
func (mb *Mailbox) Photo(id string) ([]byte, string, error) {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	it := mb.items[id]
	if it == nil || it.photo == nil {
		return nil, "", errNotFound()
	}
	return append([]byte(nil), it.photo...), it.photoType, nil
}

// SetPhoto replaces contact id's photo (nil or empty data removes it).
// Over 4 MB is a 413. The contact gets a new changeKey and shows up in
// delta, as an Exchange item does when its picture attachment changes.
func (mb *Mailbox) SetPhoto(id, ifChangeKey string, data []byte, contentType string) (Entry, error) {
	contentType, err := CheckPhoto(data, contentType)
	if err != nil {
		return Entry{}, err
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	it, err := mb.writable(id, ifChangeKey)
	if err != nil {
		return Entry{}, err
	}
	next := *it
	next.c = it.c.Clone()
	if len(data) == 0 {
		next.photo, next.photoType, next.photoHash = nil, "", ""
	} else {
		sum := sha256.Sum256(data)
		next.photo, next.photoType, next.photoHash = append([]byte(nil), data...), contentType, hex.EncodeToString(sum[:])
	}
	if err := mb.commitPhoto(&next); err != nil {
		return Entry{}, err
	}
	return next.entry(), nil
}

// CheckPhoto returns the content type a photo is stored with (sniffed when
// contentType is empty or generic) or the error Graph answers for it: 413
// over 4 MB, 400 when it is not an image.
func CheckPhoto(data []byte, contentType string) (string, error) {
	if len(data) > MaxPhotoBytes {
		return "", &GraphError{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge,
			Message: fmt.Sprintf("The photo is %d bytes; the maximum request size is %d bytes.", len(data), MaxPhotoBytes)}
	}
	if len(data) == 0 {
		return "", nil
	}
	if contentType == "" || contentType == "application/octet-stream" {
		contentType = http.DetectContentType(data)
	}
	if !strings.HasPrefix(contentType, "image/") {
		return "", errInvalid("The photo must be an image; got %s.", contentType)
	}
	return contentType, nil
}

// List calls fn with each contact of folderID in creation order until fn
// returns false. fn runs under the mailbox's read lock: it must not call
// the mailbox. The contact is an immutable snapshot, as in Entry: fn may
// keep it but must not change it.
func (mb *Mailbox) List(folderID string, fn func(c *Contact, photoHash string) bool) error {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	if folderID == "" {
		folderID = mb.root
	}
	if mb.folder(folderID) == nil {
		return errNotFound()
	}
	ids := make([]*item, 0, 64)
	for _, it := range mb.items {
		if it.folder == folderID {
			ids = append(ids, it)
		}
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := ids[i].c, ids[j].c
		if a.CreatedDateTime != b.CreatedDateTime {
			return a.CreatedDateTime < b.CreatedDateTime
		}
		return a.ID < b.ID
	})
	for _, it := range ids {
		if !fn(it.c, it.photoHash) {
			break
		}
	}
	return nil
}

// Count returns the number of contacts in folderID ("" = all folders).
func (mb *Mailbox) Count(folderID string) int {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	if folderID == "" {
		return len(mb.items)
	}
	n := 0
	for _, it := range mb.items {
		if it.folder == folderID {
			n++
		}
	}
	return n
}

// FindByCRMGUID returns the ids of contacts tagged with the CRM GUID guid
// (PropCRMGUID), in any folder.
func (mb *Mailbox) FindByCRMGUID(guid string) []string {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	var ids []string
	for id := range mb.byGUID[guid] {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// writable returns contact id for a write conditional on ifChangeKey.
func (mb *Mailbox) writable(id, ifChangeKey string) (*item, error) {
	it := mb.items[id]
	if it == nil {
		return nil, errNotFound()
	}
	if ifChangeKey != "" && ifChangeKey != it.c.ChangeKey {
		return nil, errConflict()
	}
	return it, nil
}

// commit stores it (new or changed) with a new changeKey, in folder, and
// records the change; from is the folder it left, for a move.
func (mb *Mailbox) commit(it *item, now time.Time, folder string, from *string) error {
	it.c.ChangeKey = newChangeKey()
	it.c.ODataEtag = `W/"` + it.c.ChangeKey + `"`
	it.c.LastModifiedDateTime = now.Format(time.RFC3339)
	it.modified = now
	seq := mb.seq + 1
	if from != nil {
		seq++ // one step for leaving the old folder, one for entering
	}
	if mb.db != nil {
		var left string
		if from != nil {
			left = *from
		}
		if err := mb.db.putContact(it, seq, left, false); err != nil {
			return err
		}
	}
	mb.seq = seq
	if from != nil {
		mb.append(logEntry{seq: seq - 1, id: it.c.ID, folder: *from, removed: true})
	}
	if old := mb.items[it.c.ID]; old != nil {
		mb.unindex(old)
	}
	mb.items[it.c.ID] = it
	mb.index(it)
	mb.append(logEntry{seq: seq, id: it.c.ID, folder: folder})
	return nil
}

func (mb *Mailbox) commitPhoto(it *item) error {
	now := mb.now()
	it.c.ChangeKey = newChangeKey()
	it.c.ODataEtag = `W/"` + it.c.ChangeKey + `"`
	it.c.LastModifiedDateTime = now.Format(time.RFC3339)
	it.modified = now
	seq := mb.seq + 1
	if mb.db != nil {
		if err := mb.db.putContact(it, seq, "", true); err != nil {
			return err
		}
	}
	mb.seq = seq
	mb.items[it.c.ID] = it
	mb.append(logEntry{seq: seq, id: it.c.ID, folder: it.folder})
	return nil
}

func (mb *Mailbox) index(it *item) {
	if g := CRMGUID(it.c); g != "" {
		s := mb.byGUID[g]
		if s == nil {
			s = map[string]struct{}{}
			mb.byGUID[g] = s
		}
		s[it.c.ID] = struct{}{}
	}
}

func (mb *Mailbox) unindex(it *item) {
	if g := CRMGUID(it.c); g != "" {
		delete(mb.byGUID[g], it.c.ID)
		if len(mb.byGUID[g]) == 0 {
			delete(mb.byGUID, g)
		}
	}
}

// append adds e to the change sequence and compacts the sequence when
// superseded entries outnumber live ones, so memory follows the number of
// contacts, not the number of writes.
func (mb *Mailbox) append(e logEntry) {
	k := logKey{e.id, e.folder}
	if _, ok := mb.latest[k]; ok {
		mb.stale++
	}
	mb.latest[k] = e.seq
	mb.log = append(mb.log, e)
	if mb.stale > 1024 && mb.stale > len(mb.log)/2 {
		kept := make([]logEntry, 0, len(mb.log)-mb.stale)
		for _, e := range mb.log {
			if mb.latest[logKey{e.id, e.folder}] == e.seq {
				kept = append(kept, e)
			}
		}
		mb.log, mb.stale = kept, 0
	}
}

func (mb *Mailbox) now() time.Time { return mb.Now().UTC().Truncate(time.Second) }

func (it *item) entry() Entry {
	return Entry{Contact: it.c, Modified: it.modified, PhotoHash: it.photoHash}
}

// validate refuses what Graph refuses, with Graph's own texts.
func validate(c *Contact) error {
	for _, l := range []struct {
		name string
		n    int
		max  int
	}{
		{"EmailAddresses", len(c.EmailAddresses), MaxEmailAddresses},
		{"BusinessPhones", len(c.BusinessPhones), MaxBusinessPhones},
		{"HomePhones", len(c.HomePhones), MaxHomePhones},
	} {
		if l.n > l.max {
			return errInvalid("The multi value property %s has %d entries, that exceeds the max allowed value of %d", l.name, l.n, l.max)
		}
	}
	for _, p := range c.SingleValueExtendedProperties {
		if !validExtendedID(p.ID) {
			return &GraphError{Status: http.StatusBadRequest, Code: CodeInvalidProperty,
				Message: fmt.Sprintf("The extended property id '%s' is not valid.", p.ID)}
		}
	}
	return nil
}

// validExtendedID accepts the three id forms of Graph's extended
// properties: "{type} {guid} Name {name}", "{type} {guid} Id {id}" and
// "{type} {proptag}".
func validExtendedID(id string) bool {
	parts := strings.Fields(id)
	switch len(parts) {
	case 2:
		return strings.HasPrefix(strings.ToLower(parts[1]), "0x")
	case 4:
		return strings.HasPrefix(parts[1], "{") && strings.HasSuffix(parts[1], "}") &&
			(parts[2] == "Name" || parts[2] == "Id")
	default:
		return len(parts) > 4 && parts[2] == "Name" // names may contain spaces
	}
}

func generatedDisplayName(c *Contact) string {
	var parts []string
	for _, p := range []string{c.GivenName, c.MiddleName, c.Surname} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) > 0 {
		return strings.Join(parts, " ")
	}
	if c.CompanyName != "" {
		return c.CompanyName
	}
	if len(c.EmailAddresses) > 0 {
		return c.EmailAddresses[0].Address
	}
	return ""
}

// newContactID returns an id shaped like Exchange's immutable ids:
// base64url with "=" padding, case-sensitive, random.
func newContactID() string { return "AAkALg" + randomToken(30) + "=" }

func newFolderID() string { return "AAMkAD" + randomToken(24) + "==" }

// newChangeKey returns a changeKey shaped like Exchange's (standard
// base64 with + and /).
func newChangeKey() string {
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	binary.LittleEndian.PutUint32(b[8:], rand.Uint32())
	return "EQAAABYAAAA" + base64.StdEncoding.EncodeToString(b[:])
}

func randomToken(n int) string {
	b := make([]byte, 0, n+8)
	for len(b) < n {
		b = binary.LittleEndian.AppendUint64(b, rand.Uint64())
	}
	return base64.RawURLEncoding.EncodeToString(b[:n])
}

// deltaToken is the decoded form of a delta or skip token: the folder,
// the sequence the round started after, the sequence it ends at, and how
// far the round has got.
type deltaToken struct {
	epoch       string
	folder      string
	since, upTo uint64
	pos         uint64
}

func (t deltaToken) String() string {
	s := strings.Join([]string{t.epoch, t.folder, strconv.FormatUint(t.since, 36),
		strconv.FormatUint(t.upTo, 36), strconv.FormatUint(t.pos, 36)}, ".")
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func parseToken(s string) (deltaToken, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return deltaToken{}, false
	}
	p := strings.Split(string(b), ".")
	if len(p) != 5 {
		return deltaToken{}, false
	}
	var t deltaToken
	t.epoch, t.folder = p[0], p[1]
	var errs [3]error
	t.since, errs[0] = strconv.ParseUint(p[2], 36, 64)
	t.upTo, errs[1] = strconv.ParseUint(p[3], 36, 64)
	t.pos, errs[2] = strconv.ParseUint(p[4], 36, 64)
	for _, e := range errs {
		if e != nil {
			return deltaToken{}, false
		}
	}
	return t, t.since <= t.upTo && t.pos <= t.upTo
}

// DeltaPage is one page of a folder's delta round.
type DeltaPage struct {
	// Changed are the contacts created, changed or moved into the folder.
	Changed []Entry
	// Removed are ids of contacts deleted or moved out of the folder.
	Removed []string
	// SkipToken continues this round (Graph's $skiptoken); "" on the
	// round's last page.
	SkipToken string
	// DeltaToken starts the next round (Graph's $deltatoken); set on the
	// last page only.
	DeltaToken string
}

// Delta returns a page of folderID's changes: token "" starts an initial
// round (every contact in the folder), a DeltaToken starts a round of the
// changes since that token's round, a SkipToken continues a round. A page
// holds at most maxPage items (0 = no limit). Like Graph, a contact
// changed again during a round may show up in the next round instead;
// the cost of a round is proportional to the mailbox's changes since the
// token, not to its size. A token of another folder or mailbox is a 410
// syncStateNotFound.
func (mb *Mailbox) Delta(folderID, token string, maxPage int) (DeltaPage, error) {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	if folderID == "" {
		folderID = mb.root
	}
	if mb.folder(folderID) == nil {
		return DeltaPage{}, errNotFound()
	}
	var t deltaToken
	if token == "" {
		t = deltaToken{epoch: mb.epoch, folder: folderID, upTo: mb.seq}
	} else {
		var ok bool
		t, ok = parseToken(token)
		if !ok || t.epoch != mb.epoch || t.folder != folderID || t.upTo > mb.seq {
			return DeltaPage{}, &GraphError{Status: http.StatusGone, Code: CodeSyncStateNotFound,
				Message: "The sync state is not valid for this folder; start a new round without a token."}
		}
		if t.pos == t.upTo && t.since == t.upTo {
			// a delta token: the next round covers what happened since
			t = deltaToken{epoch: t.epoch, folder: folderID, since: t.upTo, pos: t.upTo, upTo: mb.seq}
		}
	}
	start := max(t.since, t.pos)
	i := sort.Search(len(mb.log), func(i int) bool { return mb.log[i].seq > start })
	var page DeltaPage
	n := 0
	for ; i < len(mb.log) && mb.log[i].seq <= t.upTo; i++ {
		e := mb.log[i]
		if e.folder != folderID || mb.latest[logKey{e.id, e.folder}] != e.seq {
			continue // another folder, or superseded: reported later
		}
		if e.removed && t.since == 0 {
			continue // an initial round lists what is there
		}
		if maxPage > 0 && n == maxPage {
			t.pos = mb.log[i-1].seq
			page.SkipToken = t.String()
			return page, nil
		}
		n++
		if e.removed {
			page.Removed = append(page.Removed, e.id)
		} else {
			page.Changed = append(page.Changed, mb.items[e.id].entry())
		}
	}
	page.DeltaToken = deltaToken{epoch: t.epoch, folder: folderID, since: t.upTo, upTo: t.upTo, pos: t.upTo}.String()
	return page, nil
}
