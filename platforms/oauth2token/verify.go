package oauth2token

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bridgekeeper/bridgekeeper/platforms"
)

// maxToken bounds the access token: a request header's worth, and more
// than any platform's opaque token or a JWT with a modest claim set.
const maxToken = 8192

// maxUserID bounds the user ID a platform answers: it becomes a link key.
const maxUserID = 255

// Verify asks the token-info API which application r.Token was issued to,
// refuses it unless that is ours, then answers the user the user-info API
// names. A token that cannot be a Bearer credential is refused without a
// call.
func (v *Verifier) Verify(ctx context.Context, r platforms.Request) (platforms.Identity, error) {
	if r.TokenType != "" && r.TokenType != platforms.TokenTypeAccessToken {
		return platforms.Identity{}, platforms.Refused("the subject_token_type is not an access token")
	}
	if err := checkToken(r.Token); err != nil {
		return platforms.Identity{}, err
	}
	info, err := v.get(ctx, "token info", v.tokenInfoURL, r.Token)
	if err != nil {
		return platforms.Identity{}, err
	}
	app, err := lookup(info, v.appPath)
	if err != nil {
		// The platform vouches for the token but not in the shape we were
		// told: a configuration the operator must see, not the player's
		// fault.
		return platforms.Identity{}, platforms.Unavailable(v.label, fmt.Errorf("token info: %w", err))
	}
	if app != v.appID {
		return platforms.Identity{}, platforms.Refused("the access token was issued to another application")
	}
	user := info
	if v.userinfoURL != v.tokenInfoURL {
		if user, err = v.get(ctx, "user info", v.userinfoURL, r.Token); err != nil {
			return platforms.Identity{}, err
		}
	}
	id, err := lookup(user, v.idPath)
	if err == nil && (len(id) > maxUserID || !utf8.ValidString(id) || strings.ContainsFunc(id, isControl)) {
		err = fmt.Errorf("%s is not a plausible user ID", strings.Join(v.idPath, "."))
	}
	if err != nil {
		return platforms.Identity{}, platforms.Unavailable(v.label, fmt.Errorf("user info: %w", err))
	}
	return platforms.Identity{UserID: id}, nil
}

// get GETs url with the token as Bearer credential (RFC 6750 §2.1) and
// decodes the JSON answer with numbers kept as json.Number, so that a
// 64-bit ID survives intact.
func (v *Verifier) get(ctx context.Context, what, url, token string) (any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, platforms.Unavailable(v.label, fmt.Errorf("%s: %w", what, err))
	}
	req.Header.Set("Authorization", "Bearer "+token)
	var raw json.RawMessage
	err = platforms.GetJSON(ctx, v.client, v.timeout, v.label, req, &raw)
	var se *platforms.StatusError
	switch {
	case err == nil:
	case !errors.As(err, &se):
		return nil, err // already Unavailable; the URL holds no secret
	case se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden:
		return nil, platforms.Refused("the platform refused the access token")
	default:
		return nil, platforms.Unavailable(v.label, fmt.Errorf("%s answered %d", what, se.Status))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, platforms.Unavailable(v.label, fmt.Errorf("%s: decode answer: %w", what, err))
	}
	return doc, nil
}

// lookup finds the value at path in doc: keys descend into objects, a key
// of digits indexes an array. The value must be a non-empty string or an
// integer, answered in its decimal form. Errors name the path, never the
// value.
func lookup(doc any, path []string) (string, error) {
	v := doc
	for i, key := range path {
		switch node := v.(type) {
		case map[string]any:
			next, ok := node[key]
			if !ok {
				return "", fmt.Errorf("no %s in the answer", strings.Join(path[:i+1], "."))
			}
			v = next
		case []any:
			n, err := strconv.Atoi(key)
			if err != nil || n < 0 || n >= len(node) {
				return "", fmt.Errorf("no %s in the answer", strings.Join(path[:i+1], "."))
			}
			v = node[n]
		default:
			return "", fmt.Errorf("no %s in the answer: %s is not an object", strings.Join(path[:i+1], "."), describe(path[:i]))
		}
	}
	field := strings.Join(path, ".")
	switch x := v.(type) {
	case string:
		if x == "" {
			return "", fmt.Errorf("%s is empty", field)
		}
		return x, nil
	case json.Number:
		// JSON's grammar leaves an integer one spelling: no leading zero,
		// no plus; a fraction or exponent makes it no ID.
		if strings.ContainsAny(x.String(), ".eE") {
			return "", fmt.Errorf("%s is a number but not an integer", field)
		}
		return x.String(), nil
	case nil:
		return "", fmt.Errorf("%s is null", field)
	case bool:
		return "", fmt.Errorf("%s is a boolean, not a string or an integer", field)
	case map[string]any:
		return "", fmt.Errorf("%s is an object, not a string or an integer", field)
	case []any:
		return "", fmt.Errorf("%s is an array, not a string or an integer", field)
	}
	return "", fmt.Errorf("%s is not a string or an integer", field)
}

func describe(path []string) string {
	if len(path) == 0 {
		return "the answer"
	}
	return strings.Join(path, ".")
}

// checkToken refuses what cannot be a Bearer credential (RFC 6750 §2.1's
// b64token), before it costs a call — and before a newline could reach a
// request header.
func checkToken(t string) error {
	switch {
	case t == "":
		return platforms.Refused("the access token is empty")
	case len(t) > maxToken:
		return platforms.Refused("the access token is too long")
	}
	body := strings.TrimRight(t, "=")
	if body == "" || strings.ContainsFunc(body, notB64Token) {
		return platforms.Refused("the access token is not a Bearer token")
	}
	return nil
}

func notB64Token(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-._~+/", r))
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
