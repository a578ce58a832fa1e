package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The limit servers' only client. Constant, because the limit measures the
// cheapest possible client check: a constant-time comparison, no lookup.
const (
	LimitClientID     = "bench-limit-client"
	LimitClientSecret = "bench-limit-secret-6f1c0a9e2d7b4c35"
)

// LimitConfig configures both limit servers.
type LimitConfig struct {
	// Issuer is the iss claim, e.g. "http://127.0.0.1:8080".
	Issuer string
	// Key signs access tokens with ES256; nil generates a P-256 key.
	Key *ecdsa.PrivateKey
	// KeyID is the kid header; empty means "limit".
	KeyID string
	// AccessTTL is the access tokens' lifetime; zero means one hour.
	AccessTTL time.Duration
	// RefreshTTL is the refresh tokens' lifetime; zero means 30 days.
	RefreshTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives unexpected (500) errors; nil means the standard logger.
	Log *log.Logger
}

// withDefaults fills zero fields, leaving the caller's value untouched.
func (c LimitConfig) withDefaults() (LimitConfig, error) {
	if c.Key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return c, fmt.Errorf("generate signing key: %w", err)
		}
		c.Key = k
	}
	if c.KeyID == "" {
		c.KeyID = "limit"
	}
	if c.AccessTTL == 0 {
		c.AccessTTL = time.Hour
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = 30 * 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = log.Default()
	}
	return c, nil
}

// accessClaims mirrors the broker's RFC 9068 claim set closely enough that
// encoding and signing cost the same.
type accessClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience string `json:"aud"`
	Expiry   int64  `json:"exp"`
	IssuedAt int64  `json:"iat"`
	ID       string `json:"jti"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope,omitempty"`
	UserID   string `json:"userId,omitempty"`
}

// tokenResponse is RFC 6749 §5.1 plus the GS2 fields of a custom-ID login.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	UserID       string `json:"userId,omitempty"`
	Expire       int64  `json:"expire,omitempty"`
}

// oauthError is an RFC 6749 §5.2 error answer.
type oauthError struct {
	Status      int
	Code        string
	Description string
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func badRequest(code, desc string) *oauthError {
	return &oauthError{Status: http.StatusBadRequest, Code: code, Description: desc}
}

// grantFunc handles one grant for an authenticated client.
type grantFunc func(ctx context.Context, form url.Values, now time.Time) (*tokenResponse, error)

// limitCore is what both limit servers share: request parsing, the client
// check, signing and the one response writer.
type limitCore struct {
	cfg    LimitConfig
	signer jose.Signer
	grants map[string]grantFunc
}

func newLimitCore(cfg LimitConfig) (*limitCore, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	opts := (&jose.SignerOptions{}).WithType("at+jwt")
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.ES256,
		Key:       jose.JSONWebKey{Key: cfg.Key, KeyID: cfg.KeyID, Algorithm: string(jose.ES256)},
	}, opts)
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	return &limitCore{cfg: cfg, signer: signer, grants: map[string]grantFunc{}}, nil
}

// PublicKey is the key that verifies the server's access tokens.
func (c *limitCore) PublicKey() *ecdsa.PublicKey { return &c.cfg.Key.PublicKey }

// ServeHTTP answers POST /oauth2/token and GET /readyz.
func (c *limitCore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/readyz":
		w.WriteHeader(http.StatusOK)
	case "/oauth2/token":
		resp, err := c.token(r)
		c.write(w, resp, err)
	default:
		http.NotFound(w, r)
	}
}

// token validates the request (RFC 6749 §3.2: POST, form body; §2.3.1: Basic
// client authentication), then hands it to the grant.
func (c *limitCore) token(r *http.Request) (*tokenResponse, error) {
	if r.Method != http.MethodPost {
		return nil, &oauthError{Status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "token requests use POST"}
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return nil, badRequest("invalid_request", "body must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return nil, badRequest("invalid_request", "malformed form body")
	}
	if !c.authenticate(r) {
		return nil, &oauthError{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "client authentication failed"}
	}
	grant, ok := c.grants[r.PostForm.Get("grant_type")]
	if !ok {
		return nil, badRequest("unsupported_grant_type", "grant_type not supported here")
	}
	return grant(r.Context(), r.PostForm, c.cfg.Now())
}

// authenticate checks HTTP Basic credentials, which RFC 6749 §2.3.1 has
// form-urlencoded before base64. Both comparisons always run, in constant
// time, so timing tells nothing about which part was wrong.
func (c *limitCore) authenticate(r *http.Request) bool {
	rawID, rawSecret, ok := r.BasicAuth()
	if !ok {
		return false
	}
	id, err1 := url.QueryUnescape(rawID)
	secret, err2 := url.QueryUnescape(rawSecret)
	if err1 != nil || err2 != nil {
		return false
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(LimitClientID))
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(LimitClientSecret))
	return idOK&secretOK == 1
}

// sign issues one access token; it returns the token and its expiry.
func (c *limitCore) sign(sub, userID, scope string, now time.Time) (string, time.Time, error) {
	exp := now.Add(c.cfg.AccessTTL)
	payload, err := json.Marshal(accessClaims{
		Issuer:   c.cfg.Issuer,
		Subject:  sub,
		Audience: LimitClientID,
		Expiry:   exp.Unix(),
		IssuedAt: now.Unix(),
		ID:       rand.Text(),
		ClientID: LimitClientID,
		Scope:    scope,
		UserID:   userID,
	})
	if err != nil {
		return "", exp, fmt.Errorf("encode claims: %w", err)
	}
	jws, err := c.signer.Sign(payload)
	if err != nil {
		return "", exp, fmt.Errorf("sign: %w", err)
	}
	tok, err := jws.CompactSerialize()
	return tok, exp, err
}

// write is the one writer: a token answer, an RFC 6749 §5.2 error, or, for
// anything else, a logged 500 without detail. Every answer is no-store
// (§5.1).
func (c *limitCore) write(w http.ResponseWriter, resp *tokenResponse, err error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	status, body := http.StatusOK, any(resp)
	if err != nil {
		var oe *oauthError
		if !errors.As(err, &oe) {
			c.cfg.Log.Printf("limit: token request: %v", err)
			oe = &oauthError{Status: http.StatusInternalServerError, Code: "server_error"}
		}
		switch oe.Status {
		case http.StatusUnauthorized:
			h.Set("WWW-Authenticate", `Basic realm="token"`)
		case http.StatusMethodNotAllowed:
			h.Set("Allow", http.MethodPost)
		}
		status = oe.Status
		body = struct {
			Code        string `json:"error"`
			Description string `json:"error_description,omitempty"`
		}{oe.Code, oe.Description}
	}
	b, err := json.Marshal(body)
	if err != nil {
		c.cfg.Log.Printf("limit: encode answer: %v", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	w.Write(b)
}

// LimitCPU is the ceiling for client_credentials (RFC 6749 §4.4): parse,
// check a constant secret, sign one ES256 JWT. No storage.
type LimitCPU struct{ *limitCore }

var _ http.Handler = (*LimitCPU)(nil)

// NewLimitCPU returns the CPU limit server's handler.
func NewLimitCPU(cfg LimitConfig) (*LimitCPU, error) {
	core, err := newLimitCore(cfg)
	if err != nil {
		return nil, err
	}
	l := &LimitCPU{core}
	core.grants["client_credentials"] = l.clientCredentials
	return l, nil
}

func (l *LimitCPU) clientCredentials(_ context.Context, form url.Values, now time.Time) (*tokenResponse, error) {
	scope := form.Get("scope")
	tok, _, err := l.sign(LimitClientID, "", scope, now)
	if err != nil {
		return nil, err
	}
	return &tokenResponse{
		AccessToken: tok,
		TokenType:   "Bearer",
		ExpiresIn:   int64(l.cfg.AccessTTL / time.Second),
		Scope:       scope,
	}, nil
}
