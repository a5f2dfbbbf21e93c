package sandbox

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
)

// MaxBatch is the most requests one $batch may hold.
const MaxBatch = 20

// batchParallel is how many requests of one batch Outlook runs at once.
const batchParallel = 4

type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      json.RawMessage   `json:"body,omitempty"`
	DependsOn []string          `json:"dependsOn,omitempty"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body"`
}

// batch serves POST /$batch: up to 20 requests, each counted and limited
// as a request of its own, at most 4 running at once, dependsOn honoured
// (a failed dependency gives 424).
func (s *Server) batch(req *request) response {
	if req.method != http.MethodPost {
		return methodNotAllowed()
	}
	var payload struct {
		Requests []batchRequest `json:"requests"`
	}
	if err := json.Unmarshal(req.body, &payload); err != nil || payload.Requests == nil {
		return s.errorResponse(http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
	}
	reqs := payload.Requests
	if len(reqs) > MaxBatch {
		return s.errorResponse(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Number of batch request steps exceeds the maximum of %d.", MaxBatch))
	}
	if len(reqs) == 0 {
		return s.errorResponse(http.StatusBadRequest, "BadRequest", "The batch holds no requests.")
	}
	index := map[string]int{}
	for i, r := range reqs {
		if r.ID == "" || r.Method == "" || r.URL == "" {
			return s.errorResponse(http.StatusBadRequest, "BadRequest", "Each batch request needs an id, a method and a url.")
		}
		if _, dup := index[r.ID]; dup {
			return s.errorResponse(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Batch request id '%s' is not unique.", r.ID))
		}
		index[r.ID] = i
	}
	for _, r := range reqs {
		for _, d := range r.DependsOn {
			if _, ok := index[d]; !ok || d == r.ID {
				return s.errorResponse(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Request '%s' depends on unknown request '%s'.", r.ID, d))
			}
		}
	}
	if hasCycle(reqs, index) {
		return s.errorResponse(http.StatusBadRequest, "BadRequest", "The dependsOn chain of the batch has a cycle.")
	}

	s.stats.items.Add(int64(len(reqs)))
	results := make([]batchResponse, len(reqs))
	done := make([]chan struct{}, len(reqs))
	for i := range done {
		done[i] = make(chan struct{})
	}
	var drop atomic.Bool
	sem := make(chan struct{}, batchParallel)
	var wg sync.WaitGroup
	// A chain (each request depending on the one before, as clients
	// send to stay within the mailbox's concurrency) runs in one
	// goroutine, without a hand-off per step.
	chain := true
	for i, r := range reqs[1:] {
		chain = chain && len(r.DependsOn) == 1 && r.DependsOn[0] == reqs[i].ID
	}
	step := func(i int) {
		br := reqs[i]
		defer wg.Done()
		defer close(done[i])
		failed := ""
		for _, d := range br.DependsOn {
			j := index[d]
			<-done[j]
			if results[j].Status >= 400 {
				failed = d
			}
		}
		if failed != "" {
			res := s.errorResponse(http.StatusFailedDependency, "FailedDependency",
				fmt.Sprintf("The request depends on request '%s', which failed.", failed))
			results[i] = toBatchResponse(br.ID, res)
			return
		}
		sem <- struct{}{}
		defer func() { <-sem }()
		inner, err := s.innerRequest(req, br)
		if err != nil {
			results[i] = toBatchResponse(br.ID, s.errorResponse(http.StatusBadRequest, "BadRequest", err.Error()))
			return
		}
		res := s.limited(inner, s.opt.BatchItemLatency)
		if res.drop {
			drop.Store(true)
			res = s.errorResponse(http.StatusServiceUnavailable, "ServiceUnavailable", "dropped")
		}
		results[i] = toBatchResponse(br.ID, res)
	}
	for i := range reqs {
		wg.Add(1)
		if chain {
			step(i)
		} else {
			go step(i)
		}
	}
	wg.Wait()
	if drop.Load() {
		return response{drop: true}
	}
	return jsonResponse(http.StatusOK, encodeResponses(results))
}

// encodeResponses writes the $batch answer by hand: json.Marshal would
// check and compact again every inner body, JSON this server rendered.
func encodeResponses(results []batchResponse) json.RawMessage {
	size := 16
	for _, r := range results {
		size += len(r.Body) + 256
	}
	b := append(make([]byte, 0, size), `{"responses":[`...)
	for i, r := range results {
		if i > 0 {
			b = append(b, ',')
		}
		head, _ := json.Marshal(batchResponse{ID: r.ID, Status: r.Status, Headers: r.Headers})
		b = append(b, head[:len(head)-len(`null}`)]...) // ends in "body":null}
		b = append(b, r.Body...)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// innerRequest turns a batch step into a call; the URL is relative to
// /v1.0, and a non-JSON body travels base64-encoded.
func (s *Server) innerRequest(outer *request, br batchRequest) (*request, error) {
	raw := br.URL
	if strings.HasPrefix(raw, "http://") || strings.HasPrefix(raw, "https://") {
		return nil, fmt.Errorf("batch request '%s': the url must be relative", br.ID)
	}
	raw = "/" + strings.TrimPrefix(raw, "/")
	raw = strings.TrimPrefix(raw, "/v1.0")
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("batch request '%s': bad url: %v", br.ID, err)
	}
	h := http.Header{}
	for k, v := range br.Headers {
		h.Set(k, v)
	}
	// Prefer applies to the whole batch when the outer request sets it.
	if h.Get("Prefer") == "" {
		for _, v := range outer.header.Values("Prefer") {
			h.Add("Prefer", v)
		}
	}
	var body []byte
	if len(br.Body) > 0 && string(br.Body) != "null" {
		if len(br.Headers) == 0 || h.Get("Content-Type") == "" {
			return nil, fmt.Errorf("batch request '%s' has a body but no Content-Type header", br.ID)
		}
		ct := strings.ToLower(h.Get("Content-Type"))
		if strings.Contains(ct, "json") {
			body = br.Body
		} else {
			var s string
			if err := json.Unmarshal(br.Body, &s); err != nil {
				return nil, fmt.Errorf("batch request '%s': a %s body must be a base64 string", br.ID, ct)
			}
			if body, err = b64(s); err != nil {
				return nil, fmt.Errorf("batch request '%s': bad base64 body", br.ID)
			}
		}
	}
	return &request{ctx: outer.ctx, method: strings.ToUpper(br.Method), path: u.Path, query: u.Query(), header: h, body: body, base: outer.base}, nil
}

func toBatchResponse(id string, res response) batchResponse {
	br := batchResponse{ID: id, Status: res.status, Headers: map[string]string{}}
	if br.Status == 0 {
		br.Status = http.StatusOK
	}
	for k := range res.header {
		br.Headers[k] = res.header.Get(k)
	}
	switch {
	case len(res.body) == 0:
		br.Body = json.RawMessage("null")
	case strings.Contains(res.header.Get("Content-Type"), "json"): // rendered here: valid
		br.Body = json.RawMessage(res.body)
	default:
		b, _ := json.Marshal(base64.StdEncoding.EncodeToString(res.body))
		br.Body = b
	}
	if len(br.Headers) == 0 {
		br.Headers = nil
	}
	return br
}

func hasCycle(reqs []batchRequest, index map[string]int) bool {
	state := make([]int, len(reqs)) // 0 new, 1 visiting, 2 done
	var visit func(i int) bool
	visit = func(i int) bool {
		if state[i] == 1 {
			return true
		}
		if state[i] == 2 {
			return false
		}
		state[i] = 1
		for _, d := range reqs[i].DependsOn {
			if visit(index[d]) {
				return true
			}
		}
		state[i] = 2
		return false
	}
	for i := range reqs {
		if visit(i) {
			return true
		}
	}
	return false
}
