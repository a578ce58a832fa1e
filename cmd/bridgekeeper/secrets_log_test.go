package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
	"github.com/bridgekeeper/bridgekeeper/platforms"
	"github.com/bridgekeeper/bridgekeeper/platforms/gamecenter/gamecentertest"
	"github.com/bridgekeeper/bridgekeeper/platforms/idtoken/idtokentest"
	"github.com/bridgekeeper/bridgekeeper/platforms/oauth2token/oauth2tokentest"
	"github.com/bridgekeeper/bridgekeeper/platforms/platformtest"
	"github.com/bridgekeeper/bridgekeeper/platforms/steam/steamtest"
)

// TestSecretsNeverLogged runs every surface of the real binary at debug
// level — OAuth2 grants, introspection and revocation, GS2 accounts,
// takeovers, signatures, federation and time offsets, the Xsolla login —
// successes and failures alike, and then looks for every token, secret,
// password and signature it saw in the process's whole output.
func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		db := s.newURL(t)
		kek := proctest.NewKEK()
		env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + kek}
		c := createClient(t, env, "--database", db, "--namespace", "game", "--name", "all",
			"--grant", "client_credentials", "--grant", "server_custom_id", "--grant", "refresh_token", "--grant", "gs2",
			"--grant", "token-exchange")
		steamAPI := steamtest.NewServer(t, "480", "publisher-key-for-the-log-test-0123")
		apple := idtokentest.NewIssuer(t)
		discord := oauth2tokentest.NewServer(t, "111111111111111111")
		keys := gamecentertest.NewKeyServer(t)
		root, intermediate, tlsCert := keys.PEM()
		// The key server's TLS certificate is the process's only trusted
		// one (Go reads SSL_CERT_FILE for the system roots).
		env = append(env, "SSL_CERT_FILE="+writeFile(t, "tls.pem", string(tlsCert)))
		cfg := writeFile(t, "platforms.yaml", fmt.Sprintf(`providers:
  - {name: steam, type: steam, slot: 20, app_id: "480", publisher_key: %q, api_url: %q, timeout: 300ms}
  - {name: apple, type: id_token, slot: 21, issuer: %q, audiences: [com.example.game]}
  - {name: discord, type: oauth2_token, slot: 22, userinfo_url: %q, user_id_field: id, token_info_url: %q,
     application_field: application.id, application_id: "111111111111111111"}
  - {name: gamecenter, type: gamecenter, slot: 23, bundle_ids: [com.example.game], key_hosts: [%q],
     roots_file: %q, intermediates_file: %q}
`, "publisher-key-for-the-log-test-0123", steamAPI.URL(), apple.URL(), discord.UserinfoURL(), discord.TokenInfoURL(),
			keys.KeyHost(), writeFile(t, "root.pem", string(root)), writeFile(t, "intermediate.pem", string(intermediate))))
		srv := startServe(t, db, env, "--log-level", "debug", "--config", cfg)
		ns := namespaceID(t, db, "game")

		secrets := map[string]string{"client secret": c.ClientSecret, "KEK": kek, "Steam publisher key": "publisher-key-for-the-log-test-0123"}
		// Every value kept must have been issued: an empty one fails the
		// test below, as the flow broke before it.
		keep := func(name, v string) string {
			secrets[name] = v
			return v
		}
		outage := false // a platform is down on purpose: 503 is the answer
		call := func(method, path string, hdr map[string]string, body string) map[string]any {
			t.Helper()
			req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			res, err := httpClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			if res.StatusCode >= 500 && !outage {
				t.Errorf("%s %s: %d %s", method, path, res.StatusCode, raw)
			}
			var out map[string]any
			_ = json.Unmarshal(raw, &out)
			return out
		}
		str := func(m map[string]any, path ...string) string {
			var v any = m
			for _, p := range path {
				mm, _ := v.(map[string]any)
				v = mm[p]
			}
			s, _ := v.(string)
			return s
		}
		basic := map[string]string{
			"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(c.ClientID+":"+c.ClientSecret)),
			"Content-Type":  "application/x-www-form-urlencoded",
		}
		secrets["Basic credentials"] = strings.TrimPrefix(basic["Authorization"], "Basic ")
		form := func(kv ...string) string {
			v := url.Values{}
			for i := 0; i < len(kv); i += 2 {
				v.Set(kv[i], kv[i+1])
			}
			return v.Encode()
		}

		// OAuth2.
		cc := call("POST", "/oauth2/token", basic, form("grant_type", "client_credentials"))
		project := keep("client_credentials token", str(cc, "access_token"))
		login := call("POST", "/oauth2/token", basic, form("grant_type", "server_custom_id", "server_custom_id", "p-1"))
		keep("player access token", str(login, "access_token"))
		rt := keep("refresh token", str(login, "refresh_token"))
		next := call("POST", "/oauth2/token", basic, form("grant_type", "refresh_token", "refresh_token", rt))
		keep("rotated access token", str(next, "access_token"))
		keep("rotated refresh token", str(next, "refresh_token"))
		call("POST", "/oauth2/introspect", basic, form("token", str(next, "access_token")))
		call("POST", "/oauth2/revoke", basic, form("token", str(next, "refresh_token")))
		call("POST", "/oauth2/token", basic, form("grant_type", "refresh_token", "refresh_token", str(next, "refresh_token")))
		wrong := keep("a wrong secret", "bks_definitely_wrong_secret_0123456789")
		call("POST", "/oauth2/token", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			form("grant_type", "client_credentials", "client_id", c.ClientID, "client_secret", wrong))
		call("GET", "/userinfo", map[string]string{"Authorization": "Bearer " + str(login, "access_token")}, "")

		// GS2.
		gs2 := map[string]string{"Authorization": "Bearer " + project, "X-GS2-CLIENT-ID": c.ClientID, "Content-Type": "application/json"}
		pl := call("POST", "/gs2/identifier/projectToken/login", map[string]string{"Content-Type": "application/json"},
			fmt.Sprintf(`{"client_id":%q,"client_secret":%q}`, c.ClientID, c.ClientSecret))
		keep("project token", str(pl, "access_token"))
		acct := call("POST", "/gs2/account/game/account", gs2, `{}`)
		userID, password := str(acct, "item", "userId"), keep("account password", str(acct, "item", "password"))
		auth := call("PUT", "/gs2/account/game/account/"+userID, gs2, fmt.Sprintf(`{"password":%q}`, password))
		keep("signature", str(auth, "signature"))
		call("PUT", "/gs2/account/game/account/"+userID, gs2, `{"password":"wrong-password-for-the-log-test"}`)
		keep("wrong account password", "wrong-password-for-the-log-test")
		body, _ := json.Marshal(map[string]string{"body": str(auth, "body"), "signature": str(auth, "signature")})
		signed := call("POST", "/gs2/auth/login/signed", gs2, string(body))
		player := keep("GS2 player token", str(signed, "token"))
		me := map[string]string{"X-GS2-ACCESS-TOKEN": player}
		for k, v := range gs2 {
			me[k] = v
		}
		call("POST", "/gs2/account/game/account/me/takeover", me, `{"type":0,"userIdentifier":"p@example.com","password":"takeover-pass-123"}`)
		keep("takeover password", "takeover-pass-123")
		call("PUT", "/gs2/account/game/account/me/takeover/type/0", me, `{"oldPassword":"not-it-old-pass","password":"takeover-pass-456"}`)
		keep("wrong old takeover password", "not-it-old-pass")
		keep("new takeover password (refused)", "takeover-pass-456")
		taken := call("POST", "/gs2/account/game/takeover/type/0", gs2, `{"userIdentifier":"p@example.com","password":"takeover-pass-123"}`)
		keep("password from doTakeOver", str(taken, "item", "password"))
		fed := call("POST", "/gs2/auth/federation", gs2, `{"originalUserId":"a","userId":"b","policyDocument":"{\"Version\":\"2016-04-01\",\"Statements\":[{\"Effect\":\"Allow\",\"Actions\":[\"*\"],\"Resources\":[\"*\"]}]}"}`)
		keep("federated token", str(fed, "token"))
		to := call("POST", "/gs2/auth/timeoffset/token", gs2, `{"userId":"b","timeOffset":60}`)
		offset := keep("time-offset token", str(to, "token"))
		withOffset := map[string]string{"X-GS2-TIME-OFFSET-TOKEN": offset}
		for k, v := range gs2 {
			withOffset[k] = v
		}
		keep("login token", str(call("POST", "/gs2/auth/login", withOffset, `{"userId":"b"}`), "token"))

		// Xsolla.
		xs := call("POST", "/users/login/server_custom_id?projectId="+ns+"&payload=p",
			map[string]string{"Authorization": "Bearer " + project, "Content-Type": "application/json"}, `{"server_custom_id":"p-1"}`)
		keep("xsolla token", str(xs, "token"))

		// Platform sign-in (token exchange), accepted, refused and timed out.
		exchange := func(provider, tokenType, token string) string {
			return str(call("POST", "/oauth2/token", basic, form("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange",
				"provider", provider, "subject_token_type", tokenType, "subject_token", token)), "refresh_token")
		}
		ticket := keep("Steam ticket", steamAPI.Issue("76561197960287930", steamtest.TicketOptions{}))
		keep("Steam sign-in's refresh token", exchange("steam", platforms.TokenTypeSteamTicket, ticket))
		exchange("steam", platforms.TokenTypeSteamTicket, keep("unknown Steam ticket", "0123456789abcdef0123456789abcdef"))
		steamAPI.SetOutage(platformtest.Hanging)
		outage = true
		exchange("steam", platforms.TokenTypeSteamTicket, ticket)
		outage = false
		steamAPI.SetOutage(platformtest.Up)
		keep("Apple sign-in's refresh token", exchange("apple", platforms.TokenTypeIDToken, keep("ID token", apple.Token("apple-user", "com.example.game"))))
		exchange("apple", platforms.TokenTypeIDToken, keep("ID token of another game", apple.Token("apple-user", "com.other.game")))
		keep("Discord sign-in's refresh token", exchange("discord", platforms.TokenTypeAccessToken, keep("Discord token", discord.Issue("80351110224678912", ""))))
		exchange("discord", platforms.TokenTypeAccessToken, keep("Discord token of another app", discord.Issue("1", "222222222222222222")))
		gc := keys.Sign("G:1234567890", "com.example.game", time.Now())
		keep("Game Center sign-in's refresh token", exchange("gamecenter", platforms.TokenTypeGameCenter, keep("Game Center signature", gc)))
		stale := keys.Sign("G:1234567890", "com.example.game", time.Now().Add(-time.Hour))
		exchange("gamecenter", platforms.TokenTypeGameCenter, keep("stale Game Center signature", stale))
		for name, token := range map[string]string{"Game Center signature": gc, "stale Game Center signature": stale} {
			var items struct{ Signature, Salt string }
			if err := json.Unmarshal([]byte(token), &items); err != nil || items.Signature == "" {
				t.Fatalf("%s: %v", name, err)
			}
			keep(name+" (the signature alone)", items.Signature)
		}

		for name, v := range secrets {
			if v == "" {
				t.Fatalf("%s was not issued; the flow broke", name)
			}
		}
		out := srv.stdout.String() + srv.stderr.String()
		if !strings.Contains(out, `"level":"DEBUG"`) && !strings.Contains(out, "level=DEBUG") {
			t.Fatalf("the log has no debug lines; was --log-level debug applied?\n%s", out)
		}
		for name, v := range secrets {
			if strings.Contains(out, v) {
				t.Errorf("the log contains the %s", name)
			}
		}
		t.Logf("%d secrets checked against %d bytes of debug log", len(secrets), len(out))
		if t.Failed() {
			t.Logf("log:\n%s", out)
		}
	})
}

// namespaceID reads a namespace's ID (the Xsolla projectId) through the CLI.
func namespaceID(t *testing.T, db, name string) string {
	t.Helper()
	for _, l := range listClients(t, db) {
		if l.NamespaceID != "" {
			return l.NamespaceID
		}
	}
	t.Fatalf("no client in namespace %s", name)
	return ""
}
