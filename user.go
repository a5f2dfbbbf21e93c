package crmsync

import (
	"context"
	"crypto/md5"
	"encoding/hex"
)

// User is a person who signs in to the CRM.
type User struct {
	GUID     string
	Name     string
	FullName string
	IsAdmin  bool // an administrator has every right on every module, but still not on others' private items
	Groups   []string
	// Disabled users cannot sign in; every session and sync of theirs is
	// refused from the next call on, the same check as PasswordStamp's.
	Disabled bool
	// PasswordStamp identifies the password this User signed in with;
	// Authenticate sets it. The service refuses a stamped User once that
	// password has changed, which ends every session built on it (API,
	// web UI, bearer tokens) at once and in every process.
	PasswordStamp string `json:"-"`
}

// PasswordMD5 is what Authenticate takes for a password: its lower-case
// hex MD5, as eWay clients send it.
func PasswordMD5(password string) string {
	sum := md5.Sum([]byte(password))
	return hex.EncodeToString(sum[:])
}

// Level says which items a right reaches.
type Level int

// Levels, lowest first, so that the highest of several groups is the max.
const (
	LevelNone    Level = iota
	LevelOwn           // items the user owns
	LevelRelated       // owned items and items linked to a company or contact the user owns
	LevelAll           // every item that is not someone else's private item
)

var levelNames = []string{"None", "Own", "Related", "All"}

func (l Level) String() string {
	if l < 0 || int(l) >= len(levelNames) {
		return "None"
	}
	return levelNames[l]
}

// ParseLevel parses a level name as String returns it (case-sensitive, as eWay).
func ParseLevel(s string) (Level, bool) {
	for i, n := range levelNames {
		if n == s {
			return Level(i), true
		}
	}
	return LevelNone, false
}

// Rights are a group's or a user's permissions on one module.
type Rights struct {
	Folder    Folder
	View      Level
	Edit      Level
	Delete    Level
	CanCreate bool
	CanExport bool
}

// Combine merges the rights a user has through several groups: the highest
// level wins, and so does CanCreate; for CanExport any "no" wins (as eWay).
// With no groups the result grants nothing.
func Combine(f Folder, granted []Rights) Rights {
	r := Rights{Folder: f}
	if len(granted) == 0 {
		return r
	}
	r.CanExport = true
	for _, g := range granted {
		r.View = max(r.View, g.View)
		r.Edit = max(r.Edit, g.Edit)
		r.Delete = max(r.Delete, g.Delete)
		r.CanCreate = r.CanCreate || g.CanCreate
		r.CanExport = r.CanExport && g.CanExport
	}
	return r
}

// FullRights are an administrator's rights on f.
func FullRights(f Folder) Rights {
	return Rights{Folder: f, View: LevelAll, Edit: LevelAll, Delete: LevelAll, CanCreate: true, CanExport: true}
}

// Reach tells whether an item is within a level for a user.
// related reports whether the item is linked to a company or contact the
// user owns; it is only called for LevelRelated.
func Reach(l Level, user string, it *Item, related func() bool) bool {
	if it.Private() && it.Owner() != user {
		return false
	}
	switch l {
	case LevelAll:
		return true
	case LevelRelated:
		return it.Owner() == user || related()
	case LevelOwn:
		return it.Owner() == user
	}
	return false
}

type userKey struct{}

type clientAddrKey struct{}

// WithClientAddr records the network address a request came from
// (http.Request.RemoteAddr: "host:port" or a bare host). Authenticate
// throttles failed sign-ins per address, so every adapter that signs users
// in sets it; sign-ins without one share a single address.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddrFrom returns the address WithClientAddr recorded, or "".
func ClientAddrFrom(ctx context.Context) string {
	a, _ := ctx.Value(clientAddrKey{}).(string)
	return a
}

// WithUser returns a context that carries the acting user.
func WithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the acting user of ctx, or nil.
func UserFrom(ctx context.Context) *User {
	u, _ := ctx.Value(userKey{}).(*User)
	return u
}
