package web_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bridgekeeper/bridgekeeper/grants"
	"github.com/bridgekeeper/bridgekeeper/web"
)

// fedPolicyHash is what a federated token's federationPolicy claim carries:
// the base64url SHA-256 of the document's bytes.
func fedPolicyHash(doc string) string {
	sum := sha256.Sum256([]byte(doc))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// fedPolicy is a policy document of the given statements.
func fedPolicy(statements ...string) string {
	return `{"Version":"2016-04-01","Statements":[` + strings.Join(statements, ",") + `]}`
}

// fedOmit, as a value in a table's body, leaves the field out.
const fedOmit = "\x00omit"

// fedFederate is GS2-Auth's federation.
func (f *fixture) fedFederate(t *testing.T, hdr map[string]string, body map[string]any) response {
	t.Helper()
	return f.gs2Send(t, gs2Call{path: "/gs2/auth/federation", body: tkoJSON(t, body), header: hdr})
}

// fedToken is a federation that must succeed; it returns the token.
func (f *fixture) fedToken(t *testing.T, hdr map[string]string, original, userID, policy string) string {
	t.Helper()
	body := map[string]any{"originalUserId": original, "userId": userID}
	if policy != "" {
		body["policyDocument"] = policy
	}
	r := f.fedFederate(t, hdr, body)
	if r.Status != http.StatusOK || r.str("token") == "" {
		t.Fatalf("federation: %d %s", r.Status, r.Raw)
	}
	return r.str("token")
}

// fedIntrospect asks the introspection endpoint, as client id, about token
// and, when action is not "", whether it may perform action on resource.
func (f *fixture) fedIntrospect(t *testing.T, id, secret, token, action, resource string) response {
	t.Helper()
	form := url.Values{"token": {token}}
	if action != "" {
		form.Set("action", action)
		form.Set("resource", resource)
	}
	return f.do(t, http.MethodPost, "/oauth2/introspect", formType, form.Encode(), &[2]string{id, secret})
}

// fedWide serves the fixture's broker again with the server's default body
// limit (1 MiB): the harness's 64 KiB would refuse a policy of GS2's
// largest size as a body too large before the policy is looked at.
func (f *fixture) fedWide(t *testing.T) *fixture {
	t.Helper()
	h := web.NewServer(f.svc, pipeline(f.Broker, f.Store, f.Clock, grants.Limits{}, slog.New(slog.DiscardHandler)), slog.New(slog.DiscardHandler), web.Options{}).Handler()
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = checkedListener(t, srv.Listener)
	srv.Start()
	t.Cleanup(srv.Close)
	wide := *f
	wide.URL, wide.Handler = srv.URL, h
	return &wide
}

func TestGS2Federation(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		hdr := trusted(id, f.gs2ProjectToken(t, id, secret))
		doc := fedPolicy(
			`{"Effect":"Allow","Actions":["Gs2Account:*"],"Resources":["grn:gs2:ap-northeast-1:bridgekeeper:account:game:*"]}`,
			`{"Effect":"Deny","Actions":["Gs2Account:DeleteTakeOver"],"Resources":["*"]}`,
		)
		r := f.fedFederate(t, hdr, map[string]any{"originalUserId": "operator-1", "userId": "player-1", "policyDocument": doc, "timeOffset": "120"})
		if r.Status != http.StatusOK || r.str("userId") != "player-1" {
			t.Fatalf("federation: %d %s", r.Status, r.Raw)
		}
		fed := r.str("token")
		exp, _ := r.Body["expire"].(float64)
		if want := f.Clock.Now().Add(time.Hour).UnixMilli(); exp < float64(want-5000) || exp > float64(want+5000) {
			t.Errorf("expire %v, want about %d (Unix ms)", exp, want)
		}
		c := jwtPayload(t, fed)
		for k, v := range map[string]any{
			"userId": "player-1", "sub": "player-1", "federationFromUserId": "operator-1",
			"federationPolicy": fedPolicyHash(doc), "timeOffset": float64(120),
		} {
			if c[k] != v {
				t.Errorf("claim %s = %v, want %v", k, c[k], v)
			}
		}
		if raw, _ := json.Marshal(c); strings.Contains(string(raw), "Statements") {
			t.Errorf("the token carries the policy document itself: %s", raw)
		}
		plain := f.tkoPlayer(t, hdr, "player-2")

		self := accountGRN("game", "player-1")
		for _, tc := range []struct {
			name, token, action, resource string
			want                          string // "true", "false", or "" for no answer
		}{
			{"allowed action", fed, "Gs2Account:CreateTakeOver", self, "true"},
			{"allowed by the wildcard resource", fed, "Gs2Account:DescribeTakeOvers", "grn:gs2:ap-northeast-1:bridgekeeper:account:game:takeOver:0:x", "true"},
			{"a Deny beats an Allow", fed, "Gs2Account:DeleteTakeOver", self, "false"},
			{"resource outside the allowed wildcard", fed, "Gs2Account:CreateTakeOver", accountGRN("other", "player-1"), "false"},
			{"action no statement allows", fed, "Gs2Inventory:AcquireItem", self, "false"},
			{"no resource", fed, "Gs2Account:CreateTakeOver", "", "false"},
			{"no action", fed, "", self, ""},
			{"not federated", plain, "Gs2Inventory:AcquireItem", self, "true"},
			{"not federated, Deny's action", plain, "Gs2Account:DeleteTakeOver", "anything", "true"},
			{"not federated, no action", plain, "", "", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := f.fedIntrospect(t, id, secret, tc.token, tc.action, tc.resource)
				wantActive(t, r, "introspection")
				got, present := r.Body["allowed"]
				switch {
				case tc.want == "" && present:
					t.Errorf("allowed %v without an action: %s", got, r.Raw)
				case tc.want != "" && (!present || got != (tc.want == "true")):
					t.Errorf("allowed %v (present %v), want %s: %s", got, present, tc.want, r.Raw)
				}
				if tc.token == fed && (r.str("federationFromUserId") != "operator-1" || r.str("userId") != "player-1") {
					t.Errorf("introspection of the federated token: %s", r.Raw)
				}
				if tc.token == plain && r.Body["federationFromUserId"] != nil {
					t.Errorf("introspection of a plain token: %s", r.Raw)
				}
				if tc.action == "" {
					return
				}
				// The exported API gives the same answer.
				ok, err := f.svc.GS2Auth.Allowed(t.Context(), tc.token, tc.action, tc.resource)
				if err != nil || ok != (tc.want == "true") {
					t.Errorf("Broker.Allowed = %v, %v; want %s", ok, err, tc.want)
				}
			})
		}

		// A tampered token is no token: an error, never an answer.
		parts := strings.Split(fed, ".")
		claims := jwtPayload(t, fed)
		claims["federationPolicy"] = ""
		forged := parts[0] + "." + encodeSegment(t, claims) + "." + parts[2]
		for name, tok := range map[string]string{
			"signature tampered":   parts[0] + "." + parts[1] + "." + tamper(parts[2], 3),
			"policy claim dropped": forged,
			"garbage":              "garbage",
		} {
			if ok, err := f.svc.GS2Auth.Allowed(t.Context(), tok, "Gs2Account:CreateTakeOver", self); err == nil || ok {
				t.Errorf("%s: Broker.Allowed = %v, %v; want an error", name, ok, err)
			}
			wantInactive(t, f.fedIntrospect(t, id, secret, tok, "Gs2Account:CreateTakeOver", self), name)
		}
		// Nor is an expired one.
		f.Clock.Advance(61 * time.Minute)
		if ok, err := f.svc.GS2Auth.Allowed(t.Context(), fed, "Gs2Account:CreateTakeOver", self); err == nil || ok {
			t.Errorf("expired: Broker.Allowed = %v, %v; want an error", ok, err)
		}
	})
}

// TestGS2FederationPolicyEnforced: the /me/ takeover calls obey a federated
// token's policy on the account.
func TestGS2FederationPolicyEnforced(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		denyCreate := tkoAs(hdr, f.fedToken(t, hdr, "operator", "player-1", fedPolicy(
			`{"Effect":"Allow","Actions":["*"],"Resources":["*"]}`,
			`{"Effect":"Deny","Actions":["Gs2Account:CreateTakeOver"],"Resources":["grn:gs2:ap-northeast-1:bridgekeeper:account:game:account:*"]}`,
		)))
		getOnly := tkoAs(hdr, f.fedToken(t, hdr, "operator", "player-1", fedPolicy(
			`{"Effect":"Allow","Actions":["Gs2Account:GetTakeOver"],"Resources":["*"]}`,
		)))
		allowAll := tkoAs(hdr, f.fedToken(t, hdr, "operator", "player-1", fedPolicy(
			`{"Effect":"Allow","Actions":["Gs2Account:*"],"Resources":["*"]}`,
		)))
		noPolicy := tkoAs(hdr, f.fedToken(t, hdr, "operator", "player-1", ""))
		const create = `{"type":0,"userIdentifier":"player-1@example.com","password":"pw"}`
		list := func(t *testing.T, header map[string]string) response {
			t.Helper()
			return f.gs2Send(t, gs2Call{method: http.MethodGet, path: tkoBase("game", "me"), header: header})
		}

		t.Run("denied createTakeOver", func(t *testing.T) {
			tkoRefused(t, f.tkoCreate(t, denyCreate, "game", "me", create), http.StatusUnauthorized, "accessToken", "accessToken.policy.denied")
		})
		t.Run("the same token may describe", func(t *testing.T) {
			if its := tkoItems(t, list(t, denyCreate)); len(its) != 0 {
				t.Errorf("items %v", its)
			}
		})
		t.Run("a policy allowing only GetTakeOver", func(t *testing.T) {
			tkoRefused(t, list(t, getOnly), http.StatusUnauthorized, "accessToken", "accessToken.policy.denied")
			tkoRefused(t, f.tkoCreate(t, getOnly, "game", "me", create), http.StatusUnauthorized, "accessToken", "accessToken.policy.denied")
			// Allowed through, and then not found.
			tkoRefused(t, f.tkoGet(t, getOnly, "game", "me", "0"), http.StatusNotFound, "takeOver", "")
		})
		t.Run("Gs2Account:* on *", func(t *testing.T) {
			r := f.tkoCreate(t, allowAll, "game", "me", create)
			if r.Status != http.StatusOK {
				t.Fatalf("createTakeOver: %d %s", r.Status, r.Raw)
			}
			tkoWant(t, item(t, r), "game", "player-1", 0, "player-1@example.com", 1)
		})
		t.Run("getOnly now finds it", func(t *testing.T) {
			r := f.tkoGet(t, getOnly, "game", "me", "0")
			if r.Status != http.StatusOK {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			tkoWant(t, item(t, r), "game", "player-1", 0, "player-1@example.com", 1)
		})
		t.Run("a federated token without a policy is not restricted", func(t *testing.T) {
			if its := tkoItems(t, list(t, noPolicy)); len(its) != 1 {
				t.Errorf("items %v", its)
			}
		})
		t.Run("the policy did not stop the trusted server", func(t *testing.T) {
			// byUserId calls are the project's own, outside any policy.
			if its := tkoItems(t, f.gs2Send(t, gs2Call{method: http.MethodGet, path: tkoBase("game", "player-1"), header: hdr})); len(its) != 1 {
				t.Errorf("items %v", its)
			}
		})
	})
}

// TestGS2FederationRequest: federation's checks of its input.
func TestGS2FederationRequest(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		valid := fedPolicy(`{"Effect":"Allow","Actions":["*"],"Resources":["*"]}`)
		offsetToken := func(t *testing.T, userID string, offset int) string {
			t.Helper()
			r := f.gs2Send(t, gs2Call{path: "/gs2/auth/timeoffset/token", body: tkoJSON(t, map[string]any{"userId": userID, "timeOffset": offset}), header: hdr})
			if r.Status != http.StatusOK || r.str("token") == "" {
				t.Fatalf("timeoffset/token: %d %s", r.Status, r.Raw)
			}
			return r.str("token")
		}
		playerOffset, operatorOffset := offsetToken(t, "player-1", 7200), offsetToken(t, "operator", 3600)
		with := func(k, v string) map[string]string {
			h := tkoAs(hdr, "")
			h[k] = v
			return h
		}
		player := tkoAs(nil, "")
		player["Authorization"] = "Bearer " + f.tkoPlayer(t, hdr, "someone")

		for _, tc := range []struct {
			name   string
			body   map[string]any
			header map[string]string
			status int
			field  string // the field refused
			offset int    // the token's timeOffset on success
		}{
			{"bad JSON policy", map[string]any{"policyDocument": `{"Version":`}, hdr, http.StatusBadRequest, "policyDocument", 0},
			{"policy with data after it", map[string]any{"policyDocument": valid + "{}"}, hdr, http.StatusBadRequest, "policyDocument", 0},
			{"wrong Version", map[string]any{"policyDocument": strings.Replace(valid, "2016-04-01", "2012-10-17", 1)}, hdr, http.StatusBadRequest, "policyDocument", 0},
			{"empty Statements", map[string]any{"policyDocument": fedPolicy()}, hdr, http.StatusBadRequest, "policyDocument", 0},
			{"Effect Maybe", map[string]any{"policyDocument": fedPolicy(`{"Effect":"Maybe","Actions":["*"],"Resources":["*"]}`)}, hdr, http.StatusBadRequest, "policyDocument", 0},
			{"empty Actions", map[string]any{"policyDocument": fedPolicy(`{"Effect":"Allow","Actions":[],"Resources":["*"]}`)}, hdr, http.StatusBadRequest, "policyDocument", 0},
			{"policy as a JSON object", map[string]any{"policyDocument": map[string]any{"Version": "2016-04-01"}}, hdr, http.StatusBadRequest, "policyDocument", 0},
			{"no originalUserId", map[string]any{"originalUserId": fedOmit, "policyDocument": valid}, hdr, http.StatusBadRequest, "originalUserId", 0},
			{"originalUserId null", map[string]any{"originalUserId": nil, "policyDocument": valid}, hdr, http.StatusBadRequest, "originalUserId", 0},
			{"originalUserId empty", map[string]any{"originalUserId": "", "policyDocument": valid}, hdr, http.StatusBadRequest, "originalUserId", 0},
			{"originalUserId of 129 characters", map[string]any{"originalUserId": strings.Repeat("o", 129)}, hdr, http.StatusBadRequest, "originalUserId", 0},
			{"no userId", map[string]any{"userId": fedOmit}, hdr, http.StatusBadRequest, "userId", 0},
			{"timeOffset -1", map[string]any{"timeOffset": -1}, hdr, http.StatusBadRequest, "timeOffset", 0},
			{"time-offset token of another user", map[string]any{"userId": "player-2"}, with("X-GS2-TIME-OFFSET-TOKEN", playerOffset), http.StatusBadRequest, "timeOffsetToken", 0},
			{"time-offset token of originalUserId", map[string]any{}, with("X-GS2-TIME-OFFSET-TOKEN", operatorOffset), http.StatusBadRequest, "timeOffsetToken", 0},
			{"no project token", map[string]any{}, nil, http.StatusUnauthorized, "accessToken", 0},
			{"a player's token as project token", map[string]any{}, player, http.StatusUnauthorized, "accessToken", 0},
			{"no policyDocument", map[string]any{}, hdr, http.StatusOK, "", 0},
			{"policyDocument null", map[string]any{"policyDocument": nil, "timeOffset": 60}, hdr, http.StatusOK, "", 60},
			{"time-offset token of userId", map[string]any{"timeOffset": 5}, with("X-GS2-TIME-OFFSET-TOKEN", playerOffset), http.StatusOK, "", 7200},
		} {
			t.Run(tc.name, func(t *testing.T) {
				body := map[string]any{"originalUserId": "operator", "userId": "player-1"}
				for k, v := range tc.body {
					body[k] = v
					if v == fedOmit {
						delete(body, k)
					}
				}
				r := f.fedFederate(t, tc.header, body)
				if tc.status != http.StatusOK {
					it := checkGS2Error(t, r, tc.status, "accessToken")
					if !strings.Contains(it.Message, "."+tc.field+".error.") {
						t.Errorf("message %q does not name %s", it.Message, tc.field)
					}
					return
				}
				if r.Status != http.StatusOK {
					t.Fatalf("%d %s", r.Status, r.Raw)
				}
				c := jwtPayload(t, r.str("token"))
				if _, ok := c["federationPolicy"]; ok {
					t.Errorf("federationPolicy %v without a policy", c["federationPolicy"])
				}
				if c["federationFromUserId"] != "operator" || c["userId"] != "player-1" || c["timeOffset"] != float64(tc.offset) {
					t.Errorf("claims %v", c)
				}
				// Unrestricted: any action is allowed.
				if ok, err := f.svc.GS2Auth.Allowed(t.Context(), r.str("token"), "Gs2Anything:Do", "grn:anything"); err != nil || !ok {
					t.Errorf("Broker.Allowed = %v, %v", ok, err)
				}
			})
		}

		// GS2's bound on a policy is 524,288 characters (sent with the
		// server's default body limit; the harness's is smaller).
		wide := f.fedWide(t)
		t.Run("policy of 524288 characters", func(t *testing.T) {
			doc := valid + strings.Repeat(" ", 524288-len(valid))
			r := wide.fedFederate(t, hdr, map[string]any{"originalUserId": "operator", "userId": "player-1", "policyDocument": doc})
			if r.Status != http.StatusOK {
				t.Fatalf("%d %.300s", r.Status, r.Raw)
			}
			if got := jwtPayload(t, r.str("token"))["federationPolicy"]; got != fedPolicyHash(doc) {
				t.Errorf("federationPolicy %v, want %s", got, fedPolicyHash(doc))
			}
			if ok, err := f.svc.GS2Auth.Allowed(t.Context(), r.str("token"), "Gs2Account:GetTakeOver", "grn:x"); err != nil || !ok {
				t.Errorf("Broker.Allowed = %v, %v", ok, err)
			}
		})
		t.Run("policy of 524288 characters, some of two bytes", func(t *testing.T) {
			// GS2 counts characters (as the broker does for userId and
			// userIdentifier); 1,000 of these are two bytes of UTF-8.
			multi := fedPolicy(`{"Effect":"Allow","Actions":["*"],"Resources":["grn:` + strings.Repeat("é", 1000) + `"]}`)
			doc := multi + strings.Repeat(" ", 524288-utf8.RuneCountInString(multi))
			r := wide.fedFederate(t, hdr, map[string]any{"originalUserId": "operator", "userId": "player-1", "policyDocument": doc})
			if r.Status != http.StatusOK {
				t.Fatalf("%d %.300s", r.Status, r.Raw)
			}
			if got := jwtPayload(t, r.str("token"))["federationPolicy"]; got != fedPolicyHash(doc) {
				t.Errorf("federationPolicy %v, want %s", got, fedPolicyHash(doc))
			}
		})
		t.Run("policy of 524289 characters", func(t *testing.T) {
			doc := valid + strings.Repeat(" ", 524289-len(valid))
			r := wide.fedFederate(t, hdr, map[string]any{"originalUserId": "operator", "userId": "player-1", "policyDocument": doc})
			if it := checkGS2Error(t, r, http.StatusBadRequest, "accessToken"); it.Message != "auth.accessToken.policyDocument.error.invalid" {
				t.Errorf("message %q", it.Message)
			}
		})
	})
}
