package graph

import (
	"encoding/json"
	"fmt"
	"net/http"

	crm "github.com/crmsync/crmsync"
)

// graphError is Graph's error envelope. Key spellings differ between
// revisions of the docs (innerError / innererror), so only the stable top
// level is decoded.
type graphError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// errorText renders an error body for logs and messages: "code: message"
// when it is Graph's envelope, the start of the body otherwise.
func errorText(body []byte) string {
	var e graphError
	if json.Unmarshal(body, &e) == nil && (e.Error.Code != "" || e.Error.Message != "") {
		return e.Error.Code + ": " + e.Error.Message
	}
	if len(body) > 200 {
		body = body[:200]
	}
	return string(body)
}

// statusError maps a failed Graph answer to the codes the engine branches on
// (engine.Result): 412 → EPRECONDITION (stale changeKey), 404 → ENOTFOUND,
// 400/413/422 → EINVALID and 403 → EFORBIDDEN (the item is refused: skip
// it), 401 → EUNAUTHORIZED; anything else is a plain, transient error.
func statusError(op string, status int, body []byte) error {
	msg := errorText(body)
	switch status {
	case http.StatusPreconditionFailed, http.StatusConflict:
		return &crm.Error{Code: crm.EPRECONDITION, Op: op, Message: "the Outlook contact changed since it was read: " + msg}
	case http.StatusNotFound, http.StatusGone:
		return &crm.Error{Code: crm.ENOTFOUND, Op: op, Message: "the Outlook contact no longer exists"}
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return &crm.Error{Code: crm.EINVALID, Op: op, Message: "Outlook refused the contact: " + msg}
	case http.StatusForbidden:
		return &crm.Error{Code: crm.EFORBIDDEN, Op: op, Message: "Outlook does not allow this: " + msg}
	case http.StatusUnauthorized:
		return &crm.Error{Code: crm.EUNAUTHORIZED, Op: op, Message: "Microsoft 365 refused the access token; sign in again with crmsync outlook connect"}
	}
	return fmt.Errorf("%s: graph answered %d: %s", op, status, msg)
}
