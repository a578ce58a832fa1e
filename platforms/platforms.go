// Package platforms verifies the credentials native game clients get from
// their platform's SDK — a Steam session ticket, an ID token from Sign in
// with Apple, Google or Epic, a Discord access token, a Game Center
// identity signature — for RFC 8693 token exchange. Each kind of platform
// lives in its own package (steam, idtoken, oauth2token, gamecenter) and
// gives a Verifier; the broker links the user ID it vouches for in the
// takeover slot configured for the provider.
package platforms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// Subject token types (RFC 8693 §3, and the broker's own for credentials
// that are no OAuth2 token).
const (
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeSteamTicket = "urn:bridgekeeper:params:oauth:token-type:steam-ticket"
	TokenTypeGameCenter  = "urn:bridgekeeper:params:oauth:token-type:gamecenter"
)

// DefaultTimeout bounds one request to a platform unless the provider
// configures another.
const DefaultTimeout = 5 * time.Second

// Request is one credential to verify.
type Request struct {
	Token     string // the subject_token, as the game sent it
	TokenType string // its subject_token_type, one the verifier accepts
	Nonce     string // the request's nonce, "" when none (ID tokens check it)
}

// Identity is who the platform says holds the credential.
type Identity struct {
	// UserID is the platform's stable user ID: the takeover link's
	// identifier.
	UserID string
}

// Verifier checks a credential with its platform.
type Verifier interface {
	// TokenTypes are the subject_token_types it accepts.
	TokenTypes() []string
	// Verify answers the identity behind r.Token, or a refusal: Refused
	// for a credential that does not hold, Unavailable when the platform
	// could not be asked.
	Verify(ctx context.Context, r Request) (Identity, error)
}

// Refused refuses a credential: reason says why in words safe to show the
// caller (never the credential, never the platform's answer).
func Refused(reason string) error {
	return &broker.Error{Kind: broker.KindInvalid, Field: "subject_token", Description: reason}
}

// Unavailable reports that the platform named could not answer (a
// timeout, a 5xx, an answer that is not what it documents); cause is for
// the log only.
func Unavailable(platform string, cause error) error {
	return &broker.Error{Kind: broker.KindUnavailable, Description: platform + " is unavailable; retry", Err: cause}
}

// maxAnswer bounds what is read of a platform's answer.
const maxAnswer = 1 << 20

// GetJSON sends req with client, bounded by timeout, and decodes a 2xx
// answer into out. A transport failure, a timeout, a 5xx or an undecodable
// answer is Unavailable(platform); any other status is returned as
// StatusError (with the body decoded into out when it is JSON) for the
// caller to judge.
func GetJSON(ctx context.Context, client *http.Client, timeout time.Duration, platform string, req *http.Request, out any) error {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req = req.WithContext(ctx)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		// Its text holds the URL, which may carry a key or a credential.
		err = fmt.Errorf("%s %s: %w", req.Method, req.URL.Host, ue.Err)
	}
	if err != nil {
		return Unavailable(platform, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return Unavailable(platform, err)
	}
	if resp.StatusCode >= 500 {
		return Unavailable(platform, fmt.Errorf("status %d", resp.StatusCode))
	}
	decodeErr := json.Unmarshal(body, out)
	if resp.StatusCode/100 != 2 {
		return &StatusError{Status: resp.StatusCode}
	}
	if decodeErr != nil {
		return Unavailable(platform, fmt.Errorf("decode answer: %w", decodeErr))
	}
	return nil
}

// StatusError is a platform's 4xx (or other non-2xx, non-5xx) answer.
type StatusError struct{ Status int }

func (e *StatusError) Error() string { return fmt.Sprintf("platform answered status %d", e.Status) }

// IsStatus reports whether err is a StatusError of that status.
func IsStatus(err error, status int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == status
}

// CheckURL accepts an absolute https URL with no user or fragment, or an
// http one on a loopback host (for tests and local fakes): what travels to
// a platform, or comes back from it, must not cross a network in clear.
func CheckURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, fmt.Errorf("%q is not an absolute http(s) URL", s)
	case u.User != nil || u.Fragment != "":
		return nil, fmt.Errorf("%q must have no user or fragment", s)
	case u.Scheme == "http" && !Loopback(u.Hostname()):
		return nil, fmt.Errorf("%q must be https (http only on a loopback host)", s)
	}
	return u, nil
}

// Loopback reports whether host is localhost or a loopback address.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
