package carddav

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	crm "github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/vcard"
)

// request is one DAV request after authentication.
type request struct {
	h    *Handler
	ctx  context.Context
	user *crm.User
	t    target
	st   *bookState
}

func (h *Handler) newRequest(ctx context.Context, user *crm.User, t target) (*request, error) {
	st, err := h.loadState(ctx, user)
	if err != nil {
		return nil, err
	}
	return &request{h: h, ctx: ctx, user: user, t: t, st: st}, nil
}

func (q *request) enums() (*enums, error) {
	if q.st.enums == nil {
		e, err := q.h.loadEnums(q.ctx)
		if err != nil {
			return nil, err
		}
		q.st.enums = e
	}
	return q.st.enums, nil
}

func (q *request) rights() (crm.Rights, error) {
	rs, err := q.h.crm.MyRights(q.ctx)
	if err != nil {
		return crm.Rights{}, err
	}
	for _, r := range rs {
		if r.Folder == crm.Contacts {
			return r, nil
		}
	}
	return crm.Rights{Folder: crm.Contacts}, nil
}

// object is one contact as the address book shows it.
type object struct {
	it   *crm.Item // nil when only the identifier was listed
	guid string
	tag  string
}

func (q *request) href(guid string) string { return q.h.objectPath(q.user.Name, q.st.name(guid)) }

// wanted is the property list of a PROPFIND or REPORT body.
type wanted struct {
	all         bool
	names       []xml.Name
	cardVersion string // address-data version asked for
}

func wantedProps(body *node) wanted {
	if body == nil {
		return wanted{all: true}
	}
	if body.child(nsDAV, "allprop") != nil {
		return wanted{all: true}
	}
	p := body.child(nsDAV, "prop")
	if p == nil {
		if body.child(nsDAV, "propname") != nil {
			return wanted{all: true}
		}
		return wanted{all: true}
	}
	var w wanted
	for _, c := range p.Children {
		w.names = append(w.names, c.XMLName)
		if c.XMLName.Space == nsCard && c.XMLName.Local == "address-data" {
			w.cardVersion = c.attr("version")
		}
	}
	return w
}

func (w wanted) has(space, local string) bool {
	for _, n := range w.names {
		if n.Space == space && n.Local == local {
			return true
		}
	}
	return false
}

var allCollectionProps = []xml.Name{
	{Space: nsDAV, Local: "resourcetype"}, {Space: nsDAV, Local: "displayname"},
	{Space: nsDAV, Local: "current-user-principal"}, {Space: nsDAV, Local: "current-user-privilege-set"},
	{Space: nsDAV, Local: "supported-report-set"}, {Space: nsDAV, Local: "sync-token"},
	{Space: nsCS, Local: "getctag"}, {Space: nsCard, Local: "addressbook-home-set"},
	{Space: nsCard, Local: "supported-address-data"}, {Space: nsCard, Local: "max-resource-size"},
	{Space: nsDAV, Local: "principal-URL"}, {Space: nsDAV, Local: "owner"},
}

var allObjectProps = []xml.Name{
	{Space: nsDAV, Local: "resourcetype"}, {Space: nsDAV, Local: "getetag"}, {Space: nsDAV, Local: "getcontenttype"},
}

func hrefXML(p string) string { return "<d:href>" + escape(p) + "</d:href>" }

// collectionProp returns a property of the root, principal, home or book.
func (q *request) collectionProp(k kind, n xml.Name) (string, bool, error) {
	u := q.user.Name
	switch n.Space + " " + n.Local {
	case nsDAV + " resourcetype":
		switch k {
		case kindPrincipal:
			return "<d:principal/>", true, nil
		case kindBook:
			return "<d:collection/><card:addressbook/>", true, nil
		}
		return "<d:collection/>", true, nil
	case nsDAV + " displayname":
		switch k {
		case kindBook:
			return "Contacts", true, nil
		case kindPrincipal:
			name := q.user.FullName
			if name == "" {
				name = u
			}
			return escape(name), true, nil
		}
		return "", false, nil
	case nsDAV + " current-user-principal":
		return hrefXML(q.h.principalPath(u)), true, nil
	case nsDAV + " principal-URL", nsDAV + " owner":
		if k == kindRoot {
			return "", false, nil
		}
		return hrefXML(q.h.principalPath(u)), true, nil
	case nsCard + " addressbook-home-set":
		if k == kindPrincipal || k == kindRoot {
			return hrefXML(q.h.homePath(u)), true, nil
		}
	case nsDAV + " principal-collection-set":
		return hrefXML(q.h.prefix + "principals/"), true, nil
	case nsDAV + " current-user-privilege-set":
		privs := []string{"read", "read-current-user-privilege-set"}
		if k == kindBook {
			r, err := q.rights()
			if err != nil {
				return "", false, err
			}
			if r.Edit > crm.LevelNone {
				privs = append(privs, "write-content")
			}
			if r.CanCreate {
				privs = append(privs, "bind")
			}
			if r.Delete > crm.LevelNone {
				privs = append(privs, "unbind")
			}
		}
		var b strings.Builder
		for _, p := range privs {
			b.WriteString("<d:privilege><d:" + p + "/></d:privilege>")
		}
		return b.String(), true, nil
	}
	if k != kindBook {
		return "", false, nil
	}
	switch n.Space + " " + n.Local {
	case nsDAV + " supported-report-set":
		var b strings.Builder
		for _, r := range []string{"card:addressbook-multiget", "card:addressbook-query", "d:sync-collection"} {
			b.WriteString("<d:supported-report><d:report><" + r + "/></d:report></d:supported-report>")
		}
		return b.String(), true, nil
	case nsDAV + " sync-token":
		id, err := q.h.crm.LastChangeID(q.ctx)
		if err != nil {
			return "", false, err
		}
		return escape(syncToken(id)), true, nil
	case nsCS + " getctag":
		id, err := q.h.crm.LastChangeID(q.ctx)
		if err != nil {
			return "", false, err
		}
		return strconv.FormatInt(id, 10), true, nil
	case nsCard + " supported-address-data":
		return `<card:address-data-type content-type="text/vcard" version="3.0"/>` +
			`<card:address-data-type content-type="text/vcard" version="4.0"/>`, true, nil
	case nsCard + " max-resource-size":
		return strconv.FormatInt(q.h.max, 10), true, nil
	case nsCard + " addressbook-description":
		return "Contacts you may see in crmsync", true, nil
	}
	return "", false, nil
}

// objectProps returns the properties of one contact.
func (q *request) objectProps(o object, w wanted) ([]prop, []xml.Name, error) {
	names := w.names
	if w.all {
		names = allObjectProps
	}
	var found []prop
	var missing []xml.Name
	for _, n := range names {
		switch n.Space + " " + n.Local {
		case nsDAV + " resourcetype":
			found = append(found, prop{name: n})
		case nsDAV + " getetag":
			if o.it == nil {
				missing = append(missing, n)
				continue
			}
			found = append(found, prop{name: n, inner: escape(etag(o.guid, o.it.Version, o.tag))})
		case nsDAV + " getcontenttype":
			found = append(found, prop{name: n, inner: "text/vcard; charset=utf-8"})
		case nsCard + " address-data", nsDAV + " getcontentlength":
			if o.it == nil {
				missing = append(missing, n)
				continue
			}
			card, err := q.card(o, w.cardVersion)
			if err != nil {
				return nil, nil, err
			}
			if n.Local == "getcontentlength" {
				found = append(found, prop{name: n, inner: strconv.Itoa(len(card))})
			} else {
				found = append(found, prop{name: n, inner: escape(string(card))})
			}
		case nsDAV + " current-user-principal":
			found = append(found, prop{name: n, inner: hrefXML(q.h.principalPath(q.user.Name))})
		default:
			missing = append(missing, n)
		}
	}
	return found, missing, nil
}

// card renders one contact; stored client cards are fetched per call (the
// listing paths fetch them in bulk with cards).
func (q *request) card(o object, version string) ([]byte, error) {
	e, err := q.enums()
	if err != nil {
		return nil, err
	}
	stored, err := q.h.store.Cards(q.ctx, []string{o.guid})
	if err != nil {
		return nil, err
	}
	return render(o.it, stored[o.guid], e, cardVersion(version))
}

func cardVersion(v string) string {
	if v == "4.0" {
		return "4.0"
	}
	return "3.0"
}

func depth(r *http.Request) string {
	d := r.Header.Get("Depth")
	if d == "" {
		return "infinity"
	}
	return d
}

func (h *Handler) propfind(ctx context.Context, w http.ResponseWriter, r *http.Request, user *crm.User, t target) {
	body, err := parseBody(r.Body, 1<<20)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q, err := h.newRequest(ctx, user, t)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	want := wantedProps(body)
	ms := newMultistatus(w)
	addCollection := func(k kind, href string) error {
		names := want.names
		if want.all {
			names = allCollectionProps
		}
		var found []prop
		var missing []xml.Name
		for _, n := range names {
			inner, ok, err := q.collectionProp(k, n)
			if err != nil {
				return err
			}
			if ok {
				found = append(found, prop{name: n, inner: inner})
			} else if !want.all {
				missing = append(missing, n)
			}
		}
		ms.response(href, found, missing)
		return nil
	}
	d := depth(r)
	switch t.kind {
	case kindRoot:
		err = addCollection(kindRoot, h.prefix)
		if err == nil && d != "0" {
			if err = addCollection(kindPrincipal, h.principalPath(user.Name)); err == nil {
				err = addCollection(kindHome, h.homePath(user.Name))
			}
		}
	case kindPrincipal:
		err = addCollection(kindPrincipal, h.principalPath(user.Name))
	case kindHome:
		err = addCollection(kindHome, h.homePath(user.Name))
		if err == nil && d != "0" {
			err = addCollection(kindBook, h.bookPath(user.Name))
		}
	case kindBook:
		err = addCollection(kindBook, h.bookPath(user.Name))
		if err == nil && d != "0" {
			err = q.listAll(ms, want)
		}
	case kindObject:
		guid := q.st.guid(t.name)
		var items []*crm.Item
		if guid != "" {
			items, err = h.crm.Items(ctx, crm.Contacts, []string{guid})
		}
		if err == nil && len(items) == 0 {
			http.Error(w, "no such contact", http.StatusNotFound)
			return
		}
		if err == nil {
			err = q.addObjects(ms, items, want)
		}
	}
	h.end(w, r, ms, "", err)
}

// listAll adds every visible contact; it reads whole items only when
// their content is asked for. Both ways go a batch at a time, so a book of
// any size takes the memory of one batch (and of its list of GUIDs).
func (q *request) listAll(ms *multistatus, want wanted) error {
	if want.needsCard() {
		var batch []*crm.Item
		err := q.h.crm.EachItem(q.ctx, crm.Contacts, func(it *crm.Item) error {
			if batch = append(batch, it); len(batch) < listBatch {
				return nil
			}
			err := q.addObjects(ms, batch, want)
			batch = batch[:0]
			return err
		})
		if err != nil {
			return err
		}
		return q.addObjects(ms, batch, want)
	}
	ids, err := q.h.crm.Identifiers(q.ctx, crm.Contacts)
	if err != nil {
		return err
	}
	for start := 0; start < len(ids); start += listBatch {
		chunk := ids[start:min(start+listBatch, len(ids))]
		guids := make([]string, len(chunk))
		for i, id := range chunk {
			guids[i] = id.GUID
		}
		tags, err := q.h.store.Tags(q.ctx, guids)
		if err != nil {
			return err
		}
		for _, id := range chunk {
			o := object{guid: id.GUID, tag: tags[id.GUID], it: &crm.Item{GUID: id.GUID, Version: id.Version}}
			found, missing, err := q.objectProps(o, want)
			if err != nil {
				return err
			}
			ms.response(q.href(id.GUID), found, missing)
		}
		if ms.err != nil {
			return ms.err
		}
	}
	return nil
}

// listBatch is how many contacts a listing reads and writes at a time. It
// is above service.ExportFreeItems, so that a read of more contacts than a
// user without the Export right may make is refused whole, at its first
// batch, as a read of them all at once is.
const listBatch = 500

func (w wanted) needsCard() bool {
	return w.has(nsCard, "address-data") || w.has(nsDAV, "getcontentlength")
}

// addGUIDs adds the visible contacts among guids, a batch at a time, and
// returns those it found.
func (q *request) addGUIDs(ms *multistatus, guids []string, want wanted) (map[string]bool, error) {
	found := map[string]bool{}
	for start := 0; start < len(guids); start += listBatch {
		items, err := q.h.crm.Items(q.ctx, crm.Contacts, guids[start:min(start+listBatch, len(guids))])
		if err != nil {
			return nil, err
		}
		if err := q.addObjects(ms, items, want); err != nil {
			return nil, err
		}
		for _, it := range items {
			found[it.GUID] = true
		}
	}
	return found, nil
}

// addObjects adds full items, rendering cards with their stored client
// cards and tags fetched in one go.
func (q *request) addObjects(ms *multistatus, items []*crm.Item, want wanted) error {
	if len(items) == 0 {
		return ms.err
	}
	guids := make([]string, len(items))
	for i, it := range items {
		guids[i] = it.GUID
	}
	tags, err := q.h.store.Tags(q.ctx, guids)
	if err != nil {
		return err
	}
	var stored map[string][]byte
	needCard := want.needsCard()
	if needCard {
		if stored, err = q.h.store.Cards(q.ctx, guids); err != nil {
			return err
		}
	}
	e, err := q.enums()
	if err != nil {
		return err
	}
	for _, it := range items {
		o := object{it: it, guid: it.GUID, tag: tags[it.GUID]}
		w := want
		var card []byte
		if needCard {
			if card, err = render(it, stored[it.GUID], e, cardVersion(want.cardVersion)); err != nil {
				return err
			}
			w = wanted{names: nil, all: want.all}
			for _, n := range want.names {
				if !(n.Space == nsCard && n.Local == "address-data") && !(n.Space == nsDAV && n.Local == "getcontentlength") {
					w.names = append(w.names, n)
				}
			}
		}
		found, missing, err := q.objectProps(o, w)
		if err != nil {
			return err
		}
		if want.has(nsCard, "address-data") {
			found = append(found, prop{name: xml.Name{Space: nsCard, Local: "address-data"}, inner: escape(string(card))})
		}
		if want.has(nsDAV, "getcontentlength") {
			found = append(found, prop{name: xml.Name{Space: nsDAV, Local: "getcontentlength"}, inner: strconv.Itoa(len(card))})
		}
		ms.response(q.href(it.GUID), found, missing)
	}
	return ms.err
}

func (h *Handler) report(ctx context.Context, w http.ResponseWriter, r *http.Request, user *crm.User, t target) {
	body, err := parseBody(r.Body, 4<<20)
	if err != nil || body == nil {
		msg := "empty REPORT body"
		if err != nil {
			msg = err.Error()
		}
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	if t.kind != kindBook {
		http.Error(w, "reports are served on the address book", http.StatusForbidden)
		return
	}
	q, err := h.newRequest(ctx, user, t)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	want := wantedProps(body)
	ms := newMultistatus(w)
	token := ""
	switch {
	case body.XMLName.Space == nsCard && body.XMLName.Local == "addressbook-multiget":
		err = q.multiget(ms, body, want)
	case body.XMLName.Space == nsCard && body.XMLName.Local == "addressbook-query":
		// Filters are not applied: every visible contact matches, which
		// RFC 6352 clients accept as a superset they filter themselves.
		err = q.listAll(ms, want)
	case body.XMLName.Space == nsDAV && body.XMLName.Local == "sync-collection":
		var ok bool
		token, ok, err = q.syncCollection(ms, body, want)
		if err == nil && !ok {
			writeXML(w, http.StatusForbidden, errorBody(nsDAV, "valid-sync-token", ""))
			return
		}
	default:
		writeXML(w, http.StatusForbidden, errorBody(nsDAV, "supported-report", ""))
		return
	}
	h.end(w, r, ms, token, err)
}

// nameOfHref returns the resource name of an href into the user's book.
func (q *request) nameOfHref(href string) (string, bool) {
	if u, err := url.Parse(strings.TrimSpace(href)); err == nil {
		href = u.EscapedPath()
	}
	p, err := url.PathUnescape(href)
	if err != nil {
		return "", false
	}
	t, ok := q.h.parse(p)
	if !ok || t.kind != kindObject || t.owner != q.user.Name {
		return "", false
	}
	return t.name, true
}

func (q *request) multiget(ms *multistatus, body *node, want wanted) error {
	var guids []string
	hrefOf := map[string]string{}
	var missing []string
	for _, hn := range body.children(nsDAV, "href") {
		name, ok := q.nameOfHref(hn.Text)
		g := ""
		if ok {
			g = q.st.guid(name)
		}
		if g == "" {
			missing = append(missing, strings.TrimSpace(hn.Text))
			continue
		}
		guids = append(guids, g)
		hrefOf[g] = strings.TrimSpace(hn.Text)
	}
	seen, err := q.addGUIDs(ms, guids, want)
	if err != nil {
		return err
	}
	for _, g := range guids {
		if !seen[g] {
			missing = append(missing, hrefOf[g])
		}
	}
	for _, href := range missing {
		ms.status(href, http.StatusNotFound, "Not Found")
	}
	return ms.err
}

const tokenPrefix = "urn:crmsync:sync:"

func syncToken(id int64) string { return tokenPrefix + strconv.FormatInt(id, 10) }

// syncCollection answers RFC 6578 from the CRM's change feed. ok is false
// for a token this server cannot continue from (malformed, from the
// future, or rights changed since: the client must list again).
func (q *request) syncCollection(ms *multistatus, body *node, want wanted) (string, bool, error) {
	target, err := q.h.crm.LastChangeID(q.ctx)
	if err != nil {
		return "", false, err
	}
	var base int64
	if tn := body.child(nsDAV, "sync-token"); tn != nil && strings.TrimSpace(tn.Text) != "" {
		s, ok := strings.CutPrefix(strings.TrimSpace(tn.Text), tokenPrefix)
		if !ok {
			return "", false, nil
		}
		base, err = strconv.ParseInt(s, 10, 64)
		if err != nil || base < 0 || base > target {
			return "", false, nil
		}
	}
	if base == 0 {
		return syncToken(target), true, q.listAll(ms, want)
	}
	if changed, err := q.h.crm.HavePermissionsChanged(q.ctx, base, target); err != nil {
		return "", false, err
	} else if changed {
		return "", false, nil
	}
	changes, err := q.h.crm.ChangeIdentifiers(q.ctx, crm.Contacts, base, target)
	if err != nil {
		return "", false, err
	}
	last := map[string]crm.Change{}
	var order []string
	for _, c := range changes {
		if _, ok := last[c.GUID]; !ok {
			order = append(order, c.GUID)
		}
		last[c.GUID] = c
	}
	var guids []string
	for _, g := range order {
		if !last[g].Removed {
			guids = append(guids, g)
		}
	}
	present, err := q.addGUIDs(ms, guids, want)
	if err != nil {
		return "", false, err
	}
	for _, g := range order {
		if !present[g] {
			ms.status(q.href(g), http.StatusNotFound, "Not Found")
		}
	}
	if ms.err != nil {
		return "", false, ms.err
	}
	return syncToken(target), true, nil
}

// item loads the contact an object path names.
func (q *request) item() (*crm.Item, error) {
	guid := q.st.guid(q.t.name)
	if guid == "" {
		return nil, crm.Errorf(crm.ENOTFOUND, "no such contact")
	}
	items, err := q.h.crm.Items(q.ctx, crm.Contacts, []string{guid})
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, crm.Errorf(crm.ENOTFOUND, "no such contact")
	}
	return items[0], q.loadTag(items[0].GUID)
}

func (h *Handler) get(ctx context.Context, w http.ResponseWriter, r *http.Request, user *crm.User, t target) {
	if t.kind != kindObject {
		http.Error(w, "not a contact; use PROPFIND", http.StatusMethodNotAllowed)
		return
	}
	q, err := h.newRequest(ctx, user, t)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	it, err := q.item()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	version := "3.0"
	if strings.Contains(r.Header.Get("Accept"), "version=4.0") {
		version = "4.0"
	}
	card, err := q.card(object{it: it, guid: it.GUID}, version)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	tag := q.st.etag(it)
	if match(r.Header.Get("If-None-Match"), tag) {
		w.Header().Set("ETag", tag)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "text/vcard; charset=utf-8")
	w.Header().Set("ETag", tag)
	w.Header().Set("Content-Length", strconv.Itoa(len(card)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(card)
}

// match reports whether an If-Match / If-None-Match header value names tag
// (or is "*").
func match(header, tag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimSpace(v)
		if v == "*" || v == tag || strings.TrimPrefix(v, "W/") == tag {
			return true
		}
	}
	return false
}

func (h *Handler) put(ctx context.Context, w http.ResponseWriter, r *http.Request, user *crm.User, t target) {
	if t.kind != kindObject {
		http.Error(w, "PUT a contact into the address book", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.Contains(strings.ToLower(ct), "vcard") && !strings.HasPrefix(ct, "text/plain") {
		writeXML(w, http.StatusUnsupportedMediaType, errorBody(nsCard, "supported-address-data", "send text/vcard, not "+ct))
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, h.max+1))
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if int64(len(data)) > h.max {
		writeXML(w, http.StatusRequestEntityTooLarge, errorBody(nsCard, "max-resource-size", "the card is larger than "+strconv.FormatInt(h.max, 10)+" bytes"))
		return
	}
	card, err := vcard.Decode(data)
	if err != nil {
		writeXML(w, http.StatusBadRequest, errorBody(nsCard, "valid-address-data", err.Error()))
		return
	}
	stripped, err := strippedCard(card)
	if err != nil {
		writeXML(w, http.StatusBadRequest, errorBody(nsCard, "valid-address-data", err.Error()))
		return
	}
	q, err := h.newRequest(ctx, user, t)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	derived := derivedGUID(user.GUID, t.name)
	guid := q.st.guid(t.name)
	if guid == "" {
		guid = derived
		if u := strings.TrimPrefix(strings.ToLower(card.UID()), "urn:uuid:"); crm.IsGUID(u) {
			if items, err := h.crm.Items(ctx, crm.Contacts, []string{u}); err == nil && len(items) == 0 {
				guid = crm.NormalizeGUID(u) // keep the client's UID as the CRM GUID
			}
		}
	}
	var cur *crm.Item
	items, err := h.crm.Items(ctx, crm.Contacts, []string{guid})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if len(items) == 1 {
		cur = items[0]
		if err := q.loadTag(guid); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && cur != nil && match(inm, q.st.etag(cur)) {
		http.Error(w, "the contact exists", http.StatusPreconditionFailed)
		return
	}
	if im := r.Header.Get("If-Match"); im != "" && (cur == nil || !match(im, q.st.etag(cur))) {
		http.Error(w, "the contact was changed or deleted since you read it", http.StatusPreconditionFailed)
		return
	}
	rights, err := q.rights()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if cur == nil && !rights.CanCreate {
		// Refused before anything is looked up, so that a contact the
		// user cannot see answers exactly like one that does not exist.
		http.Error(w, "no right to create contacts", http.StatusForbidden)
		return
	}
	e, err := q.enums()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	set, err := patchFor(ctx, h.crm, card, cur, e)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var old []byte
	if cur != nil {
		cards, err := h.store.Cards(ctx, []string{guid})
		if err != nil {
			h.fail(w, r, err)
			return
		}
		old = cards[guid]
		if len(set) == 0 && sameCard(cur, old, stripped, e) {
			// Nothing changes: no write, so no new ItemVersion, ETag,
			// ctag, sync token or change-feed entry for other clients.
			if ok, err := h.mayEdit(ctx, user, rights, cur); err != nil || !ok {
				if err != nil {
					h.fail(w, r, err)
				} else {
					http.Error(w, "no right to edit this contact", http.StatusForbidden)
				}
				return
			}
			h.answerPut(w, q, cur, old, data, card.Version(), false, t)
			return
		}
	}
	res, err := h.save(ctx, q, guid, t.name, card, cur, set, e)
	if err == nil && cur == nil && guid != derived && res.invisible {
		// The client's GUID belongs to a contact this user cannot see:
		// create the card under the GUID its name derives to instead, as
		// for any name that is not a free GUID, so that the answer tells
		// nothing about the other contact.
		guid = derived
		res, err = h.save(ctx, q, guid, t.name, card, nil, set, e)
	}
	if err == nil {
		err = res.err
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !bytes.Equal(old, stripped) {
		if err := h.store.PutCard(ctx, guid, stripped); err != nil {
			// The contact is saved; only its unmapped properties are lost.
			h.log.Error("carddav: storing the client card", "guid", guid, "err", err)
		}
	}
	it, err := h.reload(ctx, guid)
	if err != nil {
		it = nil
	}
	h.answerPut(w, q, it, stripped, data, card.Version(), res.created, t)
}

// mayEdit asks the CRM whether user may edit contact it, for a PUT that
// changes nothing and so never reaches Save's own check. Only the CRM
// knows whether an item is related to the user (Edit "related"); one
// that cannot say gets the related-only case refused.
func (h *Handler) mayEdit(ctx context.Context, user *crm.User, rights crm.Rights, it *crm.Item) (bool, error) {
	if l, ok := h.crm.(crm.Lister); ok {
		access, err := l.Access(ctx, crm.Contacts, []string{it.GUID})
		return access[it.GUID].Edit, err
	}
	return crm.Reach(rights.Edit, user.GUID, it, func() bool { return false }), nil
}

// sameCard reports whether storing next instead of stored changes nothing
// any client can read of cur: the same card in 3.0 and 4.0.
func sameCard(cur *crm.Item, stored, next []byte, e *enums) bool {
	if bytes.Equal(stored, next) {
		return true
	}
	for _, v := range []string{"3.0", "4.0"} {
		a, err1 := render(cur, stored, e, v)
		b, err2 := render(cur, next, e, v)
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			return false
		}
	}
	return true
}

// answerPut ends a successful PUT. An ETag is returned only when the
// stored representation is exactly what the client sent (RFC 4918 / 6352:
// a server that changes the content must not); clients then fetch it.
func (h *Handler) answerPut(w http.ResponseWriter, q *request, it *crm.Item, stored, data []byte, version string, created bool, t target) {
	if it != nil {
		q.st.tags[it.GUID] = CardTag(stored)
		if out, err := render(it, stored, q.st.enums, version); err == nil && bytes.Equal(out, data) {
			w.Header().Set("ETag", q.st.etag(it))
		}
	}
	if created {
		w.Header().Set("Location", h.objectPath(q.user.Name, t.name))
		w.WriteHeader(http.StatusCreated)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// saveResult is the outcome of one contact write of a PUT.
type saveResult struct {
	err     error // the CRM's refusal of this contact
	created bool  // a new contact, or one restored from the trash
	// invisible: a create was refused because its GUID is a contact the
	// user may not see. The CRM answers that it exists (EEXISTS,
	// ECONFLICT, or EFORBIDDEN to edit it) or, for one in the trash, that
	// there is none to restore.
	invisible bool
}

// save writes the card's fields to contact guid (a create when cur is
// nil), restoring it from the trash when the client writes it again. The
// client's resource name is recorded before a create, so the contact is
// never listed under another href, and removed again when the CRM refuses
// it: a refused PUT leaves nothing behind. err is a failure of the store
// or the CRM as a whole.
func (h *Handler) save(ctx context.Context, q *request, guid, name string, card *vcard.Card, cur *crm.Item, set map[string]string, e *enums) (saveResult, error) {
	recorded := false
	if cur == nil && guid+".vcf" != name && q.st.names[guid] != name {
		if err := h.store.PutName(ctx, q.user.GUID, guid, name); err != nil {
			return saveResult{}, err
		}
		recorded = true
	}
	res, err := h.saveContact(ctx, guid, card, cur, set, e)
	if recorded && (err != nil || res.err != nil) {
		if derr := h.store.DeleteName(ctx, q.user.GUID, guid); derr != nil && err == nil {
			err = derr
		}
	}
	return res, err
}

func (h *Handler) saveContact(ctx context.Context, guid string, card *vcard.Card, cur *crm.Item, set map[string]string, e *enums) (saveResult, error) {
	patch := crm.Patch{GUID: guid, Version: 1, Set: set}
	if cur != nil {
		patch.Version = cur.Version + 1
	}
	res, err := h.crm.Save(ctx, crm.Contacts, []crm.Patch{patch}, crm.SaveOptions{DieOnItemConflict: true})
	if err != nil {
		return saveResult{}, err
	}
	if len(res) != 1 {
		return saveResult{}, fmt.Errorf("saving one contact gave %d results", len(res))
	}
	if cur != nil {
		return saveResult{err: res[0].Err}, nil
	}
	switch crm.ErrorCode(res[0].Err) {
	case crm.EEXISTS, crm.ECONFLICT, crm.EFORBIDDEN:
		// The GUID is taken although the user sees no such contact.
		return saveResult{err: res[0].Err, invisible: true}, nil
	case crm.ENOTFOUND:
	default:
		return saveResult{err: res[0].Err, created: true}, nil
	}
	// The contact is in the trash: a client writing it again wants it back.
	if err := h.crm.Restore(ctx, crm.Contacts, guid); err != nil {
		if crm.ErrorCode(err) == crm.EINTERNAL {
			return saveResult{}, err
		}
		return saveResult{err: err, invisible: crm.ErrorCode(err) == crm.ENOTFOUND}, nil
	}
	back, err := h.reload(ctx, guid)
	if err != nil {
		return saveResult{}, err
	}
	if set, err = patchFor(ctx, h.crm, card, back, e); err != nil {
		return saveResult{}, err
	}
	res, err = h.crm.Save(ctx, crm.Contacts, []crm.Patch{{GUID: guid, Version: back.Version + 1, Set: set}}, crm.SaveOptions{DieOnItemConflict: true})
	if err != nil {
		return saveResult{}, err
	}
	return saveResult{err: res[0].Err, created: true}, nil
}

func (h *Handler) reload(ctx context.Context, guid string) (*crm.Item, error) {
	items, err := h.crm.Items(ctx, crm.Contacts, []string{guid})
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, crm.Errorf(crm.ENOTFOUND, "contact %s vanished", guid)
	}
	return items[0], nil
}

func (h *Handler) delete(ctx context.Context, w http.ResponseWriter, r *http.Request, user *crm.User, t target) {
	if t.kind != kindObject {
		http.Error(w, "the address book itself cannot be deleted", http.StatusForbidden)
		return
	}
	q, err := h.newRequest(ctx, user, t)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	it, err := q.item()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if im := r.Header.Get("If-Match"); im != "" && !match(im, q.st.etag(it)) {
		http.Error(w, "the contact was changed since you read it", http.StatusPreconditionFailed)
		return
	}
	if err := h.crm.Delete(ctx, crm.Contacts, []string{it.GUID}); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
