package service_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/crmsync/crmsync"
	"github.com/crmsync/crmsync/service"
	"golang.org/x/crypto/bcrypt"
)

func fastService(t *testing.T) *service.Service {
	t.Helper()
	return service.New(newStore(t), service.Options{PasswordCost: bcrypt.MinCost, Logger: quiet})
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestUserNames: names are stored in NFC, and names made to pass for
// another one are refused with a reason, writing nothing.
func TestUserNames(t *testing.T) {
	svc := fastService(t)
	sys := crmsync.System(context.Background())
	u, err := svc.AddUser(sys, "Nova\u0301kova\u0301", "pw", false)
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "Nov\u00e1kov\u00e1" {
		t.Errorf("stored %q, want the NFC form", u.Name)
	}
	if _, err := svc.AddUser(sys, "Nov\u00e1kov\u00e1", "pw", false); crmsync.ErrorCode(err) != crmsync.EEXISTS {
		t.Errorf("the same name precomposed: %v, want EEXISTS", err)
	}
	for _, ok := range []string{"dave", "Ελένη", "Новак", "山田太郎", "jan.novak@example.com"} {
		if _, err := svc.AddUser(sys, ok, "pw", false); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	users, _ := svc.Users(sys)
	for _, c := range []struct{ name, says string }{
		{"\uff44\uff41\uff56\uff45", `use "dave"`}, // full-width
		{"d\u0430ve", "Latin and Cyrillic"},        // Cyrillic а
		{"\u03bflga", "Greek and Latin"},           // Greek ο
		{"al\u200bice", "invisible character"},     // zero-width space
		{"bob\u202e", "invisible character"},       // right-to-left override
		{"\ufb01ona", `use "fiona"`},               // ligature
	} {
		_, err := svc.AddUser(sys, c.name, "pw", false)
		if crmsync.ErrorCode(err) != crmsync.EINVALID || !strings.Contains(crmsync.ErrorMessage(err), c.says) {
			t.Errorf("%q: %v, want EINVALID saying %s", c.name, err, c.says)
		}
	}
	if after, _ := svc.Users(sys); len(after) != len(users) {
		t.Errorf("refused names wrote users: %d, then %d", len(users), len(after))
	}
}

// TestPasswordChangeEndsSignIns: a User from Authenticate is refused by
// every method once its password changes; one the system built (sync
// workers) is not.
func TestPasswordChangeEndsSignIns(t *testing.T) {
	svc := fastService(t)
	sys := crmsync.System(context.Background())
	if _, err := svc.AddUser(sys, "alice", "old", false); err != nil {
		t.Fatal(err)
	}
	signedIn, err := svc.Authenticate(context.Background(), "alice", crmsync.PasswordMD5("old"))
	if err != nil {
		t.Fatal(err)
	}
	built, err := svc.UserByName(sys, "alice")
	if err != nil {
		t.Fatal(err)
	}
	as := func(u *crmsync.User) error {
		_, err := svc.MyRights(crmsync.WithUser(context.Background(), u))
		return err
	}
	if err := as(signedIn); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetPassword(sys, "alice", "new"); err != nil {
		t.Fatal(err)
	}
	if err := as(signedIn); crmsync.ErrorCode(err) != crmsync.EUNAUTHORIZED {
		t.Errorf("signed in with the old password: %v, want EUNAUTHORIZED", err)
	}
	if err := as(built); err != nil {
		t.Errorf("system-built user: %v", err)
	}
	again, err := svc.Authenticate(context.Background(), "alice", crmsync.PasswordMD5("new"))
	if err != nil {
		t.Fatal(err)
	}
	if err := as(again); err != nil {
		t.Errorf("signed in with the new password: %v", err)
	}
}

// TestThrottledIsTold: adapters can tell a throttled attempt from a wrong
// password.
func TestThrottledIsTold(t *testing.T) {
	svc := service.New(newStore(t), service.Options{PasswordCost: bcrypt.MinCost, MaxFailuresPerAddress: 1, Logger: quiet})
	ctx := crmsync.WithClientAddr(context.Background(), "[2001:db8::1]:4000")
	if _, err := svc.Authenticate(ctx, "nobody", crmsync.PasswordMD5("x")); err == nil || errors.Is(err, crmsync.ErrThrottled) {
		t.Fatalf("first guess: %v", err)
	}
	// Another address of the same /64 is the same client.
	ctx = crmsync.WithClientAddr(context.Background(), "[2001:db8::2]:4000")
	if _, err := svc.Authenticate(ctx, "nobody", crmsync.PasswordMD5("x")); !errors.Is(err, crmsync.ErrThrottled) {
		t.Errorf("second guess from the same /64: %v, want throttled", err)
	}
}

// TestDisabledSignInIsLogged: a disabled user's right password is refused
// like a wrong one, and the log (never the client) says why.
func TestDisabledSignInIsLogged(t *testing.T) {
	var logs strings.Builder
	svc := service.New(newStore(t), service.Options{PasswordCost: bcrypt.MinCost, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	sys := crmsync.System(context.Background())
	if _, err := svc.AddUser(sys, "alice", "pw", false); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetDisabled(sys, "alice", true); err != nil {
		t.Fatal(err)
	}
	ctx := crmsync.WithClientAddr(context.Background(), "192.0.2.7:5000")
	if _, err := svc.Authenticate(ctx, "alice", crmsync.PasswordMD5("pw")); crmsync.ErrorCode(err) != crmsync.EUNAUTHORIZED {
		t.Fatalf("a disabled user signed in: %v", err)
	}
	if !strings.Contains(logs.String(), `msg="sign-in refused" user=alice addr=192.0.2.7 reason="user disabled"`) {
		t.Errorf("the refused sign-in is not logged with its reason:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), crmsync.PasswordMD5("pw")) {
		t.Error("the log holds the password hash sent")
	}
}
