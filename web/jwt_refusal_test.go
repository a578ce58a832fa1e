package web_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/gs2"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
)

// The JWT refusal table: hostile tokens (rows) presented to every verifier
// of the broker (columns); every cell must refuse. Each row is made from
// fresh, valid tokens of the kind its column accepts (a player's token for
// /userinfo, a client's for the project-token calls...), so that a refusal
// is about what the row did to the token and not about its kind; the
// control rows show that every column accepts the untouched token and a
// token the broker's own key re-signed unchanged.
//
// Claims-level rows (expired, nbf, iss, aud, oversized...) are signed with
// the broker's real key (a Keyring loaded from the fixture's store), as only
// an insider could: the verifiers must refuse them on the claims alone.

// jrToken is a valid token a row starts from.
type jrToken struct {
	raw    string
	header map[string]any
	claims map[string]any // the payload, every claim
}

func jrParse(t *testing.T, raw string) jrToken {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", raw)
	}
	tok := jrToken{raw: raw}
	for i, into := range []*map[string]any{&tok.header, &tok.claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatal(err)
		}
	}
	return tok
}

func (tok jrToken) parts() []string { return strings.Split(tok.raw, ".") }

// with is a copy of the claims with changes (nil deletes).
func (tok jrToken) with(changes map[string]any) map[string]any {
	c := map[string]any{}
	for k, v := range tok.claims {
		c[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func jrB64JSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// jrEnv is the fixture and what the rows and columns need.
type jrEnv struct {
	f                *fixture
	keys             *keys.Keyring // the broker's keys, loaded from its store
	clientID, secret string        // the game server of namespace "game"
	nsID             string
	jwk              json.RawMessage // the broker's public key as JWKS publishes it
	pub              any             // and parsed
	foreign          *ecdsa.PrivateKey
	n                int
}

func newJREnv(t *testing.T, f *fixture) *jrEnv {
	t.Helper()
	e := &jrEnv{f: f}
	e.clientID, e.secret = f.client(t, gameServer("game"))
	ns, err := f.Store.GetNamespaceByName(context.Background(), "game")
	if err != nil {
		t.Fatal(err)
	}
	e.nsID = ns.ID
	e.keys = keys.NewKeyring(f.Store, f.Secrets, f.Clock.Now)
	if err := e.keys.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := f.do(t, http.MethodGet, "/.well-known/jwks.json", "", "", nil)
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.Raw), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks: %d %s", r.Status, r.Raw)
	}
	e.jwk = set.Keys[0]
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(e.jwk); err != nil {
		t.Fatal(err)
	}
	e.pub = k.Key
	if e.foreign, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	return e
}

// clientToken is a fresh client_credentials token of the game server.
func (e *jrEnv) clientToken(t *testing.T) jrToken {
	t.Helper()
	r := e.f.mustToken(t, e.clientID, e.secret, url.Values{"grant_type": {"client_credentials"}})
	return jrParse(t, r.str("access_token"))
}

// projectToken is a fresh GS2 project token (the same kind, by GS2-Identifier).
func (e *jrEnv) projectToken(t *testing.T) string {
	t.Helper()
	return e.f.gs2ProjectToken(t, e.clientID, e.secret)
}

// playerToken is a fresh GS2-Auth login token of a new player of "game".
func (e *jrEnv) playerToken(t *testing.T) jrToken {
	t.Helper()
	e.n++
	r := e.f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: fmt.Sprintf(`{"userId":"jr-player-%d"}`, e.n),
		header: map[string]string{"Authorization": "Bearer " + e.projectToken(t)}})
	if r.Status != http.StatusOK {
		t.Fatalf("gs2 login: %d %s", r.Status, r.Raw)
	}
	return jrParse(t, r.str("token"))
}

// sign signs claims with the broker's active key (typ at+jwt).
func (e *jrEnv) sign(t *testing.T, claims any) string {
	t.Helper()
	s, err := e.keys.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signForeign signs the token's payload with a key the broker never had,
// under header kid (omitted when "").
func (e *jrEnv) signForeign(t *testing.T, tok jrToken, kid string) string {
	t.Helper()
	key := jose.SigningKey{Algorithm: jose.ES256, Key: e.foreign}
	if kid != "" {
		key.Key = jose.JSONWebKey{Key: e.foreign, KeyID: kid}
	}
	s, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(tok.parts()[1])
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// hs256 is the token's header and payload with alg HS256, MACed with key:
// the algorithm-confusion attack on a verifier that takes the alg from the
// token and the public key as an HMAC secret.
func jrHS256(t *testing.T, tok jrToken, key []byte) string {
	t.Helper()
	h := map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": tok.header["kid"]}
	input := jrB64JSON(t, h) + "." + tok.parts()[1]
	m := hmac.New(sha256.New, key)
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// jrRow is one hostile token, made from a fresh valid token of the kind
// the column accepts.
type jrRow struct {
	name string
	// accept: a control row, which every column must accept.
	accept bool
	// advance moves the fixture's clock before the token is presented
	// (and back after).
	advance time.Duration
	// revocation: the token is refused only for being revoked, which
	// VerifyAccessToken does not check (it says so: revocation is
	// Broker.VerifyAccess's and introspection's).
	revocation bool
	forge      func(t *testing.T, e *jrEnv, base jrToken) string
}

// jrVerdict is one cell: accepted, and what was answered.
type jrVerdict struct {
	accepted bool
	// refusedRight: the refusal has the shape the verifier promises (401,
	// active:false, an error).
	refusedRight bool
	answer       string
}

// jrColumn is one verifier. kind is the token it accepts: "player" or
// "client".
type jrColumn struct {
	name  string
	kind  string
	check func(t *testing.T, e *jrEnv, token string) jrVerdict
	// noRevocation: the verifier does not promise to check revocation.
	noRevocation bool
}

func jrHTTP(r response) jrVerdict {
	return jrVerdict{accepted: r.Status == http.StatusOK, refusedRight: r.Status == http.StatusUnauthorized,
		answer: fmt.Sprintf("%d %.160s", r.Status, r.Raw)}
}

// jrDo sends a request with the given headers.
func jrDo(t *testing.T, e *jrEnv, method, path string, header map[string]string, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, e.f.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

func jrIntrospect(t *testing.T, e *jrEnv, token string) jrVerdict {
	t.Helper()
	r := e.f.introspect(t, e.clientID, e.secret, token)
	active, _ := r.Body["active"].(bool)
	return jrVerdict{accepted: r.Status == http.StatusOK && active,
		refusedRight: r.Status == http.StatusOK && !active && len(r.Body) == 1,
		answer:       fmt.Sprintf("%d %.160s", r.Status, r.Raw)}
}

func jrGo(err error, what string) jrVerdict {
	return jrVerdict{accepted: err == nil, refusedRight: err != nil, answer: fmt.Sprintf("%s: %v", what, err)}
}

// jrColumns are every verifier of the broker.
func jrColumns() []jrColumn {
	goColumns := func(kind string) []jrColumn {
		return []jrColumn{
			{name: "Go broker.VerifyAccessToken (" + kind + ")", kind: kind, noRevocation: true, check: func(t *testing.T, e *jrEnv, token string) jrVerdict {
				_, err := broker.VerifyAccessToken(context.Background(), e.keys, token, e.f.URL, e.f.Clock.Now())
				return jrGo(err, "VerifyAccessToken")
			}},
			{name: "Go Broker.VerifyAccess (" + kind + ")", kind: kind, check: func(t *testing.T, e *jrEnv, token string) jrVerdict {
				_, err := e.f.Broker.VerifyAccess(context.Background(), token)
				return jrGo(err, "VerifyAccess")
			}},
			{name: "Go Broker.Allowed (" + kind + ")", kind: kind, check: func(t *testing.T, e *jrEnv, token string) jrVerdict {
				ok, err := e.f.svc.GS2Auth.Allowed(context.Background(), token, "Gs2Account:GetAccount", "*")
				v := jrGo(err, fmt.Sprintf("Allowed = %v", ok))
				v.accepted = ok || err == nil
				return v
			}},
			{name: "/oauth2/introspect (" + kind + ")", kind: kind, check: jrIntrospect},
		}
	}
	cols := []jrColumn{
		{name: "/userinfo Bearer", kind: "player", check: func(t *testing.T, e *jrEnv, token string) jrVerdict {
			return jrHTTP(jrDo(t, e, http.MethodGet, "/userinfo", map[string]string{"Authorization": "Bearer " + token}, ""))
		}},
		{name: "/account/links Bearer", kind: "player", check: func(t *testing.T, e *jrEnv, token string) jrVerdict {
			return jrHTTP(jrDo(t, e, http.MethodGet, "/account/links", map[string]string{"Authorization": "Bearer " + token}, ""))
		}},
		{name: "GS2 /me/ takeover X-GS2-ACCESS-TOKEN", kind: "player", check: func(t *testing.T, e *jrEnv, token string) jrVerdict {
			return jrHTTP(e.f.gs2Send(t, gs2Call{method: http.MethodGet, path: "/gs2/account/game/account/me/takeover",
				header: map[string]string{"Authorization": "Bearer " + e.projectToken(t), "X-GS2-ACCESS-TOKEN": token}}))
		}},
		{name: "GS2 project token on /gs2/auth/login", kind: "client", check: func(t *testing.T, e *jrEnv, token string) jrVerdict {
			return jrHTTP(e.f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: `{"userId":"jr-victim"}`,
				header: map[string]string{"Authorization": "Bearer " + token}}))
		}},
		{name: "GS2 project token on describeAccounts", kind: "client", check: func(t *testing.T, e *jrEnv, token string) jrVerdict {
			return jrHTTP(e.f.gs2Send(t, gs2Call{method: http.MethodGet, path: "/gs2/account/game/account",
				header: map[string]string{"Authorization": "Bearer " + token}}))
		}},
		{name: "Xsolla server Bearer on /users/login/server_custom_id", kind: "client", check: func(t *testing.T, e *jrEnv, token string) jrVerdict {
			return jrHTTP(jrDo(t, e, http.MethodPost, "/users/login/server_custom_id?projectId="+e.nsID,
				map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + token}, `{"server_custom_id":"jr-victim"}`))
		}},
	}
	cols = append(cols, goColumns("player")...)
	return append(cols, goColumns("client")...)
}

// jrRows are the hostile tokens, and the controls first.
func jrRows() []jrRow {
	resign := func(changes map[string]any) func(t *testing.T, e *jrEnv, base jrToken) string {
		return func(t *testing.T, e *jrEnv, base jrToken) string { return e.sign(t, base.with(changes)) }
	}
	return []jrRow{
		{name: "control: the untouched token", accept: true, forge: func(t *testing.T, e *jrEnv, base jrToken) string { return base.raw }},
		{name: "control: re-signed unchanged by the broker's key", accept: true, forge: resign(nil)},

		{name: "alg none, no signature", forge: func(t *testing.T, e *jrEnv, base jrToken) string {
			return jrB64JSON(t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": base.header["kid"]}) + "." + base.parts()[1] + "."
		}},
		{name: "alg none, the original signature", forge: func(t *testing.T, e *jrEnv, base jrToken) string {
			return jrB64JSON(t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": base.header["kid"]}) + "." + base.parts()[1] + "." + base.parts()[2]
		}},
		{name: "HS256 keyed with the public JWK (as JWKS publishes it)", forge: func(t *testing.T, e *jrEnv, base jrToken) string {
			return jrHS256(t, base, e.jwk)
		}},
		{name: "HS256 keyed with the public key PEM", forge: func(t *testing.T, e *jrEnv, base jrToken) string {
			der, err := x509.MarshalPKIXPublicKey(e.pub)
			if err != nil {
				t.Fatal(err)
			}
			return jrHS256(t, base, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		}},
		{name: "HS256 keyed with the public key DER", forge: func(t *testing.T, e *jrEnv, base jrToken) string {
			der, err := x509.MarshalPKIXPublicKey(e.pub)
			if err != nil {
				t.Fatal(err)
			}
			return jrHS256(t, base, der)
		}},
		{name: "unknown kid (a foreign key)", forge: func(t *testing.T, e *jrEnv, base jrToken) string {
			return e.signForeign(t, base, "no-such-kid")
		}},
		{name: "the broker's kid, a foreign key", forge: func(t *testing.T, e *jrEnv, base jrToken) string {
			return e.signForeign(t, base, base.header["kid"].(string))
		}},
		{name: "no kid, a foreign key", forge: func(t *testing.T, e *jrEnv, base jrToken) string {
			return e.signForeign(t, base, "")
		}},
		{name: "tampered payload (another user, a year longer), original signature", forge: func(t *testing.T, e *jrEnv, base jrToken) string {
			c := base.with(map[string]any{"exp": time.Now().Add(365 * 24 * time.Hour).Unix(), "scope": "game profile admin"})
			if _, ok := c["userId"]; ok {
				c["userId"], c["sub"] = "jr-someone-else", "jr-someone-else"
			}
			return base.parts()[0] + "." + jrB64JSON(t, c) + "." + base.parts()[2]
		}},
		{name: "payload of another token, original signature", forge: func(t *testing.T, e *jrEnv, base jrToken) string {
			other := e.clientToken(t)
			return base.parts()[0] + "." + other.parts()[1] + "." + base.parts()[2]
		}},
		{name: "signature truncated", forge: func(t *testing.T, e *jrEnv, base jrToken) string {
			return base.raw[:len(base.raw)-8]
		}},
		{name: "expired (exp an hour ago, the broker's key)", forge: resign(map[string]any{
			"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix(),
		})},
		{name: "expired by the clock (past exp + 30s skew)", advance: broker.DefaultAccessTTL + 31*time.Second + time.Minute,
			forge: func(t *testing.T, e *jrEnv, base jrToken) string { return base.raw }},
		{name: "no exp (the broker's key)", forge: resign(map[string]any{"exp": nil})},
		{name: "nbf in the future (an hour, the broker's key)", forge: resign(map[string]any{"nbf": time.Now().Add(time.Hour).Unix()})},
		{name: "wrong iss (the broker's key)", forge: resign(map[string]any{"iss": "https://attacker.example"})},
		{name: "iss with a trailing slash (the broker's key)", forge: func(t *testing.T, e *jrEnv, base jrToken) string {
			return e.sign(t, base.with(map[string]any{"iss": e.f.URL + "/"}))
		}},
		{name: "wrong aud (the broker's key)", forge: resign(map[string]any{"aud": []string{"another-client"}})},
		{name: "no aud (the broker's key)", forge: resign(map[string]any{"aud": nil})},
		{name: "ID token (typ JWT) with the same claims", forge: func(t *testing.T, e *jrEnv, base jrToken) string {
			s, err := e.keys.SignIDToken(base.claims)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{name: "revoked (RFC 7009)", revocation: true, forge: func(t *testing.T, e *jrEnv, base jrToken) string {
			r := e.f.do(t, http.MethodPost, "/oauth2/revoke", formType, url.Values{"token": {base.raw}}.Encode(), &[2]string{e.clientID, e.secret})
			if r.Status != http.StatusOK {
				t.Fatalf("revoke: %d %s", r.Status, r.Raw)
			}
			return base.raw
		}},
		{name: "a time-offset token presented as an access token", forge: func(t *testing.T, e *jrEnv, base jrToken) string {
			r := e.f.gs2Send(t, gs2Call{path: "/gs2/auth/timeoffset/token", body: `{"userId":"jr-victim","timeOffset":60}`,
				header: map[string]string{"Authorization": "Bearer " + e.projectToken(t)}})
			if r.Status != http.StatusOK {
				t.Fatalf("timeoffset/token: %d %s", r.Status, r.Raw)
			}
			return r.str("token")
		}},
		{name: "oversized: validly signed by the broker's key, over broker.MaxTokenLen", forge: func(t *testing.T, e *jrEnv, base jrToken) string {
			s := e.sign(t, base.with(map[string]any{"pad": strings.Repeat("x", broker.MaxTokenLen)}))
			if len(s) <= broker.MaxTokenLen {
				t.Fatalf("oversized token of %d characters", len(s))
			}
			return s
		}},
		{name: "oversized: the token padded with junk", forge: func(t *testing.T, e *jrEnv, base jrToken) string {
			return base.raw + strings.Repeat("A", broker.MaxTokenLen)
		}},
		{name: "empty-looking: three dots", forge: func(t *testing.T, e *jrEnv, base jrToken) string { return ".." }},
	}
}

// TestJWTRefusal runs the table: every hostile token is refused by every
// verifier, in the shape that verifier promises (401, active:false, an
// error); the controls are accepted everywhere.
func TestJWTRefusal(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		e := newJREnv(t, f)
		cols := jrColumns()
		var matrix strings.Builder
		for _, row := range jrRows() {
			t.Run(row.name, func(t *testing.T) {
				for _, col := range cols {
					var base jrToken
					if col.kind == "player" {
						base = e.playerToken(t)
					} else {
						base = e.clientToken(t)
					}
					token := row.forge(t, e, base)
					if row.advance != 0 {
						f.Clock.Advance(row.advance)
					}
					v := col.check(t, e, token)
					if row.advance != 0 {
						f.Clock.Advance(-row.advance)
					}
					mark := "refused"
					switch {
					case row.accept && !v.accepted:
						mark = "NOT ACCEPTED"
						t.Errorf("control %q: %s does not accept it: %s", row.name, col.name, v.answer)
					case row.accept:
						mark = "accepted"
					case v.accepted && row.revocation && col.noRevocation:
						mark = "accepted (not promised: no revocation check)"
					case v.accepted:
						mark = "ACCEPTED (BUG)"
						t.Errorf("BUG: %s accepts %q (%.80s...): %s", col.name, row.name, token, v.answer)
					case !v.refusedRight:
						mark = "refused, wrong shape"
						t.Errorf("%s refuses %q but not as it promises: %s", col.name, row.name, v.answer)
					}
					fmt.Fprintf(&matrix, "%-72s | %-55s | %s\n", row.name, col.name, mark)
				}
			})
		}
		t.Logf("JWT refusal matrix (row | verifier | verdict):\n%s", matrix.String())
	})
}

// TestJWTTimeOffsetTokenOfAnotherUser: a time-offset token is bound to its
// user and namespace; presented for another user, or in another namespace,
// login and federation refuse it (400 timeOffsetToken invalid).
func TestJWTTimeOffsetTokenOfAnotherUser(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		hdr := trusted(id, f.gs2ProjectToken(t, id, secret))
		otherID, otherSecret := f.client(t, gameServer("other"))
		otherHdr := trusted(otherID, f.gs2ProjectToken(t, otherID, otherSecret))
		issue := func(t *testing.T, hdr map[string]string, userID string) string {
			r := f.gs2Send(t, gs2Call{path: "/gs2/auth/timeoffset/token", body: fmt.Sprintf(`{"userId":%q,"timeOffset":7200}`, userID), header: hdr})
			if r.Status != http.StatusOK {
				t.Fatalf("timeoffset/token: %d %s", r.Status, r.Raw)
			}
			return r.str("token")
		}
		alice := issue(t, hdr, "alice")
		aliceElsewhere := issue(t, otherHdr, "alice-other")
		with := func(offsetToken string) map[string]string {
			h := map[string]string{"X-GS2-TIME-OFFSET-TOKEN": offsetToken}
			for k, v := range hdr {
				h[k] = v
			}
			return h
		}
		for _, tc := range []struct {
			name, path, body, token string
			status                  int
		}{
			{"control: login as alice", "/gs2/auth/login", `{"userId":"alice"}`, alice, http.StatusOK},
			{"login as bob with alice's token", "/gs2/auth/login", `{"userId":"bob"}`, alice, http.StatusBadRequest},
			{"login as bob with alice's token and bob's own offset", "/gs2/auth/login", `{"userId":"bob","timeOffset":7200}`, alice, http.StatusBadRequest},
			{"federation as bob with alice's token", "/gs2/auth/federation", `{"userId":"bob","originalUserId":"alice"}`, alice, http.StatusBadRequest},
			{"login with a token of another namespace", "/gs2/auth/login", `{"userId":"alice-other"}`, aliceElsewhere, http.StatusBadRequest},
			{"login with alice's token, case-changed user", "/gs2/auth/login", `{"userId":"Alice"}`, alice, http.StatusBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := f.gs2Send(t, gs2Call{path: tc.path, body: tc.body, header: with(tc.token)})
				if r.Status != tc.status {
					t.Fatalf("%d, want %d: %s", r.Status, tc.status, r.Raw)
				}
				if tc.status == http.StatusOK {
					if c := jwtPayload(t, r.str("token")); c["timeOffset"] != float64(7200) {
						t.Fatalf("timeOffset %v, want the token's 7200", c["timeOffset"])
					}
					return
				}
				if it := checkGS2Error(t, r, tc.status, "accessToken"); !strings.Contains(it.Message, "timeOffsetToken") {
					t.Fatalf("refused for another reason than the time-offset token: %s", it.Message)
				}
			})
		}
		// Expired: a time-offset token lives an hour.
		f.Clock.Advance(gs2.TimeOffsetTokenTTL + time.Second)
		defer f.Clock.Advance(-(gs2.TimeOffsetTokenTTL + time.Second))
		hdr = trusted(id, f.gs2ProjectToken(t, id, secret))
		r := f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: `{"userId":"alice"}`, header: with(alice)})
		if r.Status != http.StatusBadRequest {
			t.Fatalf("an expired time-offset token: %d %s", r.Status, r.Raw)
		}
	})
}

// TestJWTNonCanonicalSpelling: a valid token spelled otherwise — white
// space, the JWS JSON serialization, base64url with other unused bits —
// decodes to the same header, payload and signature, so go-jose alone would
// accept it; the broker takes only the canonical compact form (RFC 7515
// §7.1), so that one token has one spelling (for anything keyed on it), and
// revoking the original ends every spelling in any case.
func TestJWTNonCanonicalSpelling(t *testing.T) {
	t.Parallel()
	f := newFixture(t, openSQLite(t))
	e := newJREnv(t, f)
	ctx := context.Background()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	spellings := func(tok jrToken) map[string]string {
		p := tok.parts()
		sig := p[2]
		// ES256: 64 signature bytes are 86 characters, whose last carries
		// 4 unused bits; flipping the lowest keeps the decoded bytes.
		last := strings.IndexByte(alphabet, sig[len(sig)-1])
		flat, _ := json.Marshal(map[string]string{"protected": p[0], "payload": p[1], "signature": p[2]})
		general, _ := json.Marshal(map[string]any{"payload": p[1], "signatures": []map[string]string{{"protected": p[0], "signature": p[2]}}})
		unprotected, _ := json.Marshal(map[string]any{"protected": p[0], "payload": p[1], "signature": p[2], "header": map[string]string{"x-note": "unsigned"}})
		return map[string]string{
			"unused bits of the last signature character set": p[0] + "." + p[1] + "." + sig[:len(sig)-1] + string(alphabet[last^1]),
			"LF inside the signature":                         p[0] + "." + p[1] + "." + sig[:10] + "\n" + sig[10:],
			"CR LF at the end":                                tok.raw + "\r\n",
			"spaces inside the payload":                       p[0] + "." + p[1][:10] + "   " + p[1][10:] + "." + sig,
			"U+00A0 and U+3000 inside":                        p[0] + "\u00a0." + p[1] + ".\u3000" + sig,
			"JWS JSON flattened serialization":                string(flat),
			"JWS JSON general serialization":                  string(general),
			"JSON serialization with an unprotected header":   string(unprotected),
		}
	}
	base := e.playerToken(t)
	orig, err := f.Broker.VerifyAccess(ctx, base.raw)
	if err != nil {
		t.Fatal(err)
	}
	variants := spellings(base)
	for _, name := range slices.Sorted(maps.Keys(variants)) {
		v := variants[name]
		var accepted []string
		if claims, err := f.Broker.VerifyAccess(ctx, v); err == nil {
			accepted = append(accepted, "Broker.VerifyAccess")
			if claims.ID != orig.ID || claims.Subject != orig.Subject || claims.UserID != orig.UserID {
				t.Errorf("%s: accepted with other claims %+v", name, claims)
			}
		}
		if jrIntrospect(t, e, v).accepted {
			accepted = append(accepted, "/oauth2/introspect")
		}
		// Over HTTP only what a header value can carry.
		if !strings.ContainsAny(v, "\r\n") && jrHTTP(jrDo(t, e, http.MethodGet, "/userinfo", map[string]string{"Authorization": "Bearer " + v}, "")).accepted {
			accepted = append(accepted, "/userinfo")
		}
		if len(accepted) > 0 {
			t.Errorf("a non-canonical spelling of a valid token (%s) is accepted by %s", name, strings.Join(accepted, ", "))
		}
	}
	// Revoking the original ends every spelling: revocation is by jti.
	r := f.do(t, http.MethodPost, "/oauth2/revoke", formType, url.Values{"token": {base.raw}}.Encode(), &[2]string{e.clientID, e.secret})
	if r.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.Status, r.Raw)
	}
	for name, v := range variants {
		if _, err := f.Broker.VerifyAccess(ctx, v); err == nil {
			t.Errorf("%s: still accepted after the original was revoked", name)
		}
		if jrIntrospect(t, e, v).accepted {
			t.Errorf("%s: introspection active after the original was revoked", name)
		}
	}
	// And revoking a spelling revokes the original.
	for name := range variants {
		t.Run(name, func(t *testing.T) {
			tok := e.playerToken(t)
			v := spellings(tok)[name]
			if _, err := f.Broker.VerifyAccess(ctx, v); err != nil {
				return // not accepted: nothing to revoke
			}
			r := f.do(t, http.MethodPost, "/oauth2/revoke", formType, url.Values{"token": {v}}.Encode(), &[2]string{e.clientID, e.secret})
			if r.Status != http.StatusOK {
				t.Fatalf("revoke: %d %s", r.Status, r.Raw)
			}
			if _, err := f.Broker.VerifyAccess(ctx, tok.raw); err == nil {
				t.Errorf("revoking the spelling %q left the original active", name)
			}
		})
	}
}
