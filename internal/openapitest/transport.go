package openapitest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
)

// Transport is an http.RoundTripper that checks each exchange with the
// server at Base against Contract, and reports a mismatch to TB. Requests
// to other origins (an upstream provider's mock, a client's JWKS server)
// pass unchecked.
type Transport struct {
	Contract *Contract
	TB       testing.TB
	// Base is the broker's origin (scheme://host:port); "" checks every
	// request.
	Base string
	// Next sends the request; nil is http.DefaultTransport.
	Next http.RoundTripper
}

// Client is an http.Client whose requests to base are checked against c and
// reported to tb.
func Client(tb testing.TB, c *Contract, base string) *http.Client {
	return &http.Client{Transport: &Transport{Contract: c, TB: tb, Base: base}}
}

// RoundTrip sends req and checks it and its answer. The answer's body is
// read whole, and handed on unread.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	next := t.Next
	if next == nil {
		next = http.DefaultTransport
	}
	if !t.checks(req.URL) {
		return next.RoundTrip(req)
	}
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("openapitest: read the request body: %w", err)
		}
		// A RoundTripper must not modify the request: send a copy whose
		// body is the bytes read.
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	resp, err := next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if err != nil {
		return nil, fmt.Errorf("openapitest: read the response body: %w", err)
	}
	ex := Exchange{Request: req, Body: body, Status: resp.StatusCode, Header: resp.Header, ResponseBody: respBody}
	if err := t.Contract.Check(req.Context(), ex); err != nil {
		t.TB.Helper()
		t.TB.Errorf("openapi contract: %s %s -> %d: %v", req.Method, req.URL.RequestURI(), resp.StatusCode, err)
	}
	return resp, nil
}

func (t *Transport) checks(u *url.URL) bool {
	if t.Base == "" {
		return true
	}
	base, err := url.Parse(t.Base)
	return err == nil && base.Scheme == u.Scheme && base.Host == u.Host
}
