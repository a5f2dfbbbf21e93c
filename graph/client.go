package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/outlook"
	"golang.org/x/oauth2"
)

// DefaultBaseURL is Microsoft Graph's public cloud endpoint.
const DefaultBaseURL = "https://graph.microsoft.com"

// DuplicatesFolder is the display name of the folder that receives Outlook
// contacts matching a CRM contact on the first sync (SPEC M13).
const DuplicatesFolder = "Duplicate contacts"

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// BaseURL is Graph's root without the version: DefaultBaseURL, or a
	// sandbox mailbox's URL.
	BaseURL string
	// TokenSource yields the access token sent as a bearer token on every
	// request (see DeviceLogin and TokenStore). Required.
	TokenSource oauth2.TokenSource
	// FolderID is the contacts folder the partnership syncs. "" means the
	// mailbox's default Contacts folder, found on first use by its
	// well-known name (/me/contactFolders/contacts), else as the
	// parentFolderId of a contact of /me/contacts or of the folders
	// /me/contactFolders lists (its children); in an empty mailbox the
	// "Duplicate contacts" folder is created below it to learn its id.
	FolderID string
	// HTTPClient sends the requests; default: a client with no overall
	// timeout (RequestTimeout bounds each request instead).
	HTTPClient *http.Client
	// Logger receives one line per throttling pause or lost write. Tokens
	// and delta links are never logged.
	Logger *slog.Logger

	// MaxInFlight is the most requests in the mailbox at once (Outlook: 4).
	MaxInFlight int
	// WindowRequests per Window are the most requests sent (Outlook allows
	// 10,000 per 10 minutes; the default 9,600 per 10m10s leaves slack for
	// other apps' clocks, as Corso does).
	WindowRequests int
	Window         time.Duration
	// MaxAttempts bounds the sends of one request (default 8).
	MaxAttempts int
	// RetryBase is the first back-off when Graph gives no Retry-After
	// (default 500ms, doubling).
	RetryBase time.Duration
	// MaxRetryAfter caps one throttling pause (default 5 minutes).
	MaxRetryAfter time.Duration
	// RequestTimeout bounds one HTTP request (default 100s, Graph's own
	// gateway timeout).
	RequestTimeout time.Duration
	// BatchSize is the most requests per $batch (Graph: 20).
	BatchSize int
	// ParallelBatches sends $batch requests without dependsOn, one at a
	// time (Outlook runs up to four of its requests at once: the whole
	// budget). Off by default: a chained batch is one request in the
	// mailbox at a time, so four of them in flight use the budget fully
	// and pipeline the network latency, without a MailboxConcurrency 429.
	// Photo reads always use parallel batches (a 404 would block a chain).
	ParallelBatches bool
	// PageSize is sent as Prefer: odata.maxpagesize on listings and delta
	// (default 1000).
	PageSize int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Budget, when set, is the mailbox's limits shared with other clients
	// of it; MaxInFlight, WindowRequests and Window are then its own.
	Budget *Budget
	// BatchedStatus, when set, is told the status of each answer to a
	// request inside a $batch, as it came: HTTPClient sees only the
	// $batch's own status, 200 even when the requests in it got 429.
	BatchedStatus func(status int)
}

func (c *Config) setDefaults() {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 4
	}
	if c.WindowRequests <= 0 {
		c.WindowRequests = 9600
	}
	if c.Window <= 0 {
		c.Window = 10*time.Minute + 10*time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 500 * time.Millisecond
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = 5 * time.Minute
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 100 * time.Second
	}
	if c.BatchSize <= 0 || c.BatchSize > maxBatch {
		c.BatchSize = maxBatch
	}
	if c.PageSize <= 0 {
		c.PageSize = 1000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Client is the Outlook side of a partnership: one contacts folder of one
// mailbox reached through Microsoft Graph v1.0 (see the package doc).
// It is safe for concurrent use; all its requests share one set of limits.
type Client struct {
	cfg      Config
	base     string
	http     *http.Client
	log      *slog.Logger
	lim      *limiter
	requests atomic.Int64
	applies  atomic.Int64 // Apply calls so far: each call's rank

	mu          sync.Mutex
	folderID    string
	dupFolderID string
	// seen holds the last version of each contact this client read or
	// wrote, keyed by id: the base a PATCH is built on (so that values
	// outside the mapping survive) and the photo hash of that version,
	// so that a contact whose changeKey did not move is not read again.
	seen map[string]*seenContact
}

type seenContact struct {
	contact   *outlook.Contact
	photoHash string // valid for contact.ChangeKey
	photoOK   bool   // photoHash is known
}

var _ engine.Replica = (*Client)(nil)

// New returns a client for cfg; it sends nothing until used.
func New(cfg Config) (*Client, error) {
	cfg.setDefaults()
	if cfg.TokenSource == nil {
		return nil, crm.Errorf(crm.EINVALID, "graph: a token source is required")
	}
	budget := cfg.Budget
	if budget == nil {
		budget = NewBudget(cfg)
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, crm.Errorf(crm.EINVALID, "graph: base URL %q is not an http(s) URL", cfg.BaseURL)
	}
	return &Client{
		cfg:      cfg,
		base:     base + "/v1.0",
		http:     cfg.HTTPClient,
		log:      cfg.Logger,
		lim:      budget.lim,
		folderID: cfg.FolderID,
		seen:     map[string]*seenContact{},
	}, nil
}

// Requests reports how many HTTP requests the client has sent, retries
// included; a $batch counts once. Benchmarks report it.
func (cl *Client) Requests() int64 { return cl.requests.Load() }

// Normalize returns what Outlook keeps of value: SPEC S3's 256-character
// cut for every field but the note and the photo.
func (cl *Client) Normalize(field, value string) string { return outlook.Normalize(field, value) }

// getJSON sends a safe GET and decodes a 200 answer into v.
func (cl *Client) getJSON(ctx context.Context, url, prefer string, v any) error {
	r, err := cl.do(ctx, call{method: http.MethodGet, url: url, prefer: prefer, safe: true})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return statusError("GET "+opName(redactURL(url)), r.status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return fmt.Errorf("decoding GET %s: %w", opName(url), err)
	}
	return nil
}

// FolderID returns the id of the synced contacts folder, looking the
// default one up on first use (see Config.FolderID). Connecting stores
// it, so that later processes need not look it up again.
func (cl *Client) FolderID(ctx context.Context) (string, error) { return cl.folder(ctx) }

// folder returns the synced folder's id, finding the default Contacts
// folder on first use.
func (cl *Client) folder(ctx context.Context) (string, error) {
	cl.mu.Lock()
	id := cl.folderID
	cl.mu.Unlock()
	if id != "" {
		return id, nil
	}
	id, err := cl.findDefaultFolder(ctx)
	if err != nil {
		return "", fmt.Errorf("finding the default Contacts folder: %w", err)
	}
	cl.mu.Lock()
	cl.folderID = id
	cl.mu.Unlock()
	return id, nil
}

// findDefaultFolder finds the id of the default Contacts folder: by its
// well-known name "contacts"; else as the folder of a contact of
// /me/contacts; else from /me/contactFolders (whose folders are its
// children); in an empty mailbox by creating "Duplicate contacts" below it.
func (cl *Client) findDefaultFolder(ctx context.Context) (string, error) {
	var f contactFolder
	if err := cl.getJSON(ctx, "/me/contactFolders/contacts?$select=id,displayName,parentFolderId", "", &f); err == nil && f.ID != "" {
		return f.ID, nil
	} else if err != nil && crm.ErrorCode(err) == crm.EUNAUTHORIZED {
		return "", err
	}
	var contacts struct {
		Value []struct {
			ParentFolderID string `json:"parentFolderId"`
		} `json:"value"`
	}
	if err := cl.getJSON(ctx, "/me/contacts?$top=1&$select=parentFolderId", "", &contacts); err != nil {
		return "", err
	}
	if len(contacts.Value) > 0 && contacts.Value[0].ParentFolderID != "" {
		return contacts.Value[0].ParentFolderID, nil
	}
	var folders struct {
		Value []contactFolder `json:"value"`
	}
	if err := cl.getJSON(ctx, "/me/contactFolders?$select=id,displayName,parentFolderId", "", &folders); err != nil {
		return "", err
	}
	ids := map[string]bool{}
	for _, f := range folders.Value {
		ids[f.ID] = true
	}
	for _, f := range folders.Value {
		if f.ParentFolderID != "" && !ids[f.ParentFolderID] {
			return f.ParentFolderID, nil
		}
	}
	dup, err := cl.duplicatesFolder(ctx)
	if err != nil {
		return "", err
	}
	return dup.ParentFolderID, nil
}

type contactFolder struct {
	ID             string `json:"id"`
	DisplayName    string `json:"displayName"`
	ParentFolderID string `json:"parentFolderId"`
}

// duplicatesFolder finds the "Duplicate contacts" folder, creating it on
// demand (SPEC M13).
func (cl *Client) duplicatesFolder(ctx context.Context) (contactFolder, error) {
	var page struct {
		Value []contactFolder `json:"value"`
	}
	u := "/me/contactFolders?$filter=" + escapeQuery("displayName eq '"+DuplicatesFolder+"'")
	if err := cl.getJSON(ctx, u, "", &page); err != nil {
		return contactFolder{}, fmt.Errorf("finding the %q folder: %w", DuplicatesFolder, err)
	}
	for _, f := range page.Value {
		if f.DisplayName == DuplicatesFolder {
			return f, nil
		}
	}
	body, _ := json.Marshal(map[string]string{"displayName": DuplicatesFolder})
	// Creating a folder twice only fails with a conflict, which the
	// lookup below resolves, so the POST may be retried.
	r, err := cl.do(ctx, call{method: http.MethodPost, url: "/me/contactFolders", body: body, safe: true})
	if err != nil {
		return contactFolder{}, fmt.Errorf("creating the %q folder: %w", DuplicatesFolder, err)
	}
	var f contactFolder
	if r.status == http.StatusConflict {
		if err := cl.getJSON(ctx, u, "", &page); err != nil || len(page.Value) == 0 {
			return contactFolder{}, fmt.Errorf("finding the %q folder after a conflict: %v", DuplicatesFolder, err)
		}
		return page.Value[0], nil
	}
	if r.status != http.StatusCreated && r.status != http.StatusOK {
		return contactFolder{}, statusError("creating the "+DuplicatesFolder+" folder", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &f); err != nil {
		return contactFolder{}, fmt.Errorf("decoding the new folder: %w", err)
	}
	return f, nil
}

// escapeQuery escapes a query parameter value the way Graph's examples
// do: spaces and braces percent-encoded, OData punctuation left readable.
func escapeQuery(s string) string {
	return strings.NewReplacer(" ", "%20", "{", "%7B", "}", "%7D", "#", "%23", "&", "%26", "+", "%2B").Replace(s)
}

// duplicatesID returns the id of the "Duplicate contacts" folder, created
// on first use and remembered.
func (cl *Client) duplicatesID(ctx context.Context) (string, error) {
	cl.mu.Lock()
	id := cl.dupFolderID
	cl.mu.Unlock()
	if id != "" {
		return id, nil
	}
	f, err := cl.duplicatesFolder(ctx)
	if err != nil {
		return "", err
	}
	cl.mu.Lock()
	cl.dupFolderID = f.ID
	cl.mu.Unlock()
	return f.ID, nil
}
