package crmsync

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one eWay return code and one HTTP status in the
// adapters; the message of an *Error is safe to show to a user.
const (
	ECONFLICT     = "conflict"     // stale ItemVersion, changeKey or ETag
	EEXISTS       = "exists"       // the item was already created (rcItemAlreadyUploaded)
	EDUPLICATE    = "duplicate"    // duplicity check refused the item (rcDuplicateContact)
	EINVALID      = "invalid"      // malformed input
	ENOTFOUND     = "not_found"    // no such item, or not visible to the caller
	EFORBIDDEN    = "forbidden"    // the caller's rights do not allow it
	EUNAUTHORIZED = "unauthorized" // no or bad credentials or session
	EPRECONDITION = "precondition" // a required condition is not met (sync prerequisites, confirmations)
	EINTERNAL     = "internal"     // a bug or an infrastructure failure
)

// ErrThrottled is in the chain of Authenticate's error when it refused an
// attempt for earlier failures without checking the password, so that an
// adapter can say "try later" rather than "wrong password".
var ErrThrottled = errors.New("sign-in throttled")

// Error is the domain error: a machine code, a message for users and an
// optional operation and cause for logs.
type Error struct {
	Code    string
	Message string
	Op      string // the operation that failed, e.g. "SaveContact"
	Err     error  // the underlying cause, if any
}

func (e *Error) Error() string {
	s := e.Message
	if s == "" && e.Err != nil {
		s = e.Err.Error()
	}
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err: the message of its
// first *Error, or a generic text for internal errors, which must not leak.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "internal error"
}
