package web

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/gs2"
)

// The GS2 surface speaks GS2's wire format (/work/shared/GS2-WIRE.md) so that
// GS2's own SDKs work against the broker once their endpoint template is
// http://HOST/gs2/{service}. Its rules differ from the OAuth2 surface: JSON
// bodies read liberally, errors as a JSON array inside a string, success
// always exactly 200.

// gs2Error is a refusal in GS2's terms. It is answered as the array item
// {component: model, message: "<service>.<model>.<field>.error.<reason>",
// code: "<model>.<field>.<reason>"}; the service comes from the path.
type gs2Error struct {
	status               int
	model, field, reason string
}

func (e *gs2Error) Error() string {
	return fmt.Sprintf("gs2 %d: %s.%s.%s", e.status, e.model, e.field, e.reason)
}

func gs2Refuse(status int, model, field, reason string) *gs2Error {
	return &gs2Error{status: status, model: model, field: field, reason: reason}
}

type gs2ErrorItem struct {
	Component string `json:"component"`
	Message   string `json:"message"`
	Code      string `json:"code"`
}

// writeGS2Error is the one writer of GS2 error responses. A gs2Error is
// answered as it is; a refusal by its kind, against model (the model the
// call is about) and the refusal's field; anything else is logged once and
// answered as a 500 without detail. No GS2 SDK knows 413 or 429, so
// neither is used.
func (s *Server) writeGS2Error(w http.ResponseWriter, r *http.Request, model string, err error) {
	var ge *gs2Error
	e := broker.Refusal(err)
	field, reason := model, ""
	if e != nil {
		field, reason = cmp.Or(e.Field, model), e.Reason
	}
	switch kind := broker.KindOf(err); {
	case errors.As(err, &ge):
	case kind == broker.KindRateLimited:
		// 503 is retried as "come back later".
		ge = gs2Refuse(http.StatusServiceUnavailable, model, "request", "tooManyRequests")
	case kind == broker.KindUnavailable:
		s.log.WarnContext(r.Context(), "unavailable", "route", routeName(r), "err", err)
		ge = gs2Refuse(http.StatusServiceUnavailable, model, model, "unavailable")
	// GS2-Account's two named refusals, whichever call meets them.
	case errors.Is(err, broker.ErrBanned):
		ge = gs2Refuse(http.StatusUnauthorized, "account", "banned", "infinity")
	case errors.Is(err, gs2.ErrPasswordIncorrect):
		ge = gs2Refuse(http.StatusUnauthorized, "account", "password", "invalid")
	case kind == broker.KindUnauthenticated:
		ge = gs2Refuse(http.StatusUnauthorized, model, field, cmp.Or(reason, "unauthorized"))
	case kind == broker.KindNotFound:
		ge = gs2Refuse(http.StatusNotFound, model, field, "notFound")
	case kind == broker.KindConflict:
		ge = gs2Refuse(http.StatusConflict, model, field, "conflict")
	case kind == broker.KindInternal:
		s.log.ErrorContext(r.Context(), "internal error", "route", routeName(r), "err", err)
		ge = gs2Refuse(http.StatusInternalServerError, model, model, "internal")
	default:
		// Invalid input, or a refusal GS2 has no status for: the caller's
		// fault, never the server's.
		ge = gs2Refuse(http.StatusBadRequest, model, field, cmp.Or(reason, "invalid"))
	}
	if ge.status < 500 {
		s.log.DebugContext(r.Context(), "gs2 request refused", "path", r.URL.Path, "err", err)
	}
	setRetryAfter(w, ge.status, err)
	item := gs2ErrorItem{
		Component: ge.model,
		Message:   gs2Service(r) + "." + ge.model + "." + ge.field + ".error." + ge.reason,
		Code:      ge.model + "." + ge.field + "." + ge.reason,
	}
	// GS2's SDKs JSON.parse the message, so it is a JSON array as a string.
	arr, _ := json.Marshal([]gs2ErrorItem{item})
	writeJSON(w, ge.status, map[string]string{"message": string(arr)})
}

// gs2Handler serves a GS2 call that returns its refusal: the error is
// written by writeGS2Error, as about model, and by nothing else.
func (s *Server) gs2Handler(model string, call func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := call(w, r); err != nil {
			s.writeGS2Error(w, r, model, err)
		}
	}
}

// gs2Service is the {service} of a /gs2/{service}/... path.
func gs2Service(r *http.Request) string {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/gs2/"), "/", 2)
	if parts[0] == "" {
		return "gs2"
	}
	return parts[0]
}

// gs2NotFound answers a GS2 call the broker does not serve (yet) in GS2's
// format: the SDKs cannot read an OAuth2 error body.
func (s *Server) gs2NotFound(w http.ResponseWriter, r *http.Request) {
	s.writeGS2Error(w, r, "api", gs2Refuse(http.StatusNotFound, "api", "path", "notFound"))
}

// gs2Body is a decoded GS2 request body. Fields stay raw JSON and are read
// when asked for, each with GS2's liberal rules: null is absent, numbers may
// be strings, unknown fields (contextStack...) are ignored.
type gs2Body struct {
	model  string // for refusals
	fields map[string]json.RawMessage
}

// readGS2Body reads a JSON body, gzip-compressed when Content-Encoding says
// so, within the body limit (which bounds the decompressed size as well). An
// empty body is {}. model names the model of refusals.
func (s *Server) readGS2Body(w http.ResponseWriter, r *http.Request, model string) (gs2Body, error) {
	b := gs2Body{model: model, fields: map[string]json.RawMessage{}}
	tooLarge := gs2Refuse(http.StatusBadRequest, model, "body", "tooLarge")
	malformed := gs2Refuse(http.StatusBadRequest, model, "body", "invalid")
	if r.ContentLength > s.maxBody {
		return b, tooLarge
	}
	var src io.Reader = limitBody(w, r, s.maxBody)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(src)
		if errors.Is(err, io.EOF) {
			return b, nil // an empty body, whatever its encoding
		}
		if err != nil {
			return b, malformed
		}
		defer zr.Close()
		src = io.LimitReader(zr, s.maxBody+1)
	default:
		return b, gs2Refuse(http.StatusBadRequest, model, "body", "unsupportedEncoding")
	}
	raw, err := io.ReadAll(src)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) || int64(len(raw)) > s.maxBody:
		return b, tooLarge
	case err != nil:
		return b, malformed
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return b, nil
	}
	// Strict before liberal: a name given twice (in any letter case), bad
	// UTF-8 or a lone surrogate would let two bodies name one player.
	if err := strictJSON(raw); err != nil {
		return b, malformed
	}
	if err := json.Unmarshal(raw, &b.fields); err != nil {
		return b, malformed // not an object
	}
	if b.fields == nil {
		b.fields = map[string]json.RawMessage{}
	}
	return b, nil
}

// raw is the value of key, or absent when missing or null.
func (b gs2Body) raw(key string) (json.RawMessage, bool) {
	v, ok := b.fields[key]
	v = bytes.TrimSpace(v)
	if !ok || len(v) == 0 || string(v) == "null" {
		return nil, false
	}
	return v, true
}

// str reads a string field. A number is taken as its text (SDKs of typed
// languages may send numeric IDs as numbers); other types are refused.
func (b gs2Body) str(key string) (string, bool, error) {
	v, ok := b.raw(key)
	if !ok {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s, true, nil
	}
	if c := v[0]; c == '-' || c >= '0' && c <= '9' {
		return string(v), true, nil
	}
	return "", true, gs2Refuse(http.StatusBadRequest, b.model, key, "invalid")
}

// int reads an integer field, given as a JSON number or as a string holding
// one ("3600"); an integral float (3600.0) is accepted, an empty string is
// absent.
func (b gs2Body) int(key string) (int, bool, error) {
	v, ok := b.raw(key)
	if !ok {
		return 0, false, nil
	}
	invalid := gs2Refuse(http.StatusBadRequest, b.model, key, "invalid")
	text := string(v)
	if v[0] == '"' {
		if err := json.Unmarshal(v, &text); err != nil {
			return 0, true, invalid
		}
		if text = strings.TrimSpace(text); text == "" {
			return 0, false, nil
		}
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(text, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, true, invalid
		}
		n = int64(f)
	}
	if n < math.MinInt || n > math.MaxInt {
		return 0, true, invalid
	}
	return int(n), true, nil
}

// trusted is the allowance of GS2's trusted-server calls: those that name a
// player and act as them. The calls a game client makes with the project
// token (createAccount, authentication, doTakeOver, loginBySignature, the
// /me/ calls) need none: they prove the player by password or token.
const trusted = broker.GrantGS2Trusted

// gs2Client admits a call by its project token (see
// grants.Pipeline.Server), named by X-GS2-CLIENT-ID when that is sent, of a
// client allowed allowance ("" for none, or trusted). GS2 answers its
// refusals, a client without the allowance too, as 401s about the
// accessToken.
func (s *Server) gs2Client(r *http.Request, allowance string) (broker.Client, error) {
	who := s.bearerCaller(r)
	who.ClaimedID = r.Header.Get("X-GS2-CLIENT-ID")
	c, err := s.pipeline.Server(r.Context(), who, allowance)
	if e := broker.Refusal(err); e != nil && (e.Kind == broker.KindUnauthenticated || e.Kind == broker.KindForbidden) {
		return c, gs2Refuse(http.StatusUnauthorized, "accessToken", cmp.Or(e.Field, "accessToken"), cmp.Or(e.Reason, "invalid"))
	}
	return c, err
}
