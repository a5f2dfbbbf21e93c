package service

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/crmsync/crmsync"
)

// Directory implements crmsync.CRM: every user, for any signed-in caller
// (a session has one), so that clients can resolve OwnerGUID and
// CreatedByGUID to names. It carries what crmsync.User carries (never a
// password hash).
func (s *Service) Directory(ctx context.Context) ([]*crmsync.User, error) {
	var out []*crmsync.User
	err := s.read(ctx, func(ss *session) error {
		var err error
		out, err = ss.users()
		return err
	})
	return out, err
}

// DeleteUserSetting implements crmsync.CRM: the caller's own setting only.
func (s *Service) DeleteUserSetting(ctx context.Context, path, name string) error {
	return s.write(ctx, func(ss *session) error {
		if ss.c.user == nil {
			return crmsync.Errorf(crmsync.EUNAUTHORIZED, "user settings need a signed-in user")
		}
		return ss.tx.DeleteUserSetting(ss.c.guid(), path, name)
	})
}

// SaveEnumValue implements crmsync.CRM: administrators add or change a
// value of an enum type. A value given without a GUID is new; a system
// value keeps its type and IsSystem flag.
func (s *Service) SaveEnumValue(ctx context.Context, v crmsync.EnumValue) (crmsync.EnumValue, error) {
	if err := checkEnumType(v.EnumType); err != nil && v.GUID == "" {
		return crmsync.EnumValue{}, err
	}
	for _, t := range []string{v.En, v.Cs} {
		if !utf8.ValidString(t) || utf8.RuneCountInString(t) > 256 {
			return crmsync.EnumValue{}, crmsync.Errorf(crmsync.EINVALID, "enum value names must be valid UTF-8 of at most 256 characters")
		}
	}
	if v.Rank < 0 {
		return crmsync.EnumValue{}, crmsync.Errorf(crmsync.EINVALID, "enum value rank must not be negative, got %d", v.Rank)
	}
	err := s.write(ctx, func(ss *session) error {
		if err := ss.requireAdmin("save enum values"); err != nil {
			return err
		}
		if v.GUID == "" {
			if strings.TrimSpace(v.En) == "" {
				return crmsync.Errorf(crmsync.EINVALID, "a new enum value needs an English name (En)")
			}
			v.GUID, v.IsSystem = ss.s.newGUID(), false
			return ss.tx.PutEnumValue(v)
		}
		g, err := parseGUID(v.GUID)
		if err != nil {
			return err
		}
		old, err := ss.tx.EnumValue(g)
		if err != nil {
			return err
		}
		if old == nil {
			return crmsync.Errorf(crmsync.ENOTFOUND, "no enum value %s", g)
		}
		if v.EnumType != "" && v.EnumType != old.EnumType {
			return crmsync.Errorf(crmsync.EINVALID, "enum value %s belongs to %s, not %s", g, old.EnumType, v.EnumType)
		}
		v.GUID, v.EnumType, v.IsSystem = g, old.EnumType, old.IsSystem
		return ss.tx.PutEnumValue(v)
	})
	return v, err
}

// BaseChangeID implements crmsync.CRM: the lowest base id the change feed
// still answers. crmsync keeps its whole change log, so every base from 0
// on is answered.
func (s *Service) BaseChangeID(ctx context.Context) (int64, error) {
	return 0, s.read(ctx, func(ss *session) error { return nil })
}

// AdditionalFields implements crmsync.CRM; any signed-in caller (a session
// has one).
func (s *Service) AdditionalFields(ctx context.Context) ([]crmsync.AdditionalField, error) {
	var out []crmsync.AdditionalField
	err := s.read(ctx, func(ss *session) error {
		var err error
		out, err = ss.tx.AdditionalFields()
		return err
	})
	return out, err
}

// SaveAdditionalField implements crmsync.CRM: administrators define af_N
// of a folder.
func (s *Service) SaveAdditionalField(ctx context.Context, f crmsync.AdditionalField) error {
	if err := checkFolder(f.Folder); err != nil {
		return err
	}
	if f.FieldID < 1 || f.FieldID > 999999 {
		return crmsync.Errorf(crmsync.EINVALID, "additional field id must be from 1 to 999999, got %d", f.FieldID)
	}
	f.Name = strings.TrimSpace(f.Name)
	if f.Name == "" || !utf8.ValidString(f.Name) || utf8.RuneCountInString(f.Name) > 256 || !utf8.ValidString(f.Comment) || len(f.Comment) > maxTextLen {
		return crmsync.Errorf(crmsync.EINVALID, "additional field af_%d needs a name of 1 to 256 characters (and a comment of valid UTF-8)", f.FieldID)
	}
	return s.write(ctx, func(ss *session) error {
		if err := ss.requireAdmin("define additional fields"); err != nil {
			return err
		}
		return ss.tx.PutAdditionalField(f)
	})
}
