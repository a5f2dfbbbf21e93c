package web

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync"
)

// input kinds of form fields.
const (
	inText     = "text"
	inEmail    = "email"
	inTel      = "tel"
	inURL      = "url"
	inArea     = "textarea"
	inCheck    = "checkbox"
	inDateTime = "datetime-local"
	inEnum     = "enum"
	inHidden   = "hidden"
)

type formField struct {
	Name, Input string
	EnumType    string
}

// folderPage describes the pages of one folder: its URL, the fields its
// form edits and the columns its list shows.
type folderPage struct {
	Folder  crmsync.Folder
	Slug    string
	Fields  []formField
	Columns []string
}

var (
	contactsPage = &folderPage{Folder: crmsync.Contacts, Slug: "contacts",
		Fields: []formField{
			{Name: crmsync.FieldFirstName, Input: inText}, {Name: crmsync.FieldMiddleName, Input: inText},
			{Name: crmsync.FieldLastName, Input: inText}, {Name: crmsync.FieldCompany, Input: inText},
			{Name: crmsync.FieldJobTitle, Input: inText}, {Name: crmsync.FieldDepartment, Input: inText},
			{Name: crmsync.FieldEmail1, Input: inEmail}, {Name: crmsync.FieldEmail2, Input: inEmail},
			{Name: crmsync.FieldPhoneBusiness, Input: inTel}, {Name: crmsync.FieldPhoneMobile, Input: inTel},
			{Name: crmsync.FieldPhoneHome, Input: inTel}, {Name: crmsync.FieldWebPage, Input: inURL},
			{Name: crmsync.AddressBusiness + "Street", Input: inText}, {Name: crmsync.AddressBusiness + "City", Input: inText},
			{Name: crmsync.AddressBusiness + "PostalCode", Input: inText},
			{Name: crmsync.FieldNote, Input: inArea}, {Name: crmsync.FieldIsPrivate, Input: inCheck},
		},
		Columns: []string{crmsync.FieldCompany, crmsync.FieldEmail1, crmsync.FieldPhoneMobile}}
	companiesPage = &folderPage{Folder: crmsync.Companies, Slug: "companies",
		Fields: []formField{
			{Name: crmsync.FieldCompanyName, Input: inText}, {Name: "Email", Input: inEmail},
			{Name: "Phone", Input: inTel}, {Name: "Mobile", Input: inTel}, {Name: "WebPage", Input: inURL},
			{Name: "Address1Street", Input: inText}, {Name: "Address1City", Input: inText}, {Name: "Address1PostalCode", Input: inText},
			{Name: crmsync.FieldNote, Input: inArea}, {Name: crmsync.FieldIsPrivate, Input: inCheck},
		},
		Columns: []string{"Email", "Phone", "Address1City"}}
	journalPage = &folderPage{Folder: crmsync.Journal, Slug: "journals",
		Fields: []formField{
			{Name: crmsync.FieldFileAs, Input: inText}, {Name: crmsync.FieldJournalType, Input: inEnum, EnumType: crmsync.EnumJournalType},
			{Name: crmsync.FieldEventStart, Input: inDateTime}, {Name: crmsync.FieldNote, Input: inArea},
			{Name: crmsync.FieldContactGUID, Input: inHidden}, {Name: crmsync.FieldIsPrivate, Input: inCheck},
		},
		Columns: []string{crmsync.FieldEventStart, crmsync.FieldNote}}
	folderPages = []*folderPage{contactsPage, companiesPage, journalPage}
)

func pageOf(f crmsync.Folder) *folderPage {
	for _, p := range folderPages {
		if p.Folder == f {
			return p
		}
	}
	return nil
}

// rights returns the caller's rights on folder (none on failure, which
// hides buttons; the service still decides every write).
func (h *Handler) rights(rq *request, f crmsync.Folder) crmsync.Rights {
	all, err := h.crm.MyRights(rq.ctx)
	if err != nil {
		return crmsync.Rights{Folder: f}
	}
	for _, r := range all {
		if r.Folder == f {
			return r
		}
	}
	return crmsync.Rights{Folder: f}
}

type listData struct {
	Page    *folderPage
	Items   []*crmsync.Item
	Query   string
	Next    string
	After   string
	Rights  crmsync.Rights
	Marking *marking // manual sync marks, nil unless the contacts sync is manual
}

func (h *Handler) list(p *folderPage) func(http.ResponseWriter, *http.Request, *request) {
	return func(w http.ResponseWriter, r *http.Request, rq *request) {
		q := strings.TrimSpace(r.URL.Query().Get("q"))
		after := r.URL.Query().Get("after")
		page, err := h.crm.List(rq.ctx, p.Folder, crmsync.ListQuery{Search: q, After: after})
		if err != nil {
			h.fail(w, r, rq, err)
			return
		}
		d := &listData{Page: p, Items: page.Items, Query: q, Next: page.Next, After: after, Rights: h.rights(rq, p.Folder)}
		if p.Folder == crmsync.Contacts {
			d.Marking = h.marking(rq)
		}
		h.render(w, r, http.StatusOK, "list", h.view(rq, p.Slug, &view{Title: tr(rq.lang, "nav."+p.Slug), Data: d}))
	}
}

func (h *Handler) trash(p *folderPage) func(http.ResponseWriter, *http.Request, *request) {
	return func(w http.ResponseWriter, r *http.Request, rq *request) {
		items, err := h.crm.Trash(rq.ctx, p.Folder)
		if err != nil {
			h.fail(w, r, rq, err)
			return
		}
		sortByName(items)
		access, err := h.access(rq, p.Folder, items)
		if err != nil {
			h.fail(w, r, rq, err)
			return
		}
		h.render(w, r, http.StatusOK, "trash", h.view(rq, p.Slug, &view{Title: tr(rq.lang, "trash.title"),
			Data: map[string]any{"Page": p, "Items": items, "Access": access}}))
	}
}

func (h *Handler) access(rq *request, f crmsync.Folder, items []*crmsync.Item) (map[string]crmsync.Access, error) {
	guids := make([]string, len(items))
	for i, it := range items {
		guids[i] = it.GUID
	}
	if len(guids) == 0 {
		return map[string]crmsync.Access{}, nil
	}
	return h.crm.Access(rq.ctx, f, guids)
}

// item reads one visible item; ENOTFOUND when it is absent or invisible.
func (h *Handler) item(rq *request, f crmsync.Folder, guid string) (*crmsync.Item, error) {
	if !crmsync.IsGUID(guid) {
		return nil, crmsync.Errorf(crmsync.ENOTFOUND, "no such item")
	}
	items, err := h.crm.Items(rq.ctx, f, []string{guid})
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, crmsync.Errorf(crmsync.ENOTFOUND, "no %s item %s", f, guid)
	}
	return items[0], nil
}

// linkedItem is the item guid links to, or nil when there is none or the
// caller may not see it (a page then leaves the link out).
func (h *Handler) linkedItem(rq *request, f crmsync.Folder, guid string) *crmsync.Item {
	it, err := h.item(rq, f, guid)
	if err != nil {
		return nil
	}
	return it
}

// itemAccess reads one visible item with what the caller may do with it.
func (h *Handler) itemAccess(rq *request, f crmsync.Folder, guid string) (*crmsync.Item, crmsync.Access, error) {
	it, err := h.item(rq, f, guid)
	if err != nil {
		return nil, crmsync.Access{}, err
	}
	acc, err := h.crm.Access(rq.ctx, f, []string{it.GUID})
	return it, acc[it.GUID], err
}

type itemData struct {
	Page     *folderPage
	Item     *crmsync.Item
	Access   crmsync.Access
	Fields   []shownField
	Company  *crmsync.Item
	Contact  *crmsync.Item
	Contacts []*crmsync.Item
	Journals []*crmsync.Item
	// TooManyContacts and TooManyJournals say a list was left out: it is
	// longer than a read without the Export right may return.
	TooManyContacts bool
	TooManyJournals bool
	Types           map[string]*crmsync.EnumValue
	CanJournal      bool
	HasPhoto        bool
	Marking         *marking
}

type shownField struct{ Name, Value string }

func (h *Handler) open(p *folderPage) func(http.ResponseWriter, *http.Request, *request) {
	return func(w http.ResponseWriter, r *http.Request, rq *request) {
		it, acc, err := h.itemAccess(rq, p.Folder, r.PathValue("guid"))
		if err != nil {
			h.fail(w, r, rq, err)
			return
		}
		d := &itemData{Page: p, Item: it, Access: acc, HasPhoto: it.Get(crmsync.FieldPicture) != ""}
		types, err := h.enumIndex(rq, crmsync.EnumJournalType)
		if err != nil {
			h.fail(w, r, rq, err)
			return
		}
		d.Types = types
		for _, f := range p.Fields {
			if v := it.Get(f.Name); v != "" && f.Input != inHidden && f.Input != inCheck {
				if f.Input == inEnum {
					v = enumLabel(rq.lang, types[v])
				}
				d.Fields = append(d.Fields, shownField{f.Name, v})
			}
		}
		// Linked records the caller may not see are simply left out.
		d.Company = h.linkedItem(rq, crmsync.Companies, it.Get(crmsync.FieldCompanyGUID))
		d.Contact = h.linkedItem(rq, crmsync.Contacts, it.Get(crmsync.FieldContactGUID))
		switch p.Folder {
		case crmsync.Contacts:
			d.Journals, d.TooManyJournals, err = h.linked(rq, crmsync.Journal, crmsync.FieldContactGUID, it.GUID)
			d.Marking = h.marking(rq)
		case crmsync.Companies:
			d.Journals, d.TooManyJournals, err = h.linked(rq, crmsync.Journal, crmsync.FieldCompanyGUID, it.GUID)
			if err == nil {
				d.Contacts, d.TooManyContacts, err = h.linked(rq, crmsync.Contacts, crmsync.FieldCompanyGUID, it.GUID)
				sortByName(d.Contacts)
			}
		}
		if err != nil {
			h.fail(w, r, rq, err)
			return
		}
		sortNewestFirst(d.Journals)
		d.CanJournal = p.Folder == crmsync.Contacts && h.rights(rq, crmsync.Journal).CanCreate
		h.render(w, r, http.StatusOK, "item", h.view(rq, p.Slug, &view{Title: it.Get(crmsync.FieldFileAs), Data: d}))
	}
}

// linked returns the items of folder whose field links them to guid. A
// caller without the folder's Export right reads at most a page of items
// at once (SPEC M3): a record with more links then shows none of them and
// says why (tooMany), instead of failing the whole page.
func (h *Handler) linked(rq *request, folder crmsync.Folder, field, guid string) (items []*crmsync.Item, tooMany bool, err error) {
	items, err = h.crm.Search(rq.ctx, folder, map[string]string{field: guid}, false)
	if crmsync.ErrorCode(err) == crmsync.EFORBIDDEN && !h.rights(rq, folder).CanExport {
		return nil, true, nil
	}
	return items, false, err
}

// sortByName orders items by display name, as a listing is (crmsync.SortKey).
func sortByName(items []*crmsync.Item) {
	slices.SortFunc(items, func(a, b *crmsync.Item) int { return strings.Compare(crmsync.SortKey(a), crmsync.SortKey(b)) })
}

// sortNewestFirst orders journals as the Outlook note shows them: by
// EventStart, else creation, newest first.
func sortNewestFirst(js []*crmsync.Item) {
	when := func(it *crmsync.Item) string {
		if v := it.Get(crmsync.FieldEventStart); v != "" {
			return v
		}
		return it.Get(crmsync.FieldItemCreated)
	}
	slices.SortStableFunc(js, func(a, b *crmsync.Item) int { return strings.Compare(when(b), when(a)) })
}

// enumLabel is an enum value's name in lang: Czech when it has one, else
// English; "" for none.
func enumLabel(lang string, v *crmsync.EnumValue) string {
	if v == nil {
		return ""
	}
	if lang == "cs" && v.Cs != "" {
		return v.Cs
	}
	return v.En
}

func (h *Handler) enumIndex(rq *request, enumType string) (map[string]*crmsync.EnumValue, error) {
	vals, err := h.crm.EnumValues(rq.ctx, enumType)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*crmsync.EnumValue, len(vals))
	for i := range vals {
		out[vals[i].GUID] = &vals[i]
	}
	return out, nil
}

// photo serves a contact's profile picture.
func (h *Handler) photo(w http.ResponseWriter, r *http.Request, rq *request) {
	it, err := h.item(rq, crmsync.Contacts, r.PathValue("guid"))
	if err != nil {
		http.Error(w, tr(rq.lang, "err."+crmsync.ErrorCode(err)), statusOf(err))
		return
	}
	b, err := base64.StdEncoding.DecodeString(it.Get(crmsync.FieldPicture))
	if err != nil || len(b) == 0 {
		http.NotFound(w, r)
		return
	}
	ct := http.DetectContentType(b)
	if !strings.HasPrefix(ct, "image/") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "private, max-age=60")
	w.Write(b)
}

type formData struct {
	Page     *folderPage
	Item     *crmsync.Item // nil for a new one
	Values   map[string]string
	Version  int
	Theirs   map[string]string // on a conflict: the stored values that differ
	Enums    map[string][]crmsync.EnumValue
	Contact  *crmsync.Item // a journal's contact
	Readonly bool
}

func (h *Handler) formFor(rq *request, p *folderPage, it *crmsync.Item, values map[string]string) (*formData, error) {
	d := &formData{Page: p, Item: it, Values: values, Enums: map[string][]crmsync.EnumValue{}}
	if it != nil {
		d.Version = it.Version
	}
	for _, f := range p.Fields {
		if f.Input == inEnum {
			vals, err := h.crm.EnumValues(rq.ctx, f.EnumType)
			if err != nil {
				return nil, err
			}
			d.Enums[f.Name] = slices.DeleteFunc(vals, func(v crmsync.EnumValue) bool { return v.IsSystem })
		}
	}
	d.Contact = h.linkedItem(rq, crmsync.Contacts, values[crmsync.FieldContactGUID])
	return d, nil
}

// formValues are an item's fields as the form shows them.
func formValues(p *folderPage, it *crmsync.Item) map[string]string {
	v := map[string]string{}
	for _, f := range p.Fields {
		s := it.Get(f.Name)
		if f.Input == inDateTime && s != "" {
			if t, err := crmsync.ParseTime(s); err == nil {
				s = t.UTC().Format("2006-01-02T15:04")
			}
		}
		v[f.Name] = s
	}
	return v
}

func (h *Handler) newForm(p *folderPage) func(http.ResponseWriter, *http.Request, *request) {
	return func(w http.ResponseWriter, r *http.Request, rq *request) {
		if !h.rights(rq, p.Folder).CanCreate {
			h.fail(w, r, rq, crmsync.Errorf(crmsync.EFORBIDDEN, "no right to create"))
			return
		}
		values := map[string]string{}
		if p.Folder == crmsync.Journal {
			values[crmsync.FieldContactGUID] = r.URL.Query().Get("contact")
			values[crmsync.FieldEventStart] = time.Now().UTC().Format("2006-01-02T15:04")
		}
		d, err := h.formFor(rq, p, nil, values)
		if err != nil {
			h.fail(w, r, rq, err)
			return
		}
		h.render(w, r, http.StatusOK, "form", h.view(rq, p.Slug, &view{Title: tr(rq.lang, "new."+p.Slug), Data: d}))
	}
}

func (h *Handler) editForm(p *folderPage) func(http.ResponseWriter, *http.Request, *request) {
	return func(w http.ResponseWriter, r *http.Request, rq *request) {
		it, acc, err := h.itemAccess(rq, p.Folder, r.PathValue("guid"))
		if err != nil {
			h.fail(w, r, rq, err)
			return
		}
		if !acc.Edit {
			h.fail(w, r, rq, crmsync.Errorf(crmsync.EFORBIDDEN, "no right to edit"))
			return
		}
		d, err := h.formFor(rq, p, it, formValues(p, it))
		if err != nil {
			h.fail(w, r, rq, err)
			return
		}
		h.render(w, r, http.StatusOK, "form", h.view(rq, p.Slug, &view{Title: it.Get(crmsync.FieldFileAs), Data: d}))
	}
}

// posted reads the form's fields: what the user typed (to show again) and
// the patch values (DateTime converted to the stored form).
func posted(p *folderPage, r *http.Request) (typed, set map[string]string, err error) {
	typed, set = map[string]string{}, map[string]string{}
	for _, f := range p.Fields {
		v := r.PostFormValue(f.Name)
		if f.Input != inArea {
			v = strings.TrimSpace(v)
		}
		typed[f.Name] = v
		switch f.Input {
		case inCheck:
			if v != "" {
				v = "true"
			} else {
				v = "false"
			}
			typed[f.Name] = map[string]string{"true": "true"}[v]
		case inDateTime:
			if v != "" {
				t, perr := time.Parse("2006-01-02T15:04", v)
				if perr != nil {
					err = crmsync.Errorf(crmsync.EINVALID, "%s: %q is not a date and time", f.Name, v)
				}
				v = crmsync.FormatTime(t)
			}
		}
		set[f.Name] = v
	}
	return typed, set, err
}

func (h *Handler) create(p *folderPage) func(http.ResponseWriter, *http.Request, *request) {
	return func(w http.ResponseWriter, r *http.Request, rq *request) {
		typed, set, err := posted(p, r)
		if err == nil && p.Folder == crmsync.Journal && set[crmsync.FieldContactGUID] == "" {
			delete(set, crmsync.FieldContactGUID)
		}
		var guid string
		if err == nil {
			guid, err = h.saveOne(rq, p.Folder, crmsync.Patch{Set: set}, crmsync.SaveOptions{DieOnItemConflict: true})
		}
		if err != nil {
			h.formError(w, r, rq, p, nil, typed, err)
			return
		}
		h.redirect(w, r, rq, "/"+p.Slug+"/"+guid, tr(rq.lang, "flash.created"))
	}
}

func (h *Handler) update(p *folderPage) func(http.ResponseWriter, *http.Request, *request) {
	return func(w http.ResponseWriter, r *http.Request, rq *request) {
		it, err := h.item(rq, p.Folder, r.PathValue("guid"))
		if err != nil {
			h.fail(w, r, rq, err)
			return
		}
		typed, set, err := posted(p, r)
		if err == nil {
			version, verr := parseVersion(r.PostFormValue("version"))
			if verr != nil {
				err = verr
			} else {
				// The form was filled at version; saving it as version+1 is
				// refused if someone saved meanwhile (ECONFLICT).
				_, err = h.saveOne(rq, p.Folder, crmsync.Patch{GUID: it.GUID, Version: version + 1, Set: set}, crmsync.SaveOptions{DieOnItemConflict: true})
			}
		}
		if err != nil {
			h.formError(w, r, rq, p, it, typed, err)
			return
		}
		h.redirect(w, r, rq, "/"+p.Slug+"/"+it.GUID, tr(rq.lang, "flash.saved"))
	}
}

// saveOne saves one patch and returns its item's GUID; the item's own
// refusal is the error.
func (h *Handler) saveOne(rq *request, f crmsync.Folder, p crmsync.Patch, opts crmsync.SaveOptions) (string, error) {
	res, err := h.crm.Save(rq.ctx, f, []crmsync.Patch{p}, opts)
	if err != nil {
		return "", err
	}
	return res[0].GUID, res[0].Err
}

// parseVersion reads the form's item version: up to nine digits, no sign.
func parseVersion(s string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || len(s) > 9 {
		return 0, crmsync.Errorf(crmsync.EINVALID, "the form has no valid item version")
	}
	return int(n), nil
}

// formError shows the form again with what the user typed and what went
// wrong. On a version conflict it shows the values someone else saved and
// takes their version, so that saving again overwrites knowingly.
func (h *Handler) formError(w http.ResponseWriter, r *http.Request, rq *request, p *folderPage, it *crmsync.Item, typed map[string]string, err error) {
	if code := crmsync.ErrorCode(err); code == crmsync.EFORBIDDEN || code == crmsync.ENOTFOUND || code == crmsync.EUNAUTHORIZED || code == crmsync.EINTERNAL {
		h.fail(w, r, rq, err)
		return
	}
	cur := it
	if crmsync.ErrorCode(err) == crmsync.ECONFLICT && it != nil {
		if fresh, ferr := h.item(rq, p.Folder, it.GUID); ferr == nil {
			cur = fresh
		}
	}
	d, ferr := h.formFor(rq, p, cur, typed)
	if ferr != nil {
		h.fail(w, r, rq, ferr)
		return
	}
	msg := h.message(rq.lang, err)
	if crmsync.ErrorCode(err) == crmsync.ECONFLICT && cur != nil {
		d.Theirs = map[string]string{}
		for k, v := range formValues(p, cur) {
			if v != typed[k] {
				d.Theirs[k] = v
			}
		}
	}
	title := tr(rq.lang, "new."+p.Slug)
	if it != nil {
		title = it.Get(crmsync.FieldFileAs)
	}
	h.render(w, r, statusOf(err), "form", h.view(rq, p.Slug, &view{Title: title, Error: msg, Data: d}))
}

func (h *Handler) remove(p *folderPage) func(http.ResponseWriter, *http.Request, *request) {
	return func(w http.ResponseWriter, r *http.Request, rq *request) {
		g := r.PathValue("guid")
		if !crmsync.IsGUID(g) {
			h.fail(w, r, rq, crmsync.Errorf(crmsync.ENOTFOUND, "no such item"))
			return
		}
		if err := h.crm.Delete(rq.ctx, p.Folder, []string{g}); err != nil {
			h.fail(w, r, rq, err)
			return
		}
		h.redirect(w, r, rq, "/"+p.Slug, tr(rq.lang, "flash.deleted"))
	}
}

func (h *Handler) restore(p *folderPage) func(http.ResponseWriter, *http.Request, *request) {
	return func(w http.ResponseWriter, r *http.Request, rq *request) {
		g := r.PathValue("guid")
		if !crmsync.IsGUID(g) {
			h.fail(w, r, rq, crmsync.Errorf(crmsync.ENOTFOUND, "no such item"))
			return
		}
		if err := h.crm.Restore(rq.ctx, p.Folder, g); err != nil {
			h.fail(w, r, rq, err)
			return
		}
		h.redirect(w, r, rq, "/"+p.Slug+"/"+crmsync.NormalizeGUID(g), tr(rq.lang, "flash.restored"))
	}
}
