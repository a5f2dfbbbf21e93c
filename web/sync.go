package web

import "net/http"

// Sync is the sync engine's side of the My Contacts tab.
type Sync interface{}

// marking is the manual-mode state of the signed-in user's contacts.
type marking struct {
	Marked map[string]bool
}

func (h *Handler) marking(rq *request) *marking { return nil }

func (h *Handler) firstSyncWaits(rq *request) bool { return false }

func (h *Handler) syncRoutes(m *http.ServeMux) {}
