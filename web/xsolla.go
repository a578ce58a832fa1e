package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/xsolla"
)

// The Xsolla-style surface: POST /users/login/server_custom_id (Xsolla
// Login's server-side custom-ID login, on top of the server_custom_id grant's
// users) and GET /users/{userId}/attributes. The caller is a game server
// with a client_credentials token of a client allowed server_custom_id.
// Errors are {"code", "description"[, "field"]}.

// xsollaMaxBody bounds a login body: a few attributes, never megabytes.
const xsollaMaxBody = 64 << 10

// maxPayloadLen bounds the payload query parameter (Xsolla recommends
// under 500 characters).
const maxPayloadLen = 2048

// xsollaError is a refusal on the Xsolla surface.
type xsollaError struct {
	status            int
	code, description string
	field             string
}

func (e *xsollaError) Error() string { return e.code + ": " + e.description }

func xsollaRefuse(status int, code, description string) *xsollaError {
	return &xsollaError{status: status, code: code, description: description}
}

// writeXsollaError is the one writer of Xsolla-surface errors: an
// xsollaError as it is, a refusal by its kind, anything else logged once
// and answered as a 500 without detail.
func (s *Server) writeXsollaError(w http.ResponseWriter, r *http.Request, err error) {
	var xe *xsollaError
	e := broker.Refusal(err)
	if e == nil {
		e = &broker.Error{Description: "the request was refused"} // a store sentinel
	}
	switch kind := broker.KindOf(err); {
	case errors.As(err, &xe):
	case kind == broker.KindRateLimited:
		xe = xsollaRefuse(http.StatusTooManyRequests, "rate_limited", "too many requests; retry after the Retry-After seconds")
	case kind == broker.KindUnavailable:
		s.log.WarnContext(r.Context(), "unavailable", "route", routeName(r), "err", err)
		xe = xsollaRefuse(http.StatusServiceUnavailable, "temporarily_unavailable", "the service is briefly unavailable; retry")
	case errors.Is(err, xsolla.ErrSocialLinked):
		xe = &xsollaError{status: http.StatusConflict, code: "social_profile_linked", description: e.Description, field: e.Field}
	case errors.Is(err, broker.ErrBanned):
		xe = xsollaRefuse(http.StatusForbidden, "user_banned", "the user is banned")
	case kind == broker.KindInvalid && e.Field != "":
		xe = &xsollaError{status: http.StatusUnprocessableEntity, code: "invalid_field", description: e.Field + ": " + e.Description, field: e.Field}
	case kind == broker.KindNotFound:
		xe = xsollaRefuse(http.StatusNotFound, "user_not_found", "no such user in this project")
	case kind == broker.KindInternal:
		s.log.ErrorContext(r.Context(), "internal error", "route", routeName(r), "err", err)
		xe = xsollaRefuse(http.StatusInternalServerError, "internal_error", "internal error")
	default:
		xe = xsollaRefuse(http.StatusBadRequest, "invalid_request", e.Description)
	}
	if xe.status == http.StatusUnauthorized {
		// RFC 6750 §3.1: no error code when no credentials were sent.
		challenge := `Bearer realm="bridgekeeper"`
		if r.Header.Get("Authorization") != "" {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	setRetryAfter(w, xe.status, err)
	body := map[string]string{"code": xe.code, "description": xe.description}
	if xe.field != "" {
		body["field"] = xe.field
	}
	writeJSON(w, xe.status, body)
}

// xsollaServer authenticates the game server: a client_credentials access
// token of a confidential client allowed the server_custom_id grant, held
// to the client's rate.
func (s *Server) xsollaServer(r *http.Request) (broker.Client, error) {
	c, err := s.pipeline.Server(r.Context(), s.bearerCaller(r), broker.GrantServerCustomID)
	switch broker.KindOf(err) {
	case broker.KindUnauthenticated, broker.KindForbidden:
		s.log.DebugContext(r.Context(), "xsolla server token refused", "err", err)
		return c, xsollaRefuse(http.StatusUnauthorized, "unauthorized",
			"a Bearer client_credentials token of a client allowed the server_custom_id grant is required")
	}
	return c, err
}

// xsollaProject resolves projectId (the namespace's UUID) or, without it,
// publisher_project_id (configured), to the namespace, which must be the
// calling client's.
func (s *Server) xsollaProject(r *http.Request, c broker.Client) error {
	q := r.URL.Query()
	notFound := xsollaRefuse(http.StatusNotFound, "project_not_found", "no such project")
	var ns broker.Namespace
	var err error
	switch id, pub := q.Get("projectId"), q.Get("publisher_project_id"); {
	case id != "":
		// Any spelling of the UUID ({...}, urn:uuid:, no dashes, upper
		// case) names the project; the stored form is the canonical one.
		u, perr := uuid.Parse(id)
		if perr != nil {
			return &xsollaError{status: http.StatusBadRequest, code: "invalid_request", description: "projectId must be a UUID", field: "projectId"}
		}
		ns, err = s.broker.Namespace(r.Context(), u.String())
	case pub != "":
		n, perr := strconv.ParseInt(pub, 10, 64)
		if perr != nil {
			return &xsollaError{status: http.StatusBadRequest, code: "invalid_request", description: "publisher_project_id must be an integer", field: "publisher_project_id"}
		}
		name, ok := s.publisherProjects[n]
		if !ok {
			return notFound
		}
		ns, err = s.broker.NamespaceByName(r.Context(), name)
	default:
		return &xsollaError{status: http.StatusBadRequest, code: "invalid_request", description: "projectId or publisher_project_id is required", field: "projectId"}
	}
	switch {
	case errors.Is(err, broker.ErrNotFound):
		return notFound
	case err != nil:
		return err
	case ns.ID != c.NamespaceID:
		return xsollaRefuse(http.StatusUnauthorized, "unauthorized", "the client is not a server of this project")
	}
	return nil
}

// customIDBody is the JSON body. Pointers tell absent from empty; the
// value of an attribute is any JSON.
type customIDBody struct {
	ServerCustomID *string `json:"server_custom_id"`
	Attributes     []struct {
		Key        *string         `json:"key"`
		Value      json.RawMessage `json:"value"`
		Type       *string         `json:"attr_type"`
		Permission *string         `json:"permission"`
		ReadOnly   bool            `json:"read_only"`
	} `json:"attributes"`
	SocialProfile *struct {
		UserID   *string `json:"user_id"`
		Platform *string `json:"platform"`
	} `json:"social_profile"`
	UserProfile *struct {
		Nickname *string `json:"nickname"`
	} `json:"user_profile"`
}

// typeError is the member of a body that err found of the wrong type, named
// as encoding/json named it (attributes.key: names joined by dots, without
// array indices), and the JSON type it has.
func typeError(err error) (field, kind string, ok bool) {
	var se *jsonv2.SemanticError
	if !errors.As(err, &se) || se.JSONPointer == "" {
		return "", "", false
	}
	var names []string
	for tok := range se.JSONPointer.Tokens() {
		if strings.Trim(tok, "0123456789") != "" {
			names = append(names, tok)
		}
	}
	switch se.JSONKind {
	case jsontext.KindBeginObject:
		kind = "object"
	case jsontext.KindBeginArray:
		kind = "array"
	case jsontext.KindTrue, jsontext.KindFalse:
		kind = "boolean"
	default:
		kind = se.JSONKind.String() // string, number, null
	}
	return strings.Join(names, "."), kind, len(names) > 0
}

// readCustomIDLogin reads and checks the request: 413 for a body over the
// limit (refused on its Content-Length without reading it), 400 for JSON
// that is malformed or of the wrong types, 422 naming the field for a
// missing one or an unknown platform. The broker checks the rest.
func (s *Server) readCustomIDLogin(w http.ResponseWriter, r *http.Request) (xsolla.CustomIDLogin, error) {
	var req xsolla.CustomIDLogin
	q := r.URL.Query()
	switch q.Get("with_logout") {
	case "", "0":
	case "1":
		req.WithLogout = true
	default:
		return req, &xsollaError{status: http.StatusBadRequest, code: "invalid_request", description: `with_logout must be "0" or "1"`, field: "with_logout"}
	}
	if req.Payload = q.Get("payload"); len(req.Payload) > maxPayloadLen {
		return req, &xsollaError{status: http.StatusBadRequest, code: "invalid_request", description: fmt.Sprintf("payload must be at most %d bytes", maxPayloadLen), field: "payload"}
	}
	limit := min(s.maxBody, xsollaMaxBody)
	tooLarge := xsollaRefuse(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body must be at most %d bytes", limit))
	if r.ContentLength > limit {
		return req, tooLarge
	}
	raw, err := io.ReadAll(limitBody(w, r, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return req, tooLarge
	}
	malformed := func(desc string) error { return xsollaRefuse(http.StatusBadRequest, "invalid_json", desc) }
	if err != nil {
		return req, malformed("the body could not be read")
	}
	if err := strictJSON(raw); err != nil {
		return req, malformed("the body must be one JSON value in UTF-8, each name given once (in any letter case), with no lone surrogate")
	}
	// jsonv2 matches names exactly: encoding/json would read
	// SERVER_CUSTOM_ID as server_custom_id.
	var body customIDBody
	if err := jsonv2.Unmarshal(raw, &body); err != nil {
		if field, kind, ok := typeError(err); ok {
			return req, &xsollaError{status: http.StatusBadRequest, code: "invalid_json",
				description: fmt.Sprintf("%s must not be a JSON %s", field, kind), field: field}
		}
		return req, malformed("the body is not a JSON object")
	}
	missing := func(field string) error { return broker.Invalid(field, "is required") }
	if body.ServerCustomID == nil {
		return req, missing("server_custom_id")
	}
	req.ServerCustomID = *body.ServerCustomID
	for i, a := range body.Attributes {
		at := func(f string) string { return fmt.Sprintf("attributes[%d].%s", i, f) }
		switch {
		case a.Key == nil:
			return req, missing(at("key"))
		case len(a.Value) == 0:
			return req, missing(at("value"))
		case a.Type == nil:
			return req, missing(at("attr_type"))
		case a.Permission == nil:
			return req, missing(at("permission"))
		}
		req.Attributes = append(req.Attributes, broker.Attribute{
			Key: *a.Key, Value: string(a.Value), Type: *a.Type, Permission: *a.Permission, ReadOnly: a.ReadOnly,
		})
	}
	if sp := body.SocialProfile; sp != nil {
		switch {
		case sp.UserID == nil:
			return req, missing("social_profile.user_id")
		case sp.Platform == nil:
			return req, missing("social_profile.platform")
		}
		slot, ok := s.socialSlots[*sp.Platform]
		if !ok {
			return req, broker.Invalid("social_profile.platform", fmt.Sprintf("%q is not a configured platform", *sp.Platform))
		}
		req.Social = &broker.Link{Slot: slot, Identifier: *sp.UserID}
	}
	if up := body.UserProfile; up != nil {
		if up.Nickname == nil {
			return req, missing("user_profile.nickname")
		}
		req.Nickname = up.Nickname
	}
	return req, nil
}

// xsollaLogin is POST /users/login/server_custom_id.
func (s *Server) xsollaLogin(w http.ResponseWriter, r *http.Request) {
	fail := func(err error) { s.writeXsollaError(w, r, err) }
	c, err := s.xsollaServer(r)
	if err == nil {
		err = s.xsollaProject(r, c)
	}
	if err != nil {
		fail(err)
		return
	}
	req, err := s.readCustomIDLogin(w, r)
	if err != nil {
		fail(err)
		return
	}
	tok, err := s.xsolla.LoginCustomID(r.Context(), c, req)
	if err != nil {
		fail(err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": tok.AccessToken})
}

// xsollaAttributeJSON is one attribute as GET /users/{userId}/attributes
// answers it.
type xsollaAttributeJSON struct {
	Key        string          `json:"key"`
	Value      json.RawMessage `json:"value"`
	Type       string          `json:"attr_type"`
	Permission string          `json:"permission"`
	ReadOnly   bool            `json:"read_only"`
}

// xsollaAttributes is GET /users/{userId}/attributes: every attribute,
// public and private, for a server of the user's project.
func (s *Server) xsollaAttributes(w http.ResponseWriter, r *http.Request) {
	c, err := s.xsollaServer(r)
	if err != nil {
		s.writeXsollaError(w, r, err)
		return
	}
	attrs, err := s.xsolla.Attributes(r.Context(), c, mux.Vars(r)["userId"])
	if err != nil {
		s.writeXsollaError(w, r, err)
		return
	}
	out := make([]xsollaAttributeJSON, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, xsollaAttributeJSON{Key: a.Key, Value: json.RawMessage(a.Value), Type: a.Type, Permission: a.Permission, ReadOnly: a.ReadOnly})
	}
	writeJSON(w, http.StatusOK, out)
}
