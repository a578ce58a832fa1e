package openapitest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/bridgekeeper/bridgekeeper/api"
)

// Contract is a loaded, validated OpenAPI document and its router. It is
// read-only once loaded and safe for concurrent use.
type Contract struct {
	doc    *openapi3.T
	router routers.Router
	// restOfPath are the segment counts of the paths whose last parameter
	// is the rest of the path (x-bridgekeeper-rest-of-path): its value may
	// hold unescaped slashes, which OpenAPI's templates cannot say.
	restOfPath []int
	bodies     bodySchemas
}

// Load parses and validates an OpenAPI document and builds its router.
func Load(data []byte) (*Contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load the OpenAPI document: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("validate the OpenAPI document: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route the OpenAPI document: %w", err)
	}
	bodies, err := compileBodies(doc)
	if err != nil {
		return nil, fmt.Errorf("compile the OpenAPI document's body schemas: %w", err)
	}
	return &Contract{doc: doc, router: router, restOfPath: restOfPathSegments(doc), bodies: bodies}, nil
}

// restOfPathExtension marks a path's last parameter as the rest of the
// path, slashes included.
const restOfPathExtension = "x-bridgekeeper-rest-of-path"

func restOfPathSegments(doc *openapi3.T) []int {
	var counts []int
	for path, item := range doc.Paths.Map() {
		params := slices.Clone(item.Parameters)
		for _, op := range item.Operations() {
			params = append(params, op.Parameters...)
		}
		last := path[strings.LastIndex(path, "/")+1:]
		for _, p := range params {
			if p.Value != nil && p.Value.In == openapi3.ParameterInPath && "{"+p.Value.Name+"}" == last &&
				p.Value.Extensions[restOfPathExtension] == true {
				counts = append(counts, strings.Count(path, "/"))
				break
			}
		}
	}
	return counts
}

// findRoute routes req; a path longer than a rest-of-path template is
// routed again with its tail escaped as that one last segment.
func (c *Contract) findRoute(req *http.Request) (*routers.Route, map[string]string, error) {
	route, params, err := c.router.FindRoute(req)
	if !errors.Is(err, routers.ErrPathNotFound) {
		return route, params, err
	}
	segments := strings.Split(req.URL.EscapedPath(), "/")
	for _, n := range c.restOfPath {
		if len(segments) <= n+1 {
			continue
		}
		joined := strings.Join(append(slices.Clone(segments[:n]), strings.Join(segments[n:], "%2F")), "/")
		retry := req.Clone(req.Context())
		retry.URL.RawPath = joined
		if r, p, err := c.router.FindRoute(retry); err == nil && strings.Count(r.Path, "/") == n {
			return r, p, nil
		}
	}
	return route, params, err
}

// loadDefault loads api.Document once per test binary: every fixture of a
// package shares it, and loading is the expensive part.
var loadDefault = sync.OnceValues(func() (*Contract, error) { return Load(api.Document) })

// Default is the contract of api.Document, the broker's own.
func Default() (*Contract, error) { return loadDefault() }

// Exchange is one request and the answer it got, as the wire carried them.
type Exchange struct {
	// Request is the request line and headers; its Body is not read.
	Request *http.Request
	// Body is the request's body as sent; Check decodes a gzip one.
	Body []byte
	// BodyUnread is set when the body could not be read whole: the server
	// answered and closed the connection before it was sent (a body
	// refused by its Content-Length). The body is then not checked.
	BodyUnread bool

	Status       int
	Header       http.Header
	ResponseBody []byte
}

// Check reports how ex departs from the contract, nil when it does not.
//
// The answer is always checked: its status must be documented for the
// operation, and its headers and body must match. The request is checked
// too, but a request outside the contract is not in itself a mismatch:
// tests send malformed requests on purpose. What the contract forbids is
// that the broker accepts one: a request outside the document must be
// refused, with a 4xx status or, on a redirect, an RFC 6749 §4.1.2.1
// error. A request to a path or method the document does not know must
// get the router's own refusal (unrouted), so that an endpoint missing
// from the document cannot pass unnoticed.
func (c *Contract) Check(ctx context.Context, ex Exchange) error {
	req, body, reqErr := requestForCheck(ctx, ex)
	route, params, err := c.findRoute(req)
	switch {
	case errors.Is(err, routers.ErrPathNotFound), errors.Is(err, routers.ErrMethodNotAllowed):
		if unrouted(ex) {
			return nil
		}
		return fmt.Errorf("the document has no operation %s %s, yet it was answered %d", ex.Request.Method, ex.Request.URL.EscapedPath(), ex.Status)
	case err != nil:
		return fmt.Errorf("route the request: %w", err)
	}
	op := route.Operation
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: c.options()}
	if reqErr == nil {
		reqErr = openapi3filter.ValidateRequest(ctx, in)
		if rb := op.RequestBody; rb != nil && rb.Value != nil && !ex.BodyUnread {
			reqErr = errors.Join(reqErr, c.bodies.checkBody(bodyKey(req.Method, route.Path, "request"),
				rb.Value.Content, req.Header.Get("Content-Type"), body, rb.Value.Required))
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: ex.Status, Header: ex.Header, Options: c.options()}
	out.SetBodyBytes(ex.ResponseBody)
	respErr := openapi3filter.ValidateResponse(ctx, out)
	if respErr == nil && op.Responses != nil {
		if resp := op.Responses.Status(ex.Status); resp != nil && resp.Value != nil {
			respErr = c.bodies.checkBody(bodyKey(req.Method, route.Path, strconv.Itoa(ex.Status)),
				resp.Value.Content, ex.Header.Get("Content-Type"), ex.ResponseBody, true)
		}
	}
	var errs []error
	if respErr != nil {
		errs = append(errs, fmt.Errorf("the answer: %s", describe(respErr)))
	}
	if reqErr != nil && !refused(ex) {
		errs = append(errs, fmt.Errorf("a request outside the document was accepted: %s", describe(reqErr)))
	}
	return errors.Join(errs...)
}

// options are the validator's settings for one exchange: every error at
// once, undocumented statuses refused, defaults never written into the
// request, bodies left to bodies.go, and credentials checked only for
// their presence (whether they are good is the broker's to say, and a
// refusal is documented).
func (c *Contract) options() *openapi3filter.Options {
	o := &openapi3filter.Options{
		MultiError: true, IncludeResponseStatus: true, SkipSettingDefaults: true,
		ExcludeRequestBody: true, ExcludeResponseBody: true, // bodies.go
		AuthenticationFunc: credentialsPresent,
	}
	o.WithCustomSchemaErrorFunc(func(e *openapi3.SchemaError) string { return schemaReason(e.Reason) })
	return o
}

// schemaReason is a JSON Schema 2020-12 validator's reason on one line:
// its indented list of failures, each of which names the value's place,
// without the heading that names a placeholder schema URL.
func schemaReason(reason string) string {
	var parts []string
	for _, line := range strings.Split(reason, "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "- ")
		if line != "" && !strings.HasPrefix(line, "jsonschema validation failed") {
			parts = append(parts, line)
		}
	}
	if len(parts) == 0 {
		return reason
	}
	return strings.Join(parts, "; ")
}

// requestForCheck is ex's request, and its body as the document describes
// it: a gzip body (GS2's SDKs send them) decoded. A body that does not
// decode puts the request outside the document.
func requestForCheck(ctx context.Context, ex Exchange) (*http.Request, []byte, error) {
	req := ex.Request.Clone(ctx)
	body := ex.Body
	var err error
	switch enc := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding"))); enc {
	case "gzip", "x-gzip":
		body, err = gunzip(body)
		req.Header.Del("Content-Encoding")
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	return req, body, err
}

func gunzip(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("the gzip body: %w", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("the gzip body: %w", err)
	}
	return out, nil
}

// credentialsPresent is the security check: the request carries the
// credentials of the scheme (an Authorization header of its HTTP scheme, or
// its API-key header or cookie).
func credentialsPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s, r := in.SecurityScheme, in.RequestValidationInput.Request
	switch s.Type {
	case "http":
		scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, s.Scheme) || strings.TrimSpace(cred) == "" {
			return fmt.Errorf("no %s Authorization", s.Scheme)
		}
	case "apiKey":
		present := false
		switch s.In {
		case "header":
			present = r.Header.Get(s.Name) != ""
		case "query":
			present = r.URL.Query().Get(s.Name) != ""
		case "cookie":
			_, err := r.Cookie(s.Name)
			present = err == nil
		}
		if !present {
			return fmt.Errorf("no %s %s", s.In, s.Name)
		}
	default:
		if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); !strings.EqualFold(scheme, "Bearer") {
			return errors.New("no Bearer Authorization")
		}
	}
	return nil
}

// refused reports whether the broker refused the request: a 4xx, or a
// redirect that carries an RFC 6749 §4.1.2.1 error to the client.
func refused(ex Exchange) bool {
	switch {
	case ex.Status >= 400 && ex.Status < 500:
		return true
	case ex.Status >= 300 && ex.Status < 400:
		u, err := url.Parse(ex.Header.Get("Location"))
		return err == nil && u.Query().Get("error") != ""
	}
	return false
}

// unrouted reports whether ex is the router's own refusal of a request no
// route serves: the OAuth2-style 404 not_found and 405
// method_not_allowed, the admin listener's 404 not_found for any other
// /admin/v1/ call, GS2's 404 for any other /gs2/ call, and the 400 for a
// path not in its clean form. Nothing else may answer a request the
// document does not know.
func unrouted(ex Exchange) bool {
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Message     string `json:"message"`
	}
	if json.Unmarshal(ex.ResponseBody, &body) != nil {
		return false
	}
	switch ex.Status {
	case http.StatusNotFound:
		return body.Error == "not_found" && body.Description == "no such endpoint" ||
			body.Error == "not_found" && body.Description == "no such admin API call" &&
				strings.HasPrefix(ex.Request.URL.Path, "/admin/v1/") ||
			strings.Contains(body.Message, `"code":"api.path.notFound"`)
	case http.StatusMethodNotAllowed:
		return body.Error == "method_not_allowed"
	case http.StatusBadRequest:
		return body.Error == "invalid_request" && body.Description == "the path is not in canonical form" ||
			strings.Contains(body.Message, `"code":"api.path.invalid"`)
	}
	return false
}

// describe is err without the schemas and values kin-openapi appends to
// its messages: each failure on one line.
func describe(err error) string {
	switch e := err.(type) {
	case openapi3.MultiError:
		lines := make([]string, 0, len(e))
		for _, err := range e {
			lines = append(lines, describe(err))
		}
		return strings.Join(lines, "; ")
	case *openapi3filter.RequestError:
		prefix := e.Reason
		switch {
		case e.Parameter != nil:
			prefix = prefixed(e.Parameter.In+" parameter "+e.Parameter.Name, prefix)
		case e.RequestBody != nil:
			prefix = prefixed("body", prefix)
		}
		if e.Err == nil {
			return prefix
		}
		return prefixed(prefix, describe(e.Err))
	case *openapi3filter.ResponseError:
		if e.Err == nil {
			return e.Reason
		}
		return prefixed(e.Reason, describe(e.Err))
	case *openapi3filter.SecurityRequirementsError:
		return "security: " + e.Error()
	case interface{ Unwrap() []error }:
		lines := []string{}
		for _, err := range e.Unwrap() {
			lines = append(lines, describe(err))
		}
		return strings.Join(lines, "; ")
	}
	return err.Error()
}

func prefixed(prefix, s string) string {
	if prefix == "" {
		return s
	}
	return prefix + ": " + s
}

// Version is the document's openapi field.
func (c *Contract) Version() string { return c.doc.OpenAPI }
