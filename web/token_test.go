package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// verifier checks access tokens the way a resource server would: go-oidc
// against the broker's discovery document and JWKS.
func verifier(t *testing.T, f *fixture, clientID string) *oidc.IDTokenVerifier {
	t.Helper()
	p, err := oidc.NewProvider(context.Background(), f.URL)
	if err != nil {
		t.Fatal(err)
	}
	return p.Verifier(&oidc.Config{ClientID: clientID})
}

func jwtHeader(t *testing.T, token string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestClientCredentials(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		r := f.mustToken(t, id, secret, url.Values{"grant_type": {"client_credentials"}})
		if r.str("token_type") != "Bearer" || r.Body["expires_in"] != float64(3600) || r.str("scope") != "game profile" {
			t.Errorf("response = %s", r.Raw)
		}
		for _, absent := range []string{"refresh_token", "userId", "expire"} {
			if _, ok := r.Body[absent]; ok {
				t.Errorf("client_credentials response has %s: %s", absent, r.Raw)
			}
		}
		if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Pragma") != "no-cache" {
			t.Errorf("headers = %v", r.Header)
		}
		h := jwtHeader(t, r.str("access_token"))
		if h["typ"] != "at+jwt" || h["alg"] != "ES256" || h["kid"] == "" {
			t.Errorf("JWS header = %v", h)
		}
		tok, err := verifier(t, f, id).Verify(context.Background(), r.str("access_token"))
		if err != nil {
			t.Fatalf("go-oidc: %v", err)
		}
		var claims broker.AccessClaims
		if err := tok.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		if claims.Subject != id || claims.ClientID != id || claims.Scope != "game profile" || claims.ID == "" || claims.UserID != "" {
			t.Errorf("claims = %+v", claims)
		}

		narrowed := f.mustToken(t, id, secret, url.Values{"grant_type": {"client_credentials"}, "scope": {"game"}})
		if narrowed.str("scope") != "game" {
			t.Errorf("narrowed scope = %q", narrowed.str("scope"))
		}
	})
}

// TestClientCredentialsLibrary: golang.org/x/oauth2's client, unmodified,
// with either client authentication method.
func TestClientCredentialsLibrary(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
			cfg := clientcredentials.Config{
				ClientID: id, ClientSecret: secret, TokenURL: f.URL + "/oauth2/token",
				Scopes: []string{"game"}, AuthStyle: style,
			}
			tok, err := cfg.Token(context.Background())
			if err != nil {
				t.Fatalf("style %d: %v", style, err)
			}
			if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.Expiry.Before(time.Now().Add(59*time.Minute)) {
				t.Errorf("style %d: token = %+v", style, tok)
			}
		}
		bad := clientcredentials.Config{ClientID: id, ClientSecret: "wrong", TokenURL: f.URL + "/oauth2/token"}
		var re *oauth2.RetrieveError
		if _, err := bad.Token(context.Background()); err == nil || !asRetrieve(err, &re) || re.ErrorCode != "invalid_client" {
			t.Errorf("wrong secret: err = %v", err)
		}
	})
}

func asRetrieve(err error, re **oauth2.RetrieveError) bool {
	r, ok := err.(*oauth2.RetrieveError)
	*re = r
	return ok
}

func TestServerCustomID(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		first := f.mustToken(t, id, secret, customID("player-42"))
		user := first.str("userId")
		if user == "" || user == "player-42" || first.str("refresh_token") == "" {
			t.Fatalf("response = %s", first.Raw)
		}
		expire := int64(first.Body["expire"].(float64))
		if d := time.Until(time.UnixMilli(expire)); d < 59*time.Minute || d > 61*time.Minute {
			t.Errorf("expire %d is %s away, want about an hour", expire, d)
		}
		tok, err := verifier(t, f, id).Verify(context.Background(), first.str("access_token"))
		if err != nil {
			t.Fatal(err)
		}
		var claims broker.AccessClaims
		_ = tok.Claims(&claims)
		if claims.Subject != user || claims.UserID != user || claims.TimeOffset == nil || *claims.TimeOffset != 0 || claims.SessionID == "" {
			t.Errorf("claims = %+v", claims)
		}

		// The same ID is the same user, through the full grant name too and
		// through another client of the namespace.
		again := f.mustToken(t, id, secret, url.Values{"grant_type": {broker.GrantServerCustomID}, "server_custom_id": {"player-42"}})
		otherID, otherSecret := f.client(t, gameServer("game"))
		viaOther := f.mustToken(t, otherID, otherSecret, customID("player-42"))
		if again.str("userId") != user || viaOther.str("userId") != user {
			t.Errorf("users = %s, %s, %s", user, again.str("userId"), viaOther.str("userId"))
		}
		// Another namespace is another world.
		nsID, nsSecret := f.client(t, gameServer("other-game"))
		if u := f.mustToken(t, nsID, nsSecret, customID("player-42")).str("userId"); u == user {
			t.Error("a custom ID in another namespace mapped to the same user")
		}
		// A custom ID equal to an existing user ID does not mint that user.
		if u := f.mustToken(t, id, secret, customID(user)).str("userId"); u == user {
			t.Error("server_custom_id equal to a user ID minted that user's subject")
		}
	})
}

func TestServerCustomIDConcurrentFirstLogin(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		users := parallel(t, 100, func() response { return f.token(t, id, secret, customID("new-player")) })
		for _, r := range users {
			if r.Status != http.StatusOK || r.str("userId") != users[0].str("userId") {
				t.Fatalf("concurrent first logins: %d %s vs %s", r.Status, r.Raw, users[0].Raw)
			}
		}
	})
}

// parallel runs fn n times at once and returns every response.
func parallel(t *testing.T, n int, fn func() response) []response {
	t.Helper()
	out := make([]response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			out[i] = fn()
		})
	}
	close(start)
	wg.Wait()
	return out
}
