package service

import (
	"context"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/crmsync/crmsync"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/unicode/norm"
)

func (ss *session) requireAdmin(what string) error {
	if !ss.c.admin() {
		return crmsync.Errorf(crmsync.EFORBIDDEN, "only administrators may %s", what)
	}
	return nil
}

// checkName validates a user or group name: non-empty, trimmed, at most 100
// characters, no control characters.
func checkName(kind, name string) error {
	if name == "" || strings.TrimSpace(name) != name {
		return crmsync.Errorf(crmsync.EINVALID, "%s name %q must be non-empty and not start or end with spaces", kind, name)
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > 100 {
		return crmsync.Errorf(crmsync.EINVALID, "%s name must be valid UTF-8 of at most 100 characters", kind)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return crmsync.Errorf(crmsync.EINVALID, "%s name %q contains a control character", kind, name)
		}
	}
	return nil
}

func (s *Service) hash(password string) (string, error) {
	if password == "" {
		return "", crmsync.Errorf(crmsync.EINVALID, "empty password")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(crmsync.PasswordMD5(password)), s.cost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// AddUser implements crmsync.CRM: administrators or the system only;
// EEXISTS when the name is taken (case-insensitively).
func (s *Service) AddUser(ctx context.Context, name, password string, admin bool) (*crmsync.User, error) {
	name = norm.NFC.String(name)
	if err := checkUserName(name); err != nil {
		return nil, err
	}
	h, err := s.hash(password)
	if err != nil {
		return nil, err
	}
	var out *crmsync.User
	err = s.write(ctx, func(ss *session) error {
		if err := ss.requireAdmin("add users"); err != nil {
			return err
		}
		if u, err := ss.tx.UserByName(name); err != nil {
			return err
		} else if u != nil {
			return crmsync.Errorf(crmsync.EEXISTS, "user %s already exists", name)
		}
		u := &UserRecord{User: crmsync.User{GUID: s.newGUID(), Name: name, FullName: name, IsAdmin: admin}, PasswordHash: h}
		if err := ss.tx.PutUser(u); err != nil {
			return err
		}
		if admin {
			if err := ss.appendPermissionChange(u.GUID); err != nil {
				return err
			}
		}
		user := u.User
		out = &user
		return nil
	})
	return out, err
}

// SetPassword implements crmsync.CRM: administrators, the system, or users
// changing their own password. The old password stops working at once:
// its cached verifications go, and every User signed in with it (every
// session) is refused from the next call on (User.PasswordStamp).
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	h, err := s.hash(password)
	if err != nil {
		return err
	}
	var changed string
	defer func() {
		if changed != "" {
			s.forgetCredentials(changed)
		}
	}()
	return s.write(ctx, func(ss *session) error {
		u, err := ss.tx.UserByName(canonicalName(name))
		if err != nil {
			return err
		}
		if !ss.c.admin() && (u == nil || u.GUID != ss.c.guid()) {
			return crmsync.Errorf(crmsync.EFORBIDDEN, "only administrators may set other users' passwords")
		}
		if u == nil {
			return crmsync.Errorf(crmsync.ENOTFOUND, "no user %s", name)
		}
		u.PasswordHash = h
		changed = u.GUID
		return ss.tx.PutUser(u)
	})
}

// SetDisabled implements crmsync.CRM: administrators or the system only;
// ENOTFOUND for an unknown user. A disabled user's sign-ins are answered
// like a wrong password and every call of theirs (API, CardDAV, web and
// bearer sessions, sync runs) is refused from the next one on, as after a
// password change. Disabling the last enabled administrator is refused
// (EPRECONDITION), so that someone can always enable users again.
func (s *Service) SetDisabled(ctx context.Context, name string, disabled bool) error {
	changed := false
	err := s.write(ctx, func(ss *session) error {
		if err := ss.requireAdmin("disable or enable users"); err != nil {
			return err
		}
		u, err := ss.tx.UserByName(canonicalName(name))
		if err != nil {
			return err
		}
		if u == nil {
			return crmsync.Errorf(crmsync.ENOTFOUND, "no user %s", name)
		}
		if u.Disabled == disabled {
			return nil
		}
		if disabled && u.IsAdmin {
			if err := ss.keepAnAdmin(u.GUID); err != nil {
				return err
			}
		}
		u.Disabled = disabled
		if err := ss.tx.PutUser(u); err != nil {
			return err
		}
		changed = true
		return ss.appendPermissionChange(u.GUID)
	})
	if err == nil && changed {
		msg := "user enabled"
		if disabled {
			msg = "user disabled"
		}
		s.log.InfoContext(ctx, msg, "user", canonicalName(name))
	}
	return err
}

// keepAnAdmin refuses to disable the administrator guid when no other
// enabled administrator would be left.
func (ss *session) keepAnAdmin(guid string) error {
	us, err := ss.tx.Users()
	if err != nil {
		return err
	}
	for _, o := range us {
		if o.IsAdmin && !o.Disabled && o.GUID != guid {
			return nil
		}
	}
	return crmsync.Errorf(crmsync.EPRECONDITION, "cannot disable the last enabled administrator: make another user an administrator first")
}

// Users implements crmsync.CRM: administrators or the system only.
func (s *Service) Users(ctx context.Context) ([]*crmsync.User, error) {
	var out []*crmsync.User
	err := s.read(ctx, func(ss *session) error {
		if err := ss.requireAdmin("list users"); err != nil {
			return err
		}
		var err error
		out, err = ss.users()
		return err
	})
	return out, err
}

// users lists every user as crmsync.User, without the records' secrets.
func (ss *session) users() ([]*crmsync.User, error) {
	us, err := ss.tx.Users()
	if err != nil {
		return nil, err
	}
	out := make([]*crmsync.User, len(us))
	for i, u := range us {
		user := u.User
		out[i] = &user
	}
	return out, nil
}

// UserByName implements crmsync.CRM: administrators, the system, or users
// asking about themselves.
func (s *Service) UserByName(ctx context.Context, name string) (*crmsync.User, error) {
	var out *crmsync.User
	err := s.read(ctx, func(ss *session) error {
		u, err := ss.tx.UserByName(canonicalName(name))
		if err != nil {
			return err
		}
		if u == nil || (!ss.c.admin() && u.GUID != ss.c.guid()) {
			return crmsync.Errorf(crmsync.ENOTFOUND, "no user %s", name)
		}
		user := u.User
		out = &user
		return nil
	})
	return out, err
}

// SaveGroup implements crmsync.CRM: administrators or the system only.
// Folders must be valid and listed once; folders not listed get no rights.
func (s *Service) SaveGroup(ctx context.Context, name string, rights []crmsync.Rights) error {
	if err := checkName("group", name); err != nil {
		return err
	}
	seen := map[crmsync.Folder]bool{}
	for _, r := range rights {
		if err := checkFolder(r.Folder); err != nil {
			return err
		}
		if seen[r.Folder] {
			return crmsync.Errorf(crmsync.EINVALID, "folder %s listed twice", r.Folder)
		}
		seen[r.Folder] = true
		for _, l := range []crmsync.Level{r.View, r.Edit, r.Delete} {
			if l < crmsync.LevelNone || l > crmsync.LevelAll {
				return crmsync.Errorf(crmsync.EINVALID, "bad level %d for %s", l, r.Folder)
			}
		}
	}
	return s.write(ctx, func(ss *session) error {
		if err := ss.requireAdmin("change groups"); err != nil {
			return err
		}
		if err := ss.tx.PutGroup(name, rights); err != nil {
			return err
		}
		return ss.appendPermissionChange(groupKey(name))
	})
}

// Groups implements crmsync.CRM: administrators or the system only.
func (s *Service) Groups(ctx context.Context) (map[string][]crmsync.Rights, error) {
	var out map[string][]crmsync.Rights
	err := s.read(ctx, func(ss *session) error {
		if err := ss.requireAdmin("list groups"); err != nil {
			return err
		}
		var err error
		out, err = ss.tx.Groups()
		return err
	})
	return out, err
}

// AddToGroup implements crmsync.CRM: administrators or the system only;
// ENOTFOUND for an unknown user or group.
func (s *Service) AddToGroup(ctx context.Context, user, group string) error {
	return s.membership(ctx, user, group, true)
}

// RemoveFromGroup implements crmsync.CRM like AddToGroup.
func (s *Service) RemoveFromGroup(ctx context.Context, user, group string) error {
	return s.membership(ctx, user, group, false)
}

func (s *Service) membership(ctx context.Context, user, group string, add bool) error {
	return s.write(ctx, func(ss *session) error {
		if err := ss.requireAdmin("change group membership"); err != nil {
			return err
		}
		u, err := ss.tx.UserByName(canonicalName(user))
		if err != nil {
			return err
		}
		if u == nil {
			return crmsync.Errorf(crmsync.ENOTFOUND, "no user %s", user)
		}
		groups, err := ss.tx.Groups()
		if err != nil {
			return err
		}
		if _, ok := groups[group]; !ok {
			return crmsync.Errorf(crmsync.ENOTFOUND, "no group %s", group)
		}
		if add {
			err = ss.tx.AddMember(u.GUID, group)
		} else {
			err = ss.tx.RemoveMember(u.GUID, group)
		}
		if err != nil {
			return err
		}
		return ss.appendPermissionChange(u.GUID)
	})
}

// MyRights implements crmsync.CRM: the caller's effective rights per folder
// (full rights for administrators and the system).
func (s *Service) MyRights(ctx context.Context) ([]crmsync.Rights, error) {
	var out []crmsync.Rights
	err := s.read(ctx, func(ss *session) error {
		for _, f := range crmsync.Folders {
			out = append(out, ss.c.rights[f])
		}
		return nil
	})
	return out, err
}

// UserSettings implements crmsync.CRM; only users have settings
// (EUNAUTHORIZED for the system caller).
func (s *Service) UserSettings(ctx context.Context) ([]crmsync.Setting, error) {
	var out []crmsync.Setting
	err := s.read(ctx, func(ss *session) error {
		if ss.c.user == nil {
			return crmsync.Errorf(crmsync.EUNAUTHORIZED, "user settings need a signed-in user")
		}
		var err error
		out, err = ss.tx.UserSettings(ss.c.guid())
		return err
	})
	return out, err
}

// SaveUserSetting implements crmsync.CRM; the name must be non-empty.
func (s *Service) SaveUserSetting(ctx context.Context, st crmsync.Setting) error {
	if st.Name == "" {
		return crmsync.Errorf(crmsync.EINVALID, "setting without a name")
	}
	for _, v := range []string{st.Path, st.Name, st.Value} {
		if !utf8.ValidString(v) || len(v) > maxTextLen {
			return crmsync.Errorf(crmsync.EINVALID, "setting %s is not valid UTF-8 of at most %d bytes", st.Name, maxTextLen)
		}
	}
	return s.write(ctx, func(ss *session) error {
		if ss.c.user == nil {
			return crmsync.Errorf(crmsync.EUNAUTHORIZED, "user settings need a signed-in user")
		}
		return ss.tx.PutUserSetting(ss.c.guid(), st)
	})
}

// GlobalSettings implements crmsync.CRM; any signed-in caller may read them.
func (s *Service) GlobalSettings(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	err := s.read(ctx, func(ss *session) error {
		g, err := ss.tx.GlobalSettings()
		if err != nil {
			return err
		}
		for k, v := range crmsync.DefaultGlobalSettings {
			out[k] = v
		}
		for k, v := range g {
			out[k] = v
		}
		return nil
	})
	return out, err
}

// SetGlobalSetting implements crmsync.CRM: administrators or the system
// only. Known boolean settings accept only "true" or "false".
func (s *Service) SetGlobalSetting(ctx context.Context, name, value string) error {
	if err := checkName("setting", name); err != nil {
		return err
	}
	if !utf8.ValidString(value) || len(value) > maxTextLen {
		return crmsync.Errorf(crmsync.EINVALID, "value of %s is not valid UTF-8 of at most %d bytes", name, maxTextLen)
	}
	if def, known := crmsync.DefaultGlobalSettings[name]; known && (def == "true" || def == "false") {
		switch strings.ToLower(value) {
		case "true", "false":
			value = strings.ToLower(value)
		default:
			return crmsync.Errorf(crmsync.EINVALID, "setting %s must be true or false, not %q", name, value)
		}
	}
	return s.write(ctx, func(ss *session) error {
		if err := ss.requireAdmin("change global settings"); err != nil {
			return err
		}
		return ss.tx.PutGlobalSetting(name, value)
	})
}

func checkEnumType(t string) error {
	if slices.Contains(crmsync.EnumTypes, t) {
		return nil
	}
	return crmsync.Errorf(crmsync.EINVALID, "unknown enum type %q", t)
}

// EnumValues implements crmsync.CRM; any signed-in caller.
func (s *Service) EnumValues(ctx context.Context, enumType string) ([]crmsync.EnumValue, error) {
	if enumType != "" {
		if err := checkEnumType(enumType); err != nil {
			return nil, err
		}
	}
	var out []crmsync.EnumValue
	err := s.read(ctx, func(ss *session) error {
		var err error
		out, err = ss.tx.EnumValues(enumType)
		return err
	})
	return out, err
}

// EnsureEnumValue implements crmsync.CRM. Any signed-in caller may look a
// value up; adding one (the sync engine stores titles typed in Outlook)
// needs the right to create or edit items in some folder (EFORBIDDEN). A
// new value gets name as its English name and ranks last.
func (s *Service) EnsureEnumValue(ctx context.Context, enumType, name string) (crmsync.EnumValue, error) {
	if err := checkEnumType(enumType); err != nil {
		return crmsync.EnumValue{}, err
	}
	var out crmsync.EnumValue
	err := s.write(ctx, func(ss *session) error {
		var err error
		out, err = ss.ensureEnumValue(enumType, name, ss.mayWrite())
		return err
	})
	return out, err
}

// mayWrite reports whether the caller may write items in some folder; only
// such callers may add enum values.
func (ss *session) mayWrite() bool {
	for _, r := range ss.c.rights {
		if r.CanCreate || r.Edit > crmsync.LevelNone {
			return true
		}
	}
	return false
}

func (ss *session) ensureEnumValue(enumType, name string, mayCreate bool) (crmsync.EnumValue, error) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > 256 {
		return crmsync.EnumValue{}, crmsync.Errorf(crmsync.EINVALID, "enum value name must be valid UTF-8 of 1 to 256 characters")
	}
	vs, err := ss.tx.EnumValues(enumType)
	if err != nil {
		return crmsync.EnumValue{}, err
	}
	// "USA", "CZ" or "Czechia" is the built-in country, not a new value
	// beside it.
	if v, ok := crmsync.FindEnumValue(vs, enumType, name); ok {
		return v, nil
	}
	rank := 0
	for _, v := range vs {
		rank = max(rank, v.Rank)
	}
	if !mayCreate {
		return crmsync.EnumValue{}, crmsync.Errorf(crmsync.EFORBIDDEN, "no right to add the %s value %q", enumType, name)
	}
	v := crmsync.EnumValue{GUID: ss.s.newGUID(), EnumType: enumType, En: name, Rank: rank + 1}
	if err := ss.tx.PutEnumValue(v); err != nil {
		return crmsync.EnumValue{}, err
	}
	return v, nil
}
