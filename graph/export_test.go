package graph

import (
	"context"
	"net/http"
)

// Test hooks into the transport, which has no exported surface of its own.

var ErrUnknownOutcome = errUnknownOutcome

// RawDo sends one request through the client's limits and retries.
func (cl *Client) RawDo(ctx context.Context, method, url string, body []byte, safe bool) (int, []byte, error) {
	r, err := cl.do(ctx, call{method: method, url: url, body: body, safe: safe})
	if err != nil {
		return 0, nil, err
	}
	return r.status, r.body, nil
}

// BatchResult is one sub-request's outcome, for tests.
type BatchResult struct {
	Status int
	Body   []byte
	Err    error
}

// RawBatch sends single-request units through $batch.
func (cl *Client) RawBatch(ctx context.Context, methods, urls []string, safe bool) ([]BatchResult, error) {
	units := make([]unit, len(urls))
	for i := range urls {
		units[i] = unit{{method: methods[i], url: urls[i], safe: safe}}
	}
	res, err := cl.batch(ctx, units)
	if err != nil {
		return nil, err
	}
	out := make([]BatchResult, len(res))
	for i, r := range res {
		out[i] = BatchResult{r[0].status, r[0].body, r[0].err}
	}
	return out, nil
}

// PreparePhoto exposes the photo preparation.
func PreparePhoto(b []byte, max int) ([]byte, string, error) { return preparePhoto(b, max) }

// PayloadProperties lists the properties the client may send in a contact
// body.
func PayloadProperties() []string {
	return append(append([]string(nil), mappedProperties...), "displayName", "singleValueExtendedProperties")
}

var _ = http.MethodGet
