package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/engine"
	"github.com/crmsync/crmsync/graph"
	"github.com/crmsync/crmsync/web"
)

// The web UI, on the same listener as the API and CardDAV.
func init() { mounts = append(mounts, mountWeb) }

func mountWeb(ctx context.Context, s *Server) error {
	var ws web.Sync
	if d, ok := s.syncDeps(); ok {
		ws = newWebSync(ctx, d, s.Microsoft365)
	}
	h, err := newWebUI(s.CRM, ws, s.BasePath)
	if err != nil {
		return err
	}
	// The UI writes its links, forms, redirects and cookie path from the
	// base path, so it sees the paths as the client sent them.
	s.HandlePublic(h, "/")
	return nil
}

// newWebUI builds the UI over crm, which must offer the paged listing
// (the service does), under basePath ("" for the root); ws may be nil
// (no My Contacts tab).
func newWebUI(crm any, ws web.Sync, basePath string) (*web.Handler, error) {
	wc, ok := crm.(web.CRM)
	if !ok {
		return nil, fmt.Errorf("the CRM does not support the web UI's listing")
	}
	return web.New(web.Options{CRM: wc, Sync: ws, BasePath: basePath, CardDAVPath: "/dav/"})
}

// webSync is the My Contacts tab's side of the sync wiring the CLI uses:
// the same connect, prerequisites, enable and first sync.
type webSync struct {
	d   *syncDeps
	ctx context.Context // the server's: first syncs stop with it

	// m365 is the app users sign in to Microsoft 365 with (no ClientID:
	// none); graphURL, when set, is Graph's root for their mailboxes.
	m365     graph.AuthConfig
	graphURL string

	mu      sync.Mutex
	runs    map[string]*web.RunStatus // by user GUID; the latest first sync started here
	signIns map[string]*signIn        // by user GUID; the latest Microsoft 365 sign-in started here
}

// signIn is a Microsoft 365 device sign-in waiting in the background.
type signIn struct {
	status web.DeviceSignIn
	cancel context.CancelFunc
}

// newWebSync wires the tab to d; first syncs and sign-ins stop with ctx.
func newWebSync(ctx context.Context, d *syncDeps, m365 graph.AuthConfig) *webSync {
	return &webSync{d: d, ctx: ctx, m365: m365, runs: map[string]*web.RunStatus{}, signIns: map[string]*signIn{}}
}

func (s *webSync) StartMicrosoft365(ctx context.Context, u *crmsync.User) error {
	if s.m365.ClientID == "" {
		return crmsync.Errorf(crmsync.EPRECONDITION, "signing in to Microsoft 365 is not set up: start crmsync serve with --ms-client-id")
	}
	s.CancelMicrosoft365(u)
	si, err := graph.StartDeviceSignIn(ctx, s.m365)
	if err != nil {
		return &crmsync.Error{Code: crmsync.EPRECONDITION, Message: "Microsoft 365 does not answer: " + crmsync.ErrorMessage(err), Err: err}
	}
	waitCtx, cancel := context.WithCancel(s.ctx)
	entry := &signIn{status: web.DeviceSignIn{UserCode: si.UserCode, VerificationURI: si.VerificationURI, Expiry: si.Expiry, State: "pending"}, cancel: cancel}
	s.mu.Lock()
	s.signIns[u.GUID] = entry
	s.mu.Unlock()
	rc := remoteConfig{Tenant: s.m365.Tenant, ClientID: s.m365.ClientID, GraphURL: s.graphURL}
	go func() {
		defer cancel()
		tok, err := si.Wait(waitCtx)
		if err == nil {
			_, err = s.d.connectMicrosoft365(wiring(s.ctx), u, rc, tok)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		switch why := graph.SignInFailure(err); {
		case err == nil:
			entry.status.State = "done"
		case why != "":
			entry.status.State = why
		default:
			entry.status.State, entry.status.Err = "failed", crmsync.ErrorMessage(remoteRefused(err))
			s.d.env.Logger.Warn("Microsoft 365 sign-in from the web UI failed", "user", u.Name, "err", crmsync.ErrorMessage(err))
		}
	}()
	return nil
}

func (s *webSync) Microsoft365SignIn(u *crmsync.User) *web.DeviceSignIn {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.signIns[u.GUID]
	if e == nil {
		return nil
	}
	c := e.status
	return &c
}

// CancelMicrosoft365 stops the polling; the waiting goroutine then marks
// the sign-in cancelled without storing anything.
func (s *webSync) CancelMicrosoft365(u *crmsync.User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.signIns[u.GUID]; e != nil && e.status.State == "pending" {
		e.cancel()
	}
}

func (s *webSync) Partnership(ctx context.Context, u *crmsync.User, kind string) (*web.SyncState, error) {
	ctx = wiring(ctx)
	st := &web.SyncState{Kind: kind, State: "off", Microsoft365: kind == "outlook" && s.m365.ClientID != ""}
	var reach func(context.Context) error
	p, err := s.d.state.Partnership(ctx, u.GUID, kind)
	switch crmsync.ErrorCode(err) {
	case "":
		rc, err := parseRemote(p.Remote)
		if err != nil {
			return nil, err
		}
		st.Connected, st.State, st.Mode, st.Filter, st.Policy = true, p.State, p.Mode, p.Filter, string(p.Policy)
		st.Where = rc.Sandbox
		if kind == "carddav" {
			st.Where = rc.URL
		} else if st.Where == "" {
			st.Where = "Microsoft 365"
		}
		if r, err := s.d.remoteReplica(ctx, p, u); err == nil {
			reach = reachable(r)
		} else {
			reach = func(context.Context) error { return err }
		}
	case crmsync.ENOTFOUND:
	default:
		return nil, err
	}
	if st.Checks, err = engine.Prerequisites(ctx, s.d.svc, u, reach); err != nil {
		return nil, err
	}
	return st, nil
}

func (s *webSync) ConnectCardDAV(ctx context.Context, u *crmsync.User, a web.CardDAVAccount) error {
	ctx = wiring(ctx)
	rc := remoteConfig{URL: a.URL, Username: a.Username, AddressBook: a.Book}
	_, err := s.d.connectCardDAV(ctx, u, rc, a.Password, engine.PolicyNewest)
	return err
}

func (s *webSync) ConnectSandbox(ctx context.Context, u *crmsync.User, url string) error {
	ctx = wiring(ctx)
	_, err := s.d.connectOutlook(ctx, u, remoteConfig{Sandbox: url})
	if err != nil && crmsync.ErrorCode(err) == crmsync.EINTERNAL {
		return &crmsync.Error{Code: crmsync.EPRECONDITION, Message: "the mailbox does not answer: " + err.Error(), Err: err}
	}
	return err
}

func (s *webSync) Enable(ctx context.Context, u *crmsync.User, kind string, o web.SyncOptions) error {
	ctx = wiring(ctx)
	opts, err := parseSyncOptions(o.Mode, o.Filter, o.Policy)
	if err != nil {
		return err
	}
	p, err := s.d.partnershipOf(ctx, u, kind)
	if err != nil {
		return err
	}
	if kind == "carddav" {
		p.Policy = opts.policy // a book syncs every visible contact, as carddav enable does
		_, err = s.d.checkedEngine(ctx, p, u)
	} else {
		_, err = s.d.enableOutlook(ctx, u, p, opts)
	}
	if err != nil {
		return remoteRefused(err)
	}
	p.State = "active"
	if !p.Synced {
		p.State = "first-sync-pending" // until the user answers Now
	}
	return s.d.state.SavePartnership(ctx, p)
}

func (s *webSync) StartFirstSync(ctx context.Context, u *crmsync.User, kind string) error {
	ctx = wiring(ctx)
	s.mu.Lock()
	if r := s.runs[u.GUID]; r != nil && !r.Finished {
		s.mu.Unlock()
		return nil // already running: the page shows its progress
	}
	s.mu.Unlock()
	p, err := s.d.partnershipOf(ctx, u, kind)
	if err != nil {
		return err
	}
	if p.State != "first-sync-pending" {
		return crmsync.Errorf(crmsync.EPRECONDITION, "no first sync waits: turn sync on first")
	}
	eng, err := s.d.checkedEngine(ctx, p, u)
	if err != nil {
		return remoteRefused(err)
	}
	status := &web.RunStatus{Started: time.Now()}
	s.mu.Lock()
	s.runs[u.GUID] = status
	s.mu.Unlock()
	go func() {
		run, err := runFirstSync(s.ctx, eng, func(pr engine.Progress) {
			s.mu.Lock()
			defer s.mu.Unlock()
			// A first sync is a bulk pass and short settling passes; the
			// bar follows the largest, so that it never runs backwards.
			if pr.Total >= status.Total {
				status.Done, status.Total = pr.Done, pr.Total
			}
		})
		if err == nil {
			p.State = "active"
			err = s.d.state.SavePartnership(s.ctx, p)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		status.Finished = true
		if err != nil {
			status.Err = crmsync.ErrorMessage(err)
			s.d.env.Logger.Warn("first sync from the web UI failed", "user", u.Name, "err", err)
		}
		if run != nil {
			c := run.Counts
			status.CreatedInCRM, status.CreatedInRemote = c.CreatedInCRM, c.CreatedInRemote
			status.Duplicates, status.Conflicts, status.Errors = len(run.Duplicates), len(run.Conflicts), len(run.Errors)
			if err == nil {
				status.Done = status.Total
			}
		}
	}()
	return nil
}

func (s *webSync) FirstSync(u *crmsync.User) *web.RunStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runs[u.GUID]
	if r == nil {
		return nil
	}
	c := *r
	return &c
}

// wiring drops the signed-in user from a request's context: the sync
// wiring acts for the user it is given, as the CLI does (looking the
// partnership's user up, building the engine), and the engine then calls
// the CRM as that user.
func wiring(ctx context.Context) context.Context { return crmsync.WithUser(ctx, nil) }

func (s *webSync) outlookEngine(ctx context.Context, u *crmsync.User) (*engine.Engine, error) {
	p, err := s.d.partnershipOf(ctx, u, "outlook")
	if err != nil {
		return nil, err
	}
	return s.d.engineFor(ctx, p, u)
}

func (s *webSync) Duplicates(ctx context.Context, u *crmsync.User) ([]web.DuplicatePair, error) {
	ctx = wiring(ctx)
	eng, err := s.outlookEngine(ctx, u)
	if err != nil {
		return nil, err
	}
	dups, err := s.d.state.Duplicates(ctx, eng.Partnership.ID)
	if err != nil || len(dups) == 0 {
		return nil, err
	}
	var remoteIDs, crmIDs []string
	for _, d := range dups {
		remoteIDs, crmIDs = append(remoteIDs, d.RemoteID), append(crmIDs, d.CRMID)
	}
	remote, err := eng.Remote.Get(ctx, remoteIDs)
	if err != nil {
		return nil, err
	}
	local, err := eng.CRM.Get(ctx, crmIDs)
	if err != nil {
		return nil, err
	}
	fields := map[string]map[string]string{}
	for _, r := range append(remote, local...) {
		fields[r.ID] = r.Fields
	}
	var out []web.DuplicatePair
	for _, d := range dups {
		pair := web.DuplicatePair{RemoteID: d.RemoteID, CRMID: d.CRMID, Name: d.Name, Email: d.Email}
		theirs, mine := fields[d.RemoteID], fields[d.CRMID]
		if theirs != nil {
			note, _ := engine.SplitNote(theirs[crmsync.FieldNote])
			theirs[crmsync.FieldNote] = note
		}
		for _, f := range engine.SyncFields {
			if f == crmsync.FieldPicture || mine[f] == "" && theirs[f] == "" {
				continue
			}
			pair.Rows = append(pair.Rows, web.FieldPair{Name: f, CRM: mine[f], Outlook: theirs[f], Differs: mine[f] != theirs[f]})
		}
		out = append(out, pair)
	}
	return out, nil
}

// duplicate finds one duplicate awaiting review.
func (s *webSync) duplicate(ctx context.Context, eng *engine.Engine, remoteID string) (*engine.Duplicate, error) {
	dups, err := s.d.state.Duplicates(ctx, eng.Partnership.ID)
	if err != nil {
		return nil, err
	}
	if dup := findDuplicate(dups, remoteID); dup != nil {
		return dup, nil
	}
	return nil, crmsync.Errorf(crmsync.ENOTFOUND, "no duplicate %q awaits review", remoteID)
}

func (s *webSync) MergeDuplicate(ctx context.Context, u *crmsync.User, remoteID string) (int, int, error) {
	ctx = wiring(ctx)
	eng, err := s.outlookEngine(ctx, u)
	if err != nil {
		return 0, 0, err
	}
	dup, err := s.duplicate(ctx, eng, remoteID)
	if err != nil {
		return 0, 0, err
	}
	return mergeDuplicate(ctx, s.d, eng, u, dup)
}

func (s *webSync) KeepBoth(ctx context.Context, u *crmsync.User, remoteID string) error {
	ctx = wiring(ctx)
	eng, err := s.outlookEngine(ctx, u)
	if err != nil {
		return err
	}
	dup, err := s.duplicate(ctx, eng, remoteID)
	if err != nil {
		return err
	}
	return s.d.state.ResolveDuplicate(ctx, eng.Partnership.ID, dup.RemoteID)
}

func (s *webSync) Runs(ctx context.Context, u *crmsync.User) ([]engine.Run, error) {
	ctx = wiring(ctx)
	p, err := s.d.partnershipOf(ctx, u, "outlook")
	if err != nil {
		return nil, err
	}
	return s.d.state.Runs(ctx, p.ID, 20)
}

func (s *webSync) State(ctx context.Context, u *crmsync.User, kind string) (string, error) {
	p, err := s.d.state.Partnership(wiring(ctx), u.GUID, kind)
	switch crmsync.ErrorCode(err) {
	case "":
		return p.State, nil
	case crmsync.ENOTFOUND:
		return "none", nil
	}
	return "", err
}

// remoteRefused turns a remote's refusal of its credentials into the
// missing prerequisite it is: EUNAUTHORIZED would mean the web session.
func remoteRefused(err error) error {
	if crmsync.ErrorCode(err) == crmsync.EUNAUTHORIZED {
		return &crmsync.Error{Code: crmsync.EPRECONDITION, Message: "the remote refused the user name or password: connect again", Err: err}
	}
	return err
}
