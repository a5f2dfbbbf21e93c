package outlook

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	crm "github.com/crmsync/crmsync"
)

// GraphError is a failure as Graph reports it: an HTTP status, Graph's
// error code and message, and for throttling the Retry-After delay. The
// Mailbox returns it so the sandbox can answer exactly as Graph would and
// the in-process replica fails the way the Graph client does.
type GraphError struct {
	Status  int
	Code    string
	Message string
	// Retry is the Retry-After delay of a 429 or 503; zero otherwise.
	Retry time.Duration
}

func (e *GraphError) Error() string {
	return fmt.Sprintf("graph %d %s: %s", e.Status, e.Code, e.Message)
}

// RetryAfter returns how long to wait before retrying, so callers that
// back off (engine, Graph client) can honour it without importing this
// package: they test for interface{ RetryAfter() time.Duration }.
func (e *GraphError) RetryAfter() time.Duration { return e.Retry }

// Temporary reports whether retrying the same request later may succeed.
func (e *GraphError) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// Graph error codes the mailbox uses. Outlook answers with its own
// "Error…" codes for item operations and Graph's camelCase ones elsewhere.
const (
	CodeItemNotFound         = "ErrorItemNotFound"
	CodeIrresolvableConflict = "ErrorIrresolvableConflict"
	CodeInvalidArgument      = "ErrorInvalidArgument"
	CodeInvalidProperty      = "ErrorInvalidProperty"
	CodeFolderExists         = "ErrorFolderExists"
	CodeTooLarge             = "ErrorRequestEntityTooLarge"
	CodeSyncStateNotFound    = "syncStateNotFound"
	CodeTooManyRequests      = "TooManyRequests"
	CodeMailboxConcurrency   = "MailboxConcurrency"
	CodeServiceUnavailable   = "ServiceUnavailable"
)

func errNotFound() error {
	return &GraphError{Status: http.StatusNotFound, Code: CodeItemNotFound,
		Message: "The specified object was not found in the store."}
}

func errConflict() error {
	return &GraphError{Status: http.StatusPreconditionFailed, Code: CodeIrresolvableConflict,
		Message: "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item."}
}

func errInvalid(format string, args ...any) error {
	return &GraphError{Status: http.StatusBadRequest, Code: CodeInvalidArgument, Message: fmt.Sprintf(format, args...)}
}

// DomainError translates a mailbox or Graph failure into the engine's
// error codes (engine.Result.Err): 404 → ENOTFOUND, 412 → EPRECONDITION,
// other 4xx → EINVALID (the item is refused, SPEC S8). Throttling, 5xx and
// anything else stay as they are: transient for the engine.
func DomainError(err error) error {
	var ge *GraphError
	if !errors.As(err, &ge) {
		return err
	}
	code := ""
	switch {
	case ge.Status == http.StatusNotFound:
		code = crm.ENOTFOUND
	case ge.Status == http.StatusPreconditionFailed:
		code = crm.EPRECONDITION
	case ge.Status == http.StatusForbidden:
		code = crm.EFORBIDDEN
	case ge.Status == http.StatusTooManyRequests || ge.Status >= 500:
		return err
	case ge.Status >= 400:
		code = crm.EINVALID
	default:
		return err
	}
	return &crm.Error{Code: code, Message: ge.Message, Err: err}
}
