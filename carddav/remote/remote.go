package remote

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
)

var _ engine.Replica = (*Client)(nil)

// Defaults of Config.
const (
	// DefaultConcurrency bounds the writes in flight: Radicale serializes
	// writes behind one lock, so more than a few only queue up there.
	DefaultConcurrency = 4
	// DefaultBatchSize is the number of hrefs per addressbook-multiget, small
	// enough that no server builds a huge answer in memory (F10).
	DefaultBatchSize = 100
)

// Config says which address book to sync and how to reach it.
type Config struct {
	// URL is where discovery starts: the server's root, a principal, a
	// home set or the address book itself.
	URL string
	// Username and Password are sent with Basic auth (never logged).
	Username string
	Password string
	// AddressBook picks the address book: an absolute path, or the last path
	// segment or display name of one in the home set; "" takes the URL
	// itself when it is an address book, else the first one of the home set.
	AddressBook string
	// DuplicatesBook is where MoveToDuplicates puts contacts (SPEC M13): an
	// absolute path or a name in the home set, created on first use. ""
	// means none: MoveToDuplicates then leaves the card where it is and
	// reports success, so the engine neither uploads nor deletes it.
	DuplicatesBook string
	// HTTPClient sends the requests; nil uses a client with keep-alive and
	// a 60 s timeout. Its CheckRedirect is replaced: discovery follows
	// redirects itself so that a PROPFIND stays a PROPFIND.
	HTTPClient *http.Client
	// Concurrency bounds the requests Apply and Get run at once
	// (DefaultConcurrency when 0).
	Concurrency int
	// BatchSize is the number of hrefs per multiget (DefaultBatchSize when 0).
	BatchSize int
	// DisableSyncCollection lists the book by a full ETag listing even when
	// it offers sync-collection: for servers whose RFC 6578 support is
	// broken.
	DisableSyncCollection bool
	// Logger receives warnings about cards that cannot be read; nil discards.
	Logger *slog.Logger
}

// Client is a CardDAV address book as one side of a sync partnership.
// Record.ID is the card's path (percent-decoded), Version its ETag in wire
// form, CRMGUID the X-CRMSYNC-GUID property crmsync writes on create (or
// the UID when it is a GUID).
type Client struct {
	dav         *dav
	book        string // path of the address book, with a trailing slash
	homeSet     string // path of the addressbook-home-set ("" if unknown)
	syncable    bool   // the book offers sync-collection (has a DAV:sync-token)
	dupName     string
	concurrency int
	writeSlots  chan struct{} // shared by concurrent Apply calls
	batch       int
	log         *slog.Logger

	dupOnce sync.Mutex
	dupBook string // resolved duplicates book path once created or found
}

// DefaultHTTPClient is the client Open uses when Config.HTTPClient is nil:
// keep-alive with up to 16 idle connections to the server, a 60 s timeout.
func DefaultHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	return &http.Client{Timeout: 60 * time.Second, Transport: tr}
}

// Open discovers the address book (RFC 6764 well-known URL, current-user-
// principal, addressbook-home-set) and checks that it can be read.
// Errors: EUNAUTHORIZED for bad credentials, ENOTFOUND when no address
// book matches, EINVALID for a bad URL.
func Open(ctx context.Context, cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, crm.Errorf(crm.EINVALID, "carddav: URL %q is not an http(s) URL", cfg.URL)
	}
	hc := DefaultHTTPClient()
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c := &Client{
		dav:         &dav{http: hc, base: &url.URL{Scheme: u.Scheme, Host: u.Host}, username: cfg.Username, password: cfg.Password},
		dupName:     cfg.DuplicatesBook,
		concurrency: cfg.Concurrency,
		batch:       cfg.BatchSize,
		log:         cfg.Logger,
	}
	if c.concurrency <= 0 {
		c.concurrency = DefaultConcurrency
	}
	c.writeSlots = make(chan struct{}, c.concurrency)
	if c.batch <= 0 {
		c.batch = DefaultBatchSize
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	start := u.Path
	if start == "" {
		start = "/"
	}
	if err := c.discover(ctx, start, cfg.AddressBook); err != nil {
		return nil, err
	}
	if cfg.DisableSyncCollection {
		c.syncable = false
	}
	return c, nil
}

// AddressBook returns the path of the address book the client syncs.
func (c *Client) AddressBook() string { return c.book }

// SyncCollection reports whether the book is listed incrementally with
// sync-collection (RFC 6578) rather than by a full ETag listing.
func (c *Client) SyncCollection() bool { return c.syncable }

const propfindDiscovery = `<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop>
<d:resourcetype/><d:current-user-principal/><c:addressbook-home-set/><d:displayname/><d:sync-token/>
</d:prop></d:propfind>`

// propfind0 reads the discovery properties of one resource, following
// redirects (well-known URLs answer 301/302/307 to PROPFIND).
func (c *Client) propfind0(ctx context.Context, p string) (string, prop, error) {
	for range 5 {
		resp, err := c.dav.do(ctx, "PROPFIND", p, http.Header{
			"Content-Type": {`application/xml; charset="utf-8"`},
			"Depth":        {"0"},
		}, []byte(propfindDiscovery), true)
		if err != nil {
			return "", prop{}, err
		}
		if resp.StatusCode/100 == 3 {
			resp.Body.Close()
			loc, err := resp.Location()
			if err != nil {
				return "", prop{}, fmt.Errorf("carddav: PROPFIND %s: redirect without Location", p)
			}
			if loc.Host != c.dav.base.Host || loc.Scheme != c.dav.base.Scheme {
				return "", prop{}, crm.Errorf(crm.EINVALID, "carddav: %s redirects to another server (%s)", p, loc.Host)
			}
			p = loc.Path
			if p == "" {
				p = "/"
			}
			continue
		}
		var found prop
		var foundPath string
		_, err = func() (string, error) {
			defer resp.Body.Close()
			return parseMultistatus(resp.Body, func(r *response) error {
				if foundPath != "" || len(r.Hrefs) == 0 {
					return nil
				}
				var code int
				found, code = r.ok()
				if code/100 != 2 {
					// Xandikos answers 207 with a 404 inside for a missing path.
					return &statusError{Method: "PROPFIND", Path: p, Code: code}
				}
				foundPath = p
				if hp, err := hrefPath(r.Hrefs[0]); err == nil {
					foundPath = hp
				}
				return nil
			})
		}()
		if err != nil {
			return "", prop{}, fmt.Errorf("carddav: PROPFIND %s: %w", p, err)
		}
		if foundPath == "" {
			foundPath = p
		}
		return foundPath, found, nil
	}
	return "", prop{}, fmt.Errorf("carddav: PROPFIND %s: too many redirects", p)
}

func (c *Client) discover(ctx context.Context, start, want string) error {
	wrap := func(err error) error {
		switch httpStatus(err) {
		case http.StatusUnauthorized:
			return &crm.Error{Code: crm.EUNAUTHORIZED, Op: "carddav discovery", Message: "the CardDAV server refused the user name or password", Err: err}
		case http.StatusForbidden:
			return &crm.Error{Code: crm.EFORBIDDEN, Op: "carddav discovery", Message: "the CardDAV server denied access", Err: err}
		}
		return fmt.Errorf("carddav discovery: %w", err)
	}
	// An explicit absolute path: use it directly.
	if strings.HasPrefix(want, "/") {
		return c.useBook(ctx, want, wrap)
	}
	p, pr, err := c.propfind0(ctx, start)
	// A server's root need not be DAV (the well-known address is tried
	// next), but refused credentials are final: trying them again at
	// another address only brings the user closer to a lockout.
	if err != nil && start == "/" && httpStatus(err) != http.StatusUnauthorized {
		err = nil
		pr = prop{}
	}
	if err != nil {
		return wrap(err)
	}
	if pr.isAddressBook() && want == "" {
		c.book, c.syncable = dirPath(p), pr.SyncToken != ""
		c.homeSet = dirPath(path.Dir(strings.TrimSuffix(c.book, "/")))
		return nil
	}
	// Find the principal: from the URL's answer, else the well-known URL.
	principal := ""
	if pr.CurrentUserPrincipal != nil && len(pr.CurrentUserPrincipal.Hrefs) > 0 {
		principal = pr.CurrentUserPrincipal.Hrefs[0]
	}
	homeSet := ""
	if pr.HomeSet != nil && len(pr.HomeSet.Hrefs) > 0 {
		homeSet = pr.HomeSet.Hrefs[0]
	}
	if principal == "" && homeSet == "" {
		_, wk, err := c.propfind0(ctx, "/.well-known/carddav")
		if err != nil {
			return wrap(err)
		}
		if wk.CurrentUserPrincipal != nil && len(wk.CurrentUserPrincipal.Hrefs) > 0 {
			principal = wk.CurrentUserPrincipal.Hrefs[0]
		}
		if wk.HomeSet != nil && len(wk.HomeSet.Hrefs) > 0 {
			homeSet = wk.HomeSet.Hrefs[0]
		}
	}
	if homeSet == "" && principal != "" {
		pp, err := hrefPath(principal)
		if err != nil {
			return wrap(err)
		}
		_, ppr, err := c.propfind0(ctx, pp)
		if err != nil {
			return wrap(err)
		}
		if ppr.HomeSet != nil && len(ppr.HomeSet.Hrefs) > 0 {
			homeSet = ppr.HomeSet.Hrefs[0]
		}
	}
	if homeSet == "" {
		return crm.Errorf(crm.ENOTFOUND, "carddav: %s offers no addressbook-home-set", c.dav.resolve(start))
	}
	hs, err := hrefPath(homeSet)
	if err != nil {
		return wrap(err)
	}
	c.homeSet = dirPath(hs)
	books, err := c.listBooks(ctx)
	if err != nil {
		return wrap(err)
	}
	for _, b := range books {
		if want == "" || path.Base(strings.TrimSuffix(b.path, "/")) == want || b.name == want {
			c.book, c.syncable = b.path, b.syncable
			return nil
		}
	}
	if want == "" {
		return crm.Errorf(crm.ENOTFOUND, "carddav: no address book in %s", c.homeSet)
	}
	return crm.Errorf(crm.ENOTFOUND, "carddav: no address book %q in %s", want, c.homeSet)
}

func (c *Client) useBook(ctx context.Context, p string, wrap func(error) error) error {
	bp, pr, err := c.propfind0(ctx, dirPath(p))
	if err != nil {
		if httpStatus(err) == http.StatusNotFound {
			return crm.Errorf(crm.ENOTFOUND, "carddav: no address book at %s", p)
		}
		return wrap(err)
	}
	if !pr.isAddressBook() {
		return crm.Errorf(crm.ENOTFOUND, "carddav: %s is not an address book", p)
	}
	c.book, c.syncable = dirPath(bp), pr.SyncToken != ""
	c.homeSet = dirPath(path.Dir(strings.TrimSuffix(c.book, "/")))
	return nil
}

type bookInfo struct {
	path, name string
	syncable   bool
}

// listBooks lists the address books of the home set, sorted by path so
// that "the first one" is stable.
func (c *Client) listBooks(ctx context.Context) ([]bookInfo, error) {
	var books []bookInfo
	_, err := c.dav.xmlRequest(ctx, "PROPFIND", c.homeSet, "1", propfindDiscovery, func(r *response) error {
		if len(r.Hrefs) == 0 {
			return nil
		}
		p, code := r.ok()
		if code/100 != 2 || !p.isAddressBook() {
			return nil
		}
		hp, err := hrefPath(r.Hrefs[0])
		if err != nil {
			return nil
		}
		books = append(books, bookInfo{path: dirPath(hp), name: p.DisplayName, syncable: p.SyncToken != ""})
		return nil
	})
	sort.Slice(books, func(i, j int) bool { return books[i].path < books[j].path })
	return books, err
}

// dirPath returns p with exactly one trailing slash.
func dirPath(p string) string {
	return strings.TrimSuffix(p, "/") + "/"
}
