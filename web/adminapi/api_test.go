package adminapi_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// TestAdminAuthentication: every refusal is 401 or 403 with
// WWW-Authenticate, and a failed authentication is in the audit trail.
func TestAdminAuthentication(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		player := f.player("p-auth")
		deleted := f.clientToken(broker.ClientSpec{Namespace: "admin", Name: "gone",
			Grants: []string{broker.GrantClientCredentials}, Scopes: []string{"bridgekeeper:admin"}}, "bridgekeeper:admin")
		gone := f.want(f.call(f.admin, http.MethodGet, "/admin/v1/clients?namespace=admin", nil), http.StatusOK, "clients")
		for _, c := range gone.items() {
			if c["name"] == "gone" {
				f.want(f.call(f.admin, http.MethodDelete, "/admin/v1/clients/"+c["client_id"].(string), nil), http.StatusNoContent, "delete")
			}
		}
		for _, c := range []struct {
			name, token, code string
			status            int
		}{
			{"there is no token", "", "invalid_token", http.StatusUnauthorized},
			{"the token is garbage", "not-a-token", "invalid_token", http.StatusUnauthorized},
			{"the token is a player's", player.AccessToken, "invalid_token", http.StatusUnauthorized},
			{"the token lacks the admin scope", f.noScope, "insufficient_scope", http.StatusForbidden},
			{"the admin client was deleted", deleted, "invalid_token", http.StatusUnauthorized},
		} {
			t.Run("should fail because "+c.name, func(t *testing.T) {
				a := f.call(c.token, http.MethodGet, "/admin/v1/namespaces", nil)
				f.wantError(a, c.status, c.code, "", c.name)
				if !strings.HasPrefix(a.Header.Get("WWW-Authenticate"), "Bearer ") {
					t.Errorf("WWW-Authenticate = %q", a.Header.Get("WWW-Authenticate"))
				}
				if c.token != "" {
					f.wantEvent(broker.AuditAdminAuthFailed, "unknown", "")
				}
			})
		}
	})
}

// TestAdminNamespacesAndClients: the namespace and client calls, for the
// admin of every namespace and for one limited to its own.
func TestAdminNamespacesAndClients(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		names := func(a answer) []string {
			var out []string
			for _, it := range a.items() {
				out = append(out, it["name"].(string))
			}
			return out
		}
		all := f.want(f.call(f.admin, http.MethodGet, "/admin/v1/namespaces", nil), http.StatusOK, "namespaces")
		if got := names(all); !slices.Equal(got, []string{"admin", "game", "other"}) {
			t.Errorf("the admin's namespaces: %v", got)
		}
		own := f.want(f.call(f.limited, http.MethodGet, "/admin/v1/namespaces", nil), http.StatusOK, "namespaces")
		if got := names(own); !slices.Equal(got, []string{"game"}) {
			t.Errorf("the game admin's namespaces: %v", got)
		}

		created := f.want(f.call(f.admin, http.MethodPost, "/admin/v1/namespaces", map[string]string{"name": "season-2"}), http.StatusCreated, "create namespace")
		f.wantEvent(broker.AuditNamespaceCreate, "client:", "season-2")
		dup := f.call(f.admin, http.MethodPost, "/admin/v1/namespaces", map[string]string{"name": "season-2"})
		f.wantError(dup, http.StatusConflict, "conflict", "", "a taken name")
		if !strings.Contains(dup.str("error_description"), "already exists (id "+created.str("id")+")") {
			t.Errorf("a taken name: %s", dup.Raw)
		}
		f.wantError(f.call(f.admin, http.MethodPost, "/admin/v1/namespaces", map[string]string{"name": "a b"}), http.StatusBadRequest, "invalid_request", "name", "a bad name")
		f.wantError(f.call(f.limited, http.MethodPost, "/admin/v1/namespaces", map[string]string{"name": "mine"}), http.StatusForbidden, "access_denied", "", "a limited admin creating a namespace")
		if got := f.want(f.call(f.admin, http.MethodGet, "/admin/v1/namespaces/season-2", nil), http.StatusOK, "get by name"); got.str("id") != created.str("id") {
			t.Errorf("get by name: %s", got.Raw)
		}
		f.wantError(f.call(f.limited, http.MethodGet, "/admin/v1/namespaces/other", nil), http.StatusNotFound, "not_found", "", "another namespace, limited")

		// Clients: create (the secret once), read, change, rotate, delete.
		c := f.want(f.call(f.limited, http.MethodPost, "/admin/v1/clients", map[string]any{
			"name": "matchmaker", "grants": []string{"client_credentials"}, "scopes": []string{"match"}, "access_ttl_seconds": 600,
		}), http.StatusCreated, "create client")
		id, secret := c.str("client_id"), c.str("client_secret")
		if secret == "" || c.str("namespace_id") != f.game.ID || c.Body["access_ttl_seconds"] != float64(600) {
			t.Fatalf("create client: %s", c.Raw)
		}
		f.wantEvent(broker.AuditClientCreate, "client:", id)
		if got := f.want(f.call(f.admin, http.MethodGet, "/admin/v1/clients/"+id, nil), http.StatusOK, "get client"); got.str("client_secret") != "" || got.str("name") != "matchmaker" {
			t.Errorf("get client shows: %s", got.Raw)
		}
		f.wantError(f.call(f.limited, http.MethodPost, "/admin/v1/clients", map[string]any{"namespace": "other", "name": "x", "grants": []string{"client_credentials"}}),
			http.StatusForbidden, "access_denied", "", "a limited admin creating a client elsewhere")
		f.wantError(f.call(f.admin, http.MethodPost, "/admin/v1/clients", map[string]any{"namespace": "game", "name": "x", "grants": []string{"password"}}),
			http.StatusBadRequest, "invalid_request", "", "an unknown grant")
		f.wantError(f.call(f.admin, http.MethodPost, "/admin/v1/clients", map[string]any{"namespace": "game", "nmae": "x"}),
			http.StatusBadRequest, "invalid_request", "", "a misspelt field")

		upd := f.want(f.call(f.admin, http.MethodPatch, "/admin/v1/clients/"+id, map[string]any{"rate_limit": 5, "redirect_uris": []string{"https://game.example/cb"}}), http.StatusOK, "update")
		if upd.Body["rate_limit"] != float64(5) || upd.str("name") != "matchmaker" {
			t.Errorf("update: %s", upd.Raw)
		}
		f.wantEvent(broker.AuditClientUpdate, "client:", id)
		f.wantError(f.call(f.admin, http.MethodPatch, "/admin/v1/clients/"+id, map[string]any{"namespace": "other"}), http.StatusBadRequest, "invalid_request", "namespace", "moving a client")

		rotated := f.want(f.call(f.admin, http.MethodPost, "/admin/v1/clients/"+id+"/secret", nil), http.StatusOK, "rotate secret")
		f.wantEvent(broker.AuditClientSecret, "client:", id)
		ctx := context.Background()
		if _, err := f.broker.AuthenticateClient(ctx, id, secret); err == nil {
			t.Error("the old secret still authenticates")
		}
		if _, err := f.broker.AuthenticateClient(ctx, id, rotated.str("client_secret")); err != nil {
			t.Errorf("the new secret: %v", err)
		}

		// The limited admin sees its namespace's clients only.
		otherClient := f.want(f.call(f.admin, http.MethodPost, "/admin/v1/clients", map[string]any{"namespace": "other", "name": "o", "grants": []string{"client_credentials"}}), http.StatusCreated, "create in other")
		f.wantError(f.call(f.limited, http.MethodGet, "/admin/v1/clients/"+otherClient.str("client_id"), nil), http.StatusNotFound, "not_found", "", "another namespace's client")
		f.wantError(f.call(f.limited, http.MethodDelete, "/admin/v1/clients/"+otherClient.str("client_id"), nil), http.StatusNotFound, "not_found", "", "deleting another namespace's client")
		for _, it := range f.want(f.call(f.limited, http.MethodGet, "/admin/v1/clients", nil), http.StatusOK, "limited list").items() {
			if it["namespace_id"] != f.game.ID {
				t.Errorf("the limited admin lists %v", it)
			}
		}

		f.want(f.call(f.admin, http.MethodDelete, "/admin/v1/clients/"+id, nil), http.StatusNoContent, "delete")
		f.wantEvent(broker.AuditClientDelete, "client:", id)
		f.wantError(f.call(f.admin, http.MethodGet, "/admin/v1/clients/"+id, nil), http.StatusNotFound, "not_found", "", "a deleted client")
	})
}

// TestAdminPaging: pages of every size list every client once, in order,
// and bad paging parameters are refused by name.
func TestAdminPaging(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		for i := range 5 {
			f.want(f.call(f.admin, http.MethodPost, "/admin/v1/clients", map[string]any{"namespace": "paged", "name": "c" + strconv.Itoa(i),
				"grants": []string{"client_credentials"}}), http.StatusCreated, "create")
		}
		want := f.want(f.call(f.admin, http.MethodGet, "/admin/v1/clients?namespace=paged&limit=1000", nil), http.StatusOK, "all").items()
		if len(want) != 5 {
			t.Fatalf("%d clients, want 5", len(want))
		}
		for _, size := range []int{1, 2, 4, 5} {
			var got []map[string]any
			token := ""
			for range 10 {
				a := f.want(f.call(f.admin, http.MethodGet, "/admin/v1/clients?namespace=paged&limit="+strconv.Itoa(size)+"&page_token="+url.QueryEscape(token), nil), http.StatusOK, "page")
				got = append(got, a.items()...)
				if token = a.str("next_page_token"); token == "" {
					break
				}
			}
			if len(got) != len(want) {
				t.Fatalf("pages of %d listed %d clients, want %d", size, len(got), len(want))
			}
			for i := range got {
				if got[i]["client_id"] != want[i]["client_id"] {
					t.Errorf("pages of %d: item %d is %v, want %v", size, i, got[i]["client_id"], want[i]["client_id"])
				}
			}
		}
		for _, c := range []struct{ name, query, field string }{
			{"limit is 0", "limit=0", "limit"},
			{"limit is over 1000", "limit=1001", "limit"},
			{"limit is no number", "limit=ten", "limit"},
			{"the page token is not ours", "page_token=%25%25", "page_token"},
		} {
			f.wantError(f.call(f.admin, http.MethodGet, "/admin/v1/clients?"+c.query, nil), http.StatusBadRequest, "invalid_request", c.field, "should fail because "+c.name)
		}
	})
}

// TestAdminPlayers: support's calls on a player, each audited, and their
// effect on the player's next refresh and login.
func TestAdminPlayers(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		first, second := f.player("steam-76561198000000042"), f.player("steam-76561198000000042")
		user := first.UserID
		if err := f.store.SetNickname(ctx, user, "Hero_42"); err != nil {
			t.Fatal(err)
		}
		base := "/admin/v1/players/" + user
		slot := strconv.Itoa(f.server.CustomIDSlot)

		found := f.want(f.call(f.admin, http.MethodGet, "/admin/v1/players?slot="+slot+"&identifier=steam-76561198000000042", nil), http.StatusOK, "find by link").items()
		if len(found) != 1 || found[0]["user_id"] != user {
			t.Fatalf("find by link: %v", found)
		}
		byNick := f.want(f.call(f.limited, http.MethodGet, "/admin/v1/players?nickname=Hero_", nil), http.StatusOK, "find by nickname").items()
		if len(byNick) != 1 || byNick[0]["nickname"] != "Hero_42" {
			t.Errorf("find by nickname: %v", byNick)
		}
		f.wantError(f.call(f.admin, http.MethodGet, "/admin/v1/players?slot=2000&identifier=x", nil), http.StatusBadRequest, "invalid_request", "slot", "a slot out of range")
		f.wantError(f.call(f.admin, http.MethodGet, "/admin/v1/players", nil), http.StatusBadRequest, "invalid_request", "", "no search")

		if got := f.want(f.call(f.admin, http.MethodGet, base, nil), http.StatusOK, "get").str("namespace_id"); got != f.game.ID {
			t.Errorf("player's namespace %q", got)
		}
		links := f.want(f.call(f.admin, http.MethodGet, base+"/links", nil), http.StatusOK, "links").items()
		if len(links) != 1 || links[0]["identifier"] != "steam-76561198000000042" {
			t.Errorf("links: %v", links)
		}

		sessions := f.want(f.call(f.admin, http.MethodGet, base+"/sessions", nil), http.StatusOK, "sessions").items()
		if len(sessions) != 2 || sessions[0]["client_id"] != f.server.ID {
			t.Fatalf("sessions: %v", sessions)
		}
		// Revoke the newest session: its refresh is refused, the other's works.
		revoked := sessions[0]["session_id"].(string)
		f.want(f.call(f.admin, http.MethodDelete, base+"/sessions/"+revoked, nil), http.StatusNoContent, "revoke session")
		f.wantEvent(broker.AuditSessionRevoke, "client:", revoked)
		if _, err := f.broker.Refresh(ctx, f.server, second.RefreshToken, nil, broker.Binding{}); err == nil {
			t.Error("the revoked session still refreshes")
		}
		kept, err := f.broker.Refresh(ctx, f.server, first.RefreshToken, nil, broker.Binding{})
		if err != nil {
			t.Fatalf("the other session: %v", err)
		}
		f.wantError(f.call(f.admin, http.MethodDelete, base+"/sessions/"+revoked, nil), http.StatusNotFound, "not_found", "", "a revoked session again")

		// Ban: listed, logins refused; unban lifts it.
		release := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		f.want(f.call(f.limited, http.MethodPost, base+"/bans", map[string]any{"name": "cheating", "reason": "aimbot", "release_at": release}), http.StatusCreated, "ban")
		f.wantEvent(broker.AuditBan, "client:", "cheating")
		bans := f.want(f.call(f.admin, http.MethodGet, base+"/bans", nil), http.StatusOK, "bans").items()
		if len(bans) != 1 || bans[0]["reason"] != "aimbot" || bans[0]["release_at"] != release.Format(time.RFC3339) {
			t.Errorf("bans: %v", bans)
		}
		if _, err := f.broker.Refresh(ctx, f.server, kept.RefreshToken, nil, broker.Binding{}); err == nil {
			t.Error("a banned player still refreshes")
		}
		f.wantError(f.call(f.admin, http.MethodPost, base+"/bans", map[string]any{"name": "x", "release_at": time.Now().Add(-time.Hour)}), http.StatusBadRequest, "invalid_request", "release_at", "a release in the past")
		if a := f.want(f.call(f.admin, http.MethodDelete, base+"/bans/cheating", nil), http.StatusOK, "unban"); a.Body["lifted"] != float64(1) {
			t.Errorf("unban: %s", a.Raw)
		}
		f.wantEvent(broker.AuditUnban, "client:", "cheating")
		f.wantError(f.call(f.admin, http.MethodDelete, base+"/bans", nil), http.StatusNotFound, "not_found", "", "unbanning a player without bans")

		// Revoke every session.
		again := f.player("steam-76561198000000042")
		f.want(f.call(f.admin, http.MethodDelete, base+"/sessions", nil), http.StatusNoContent, "revoke all")
		f.wantEvent(broker.AuditSessionsRevoke, "client:", "")
		if _, err := f.broker.Refresh(ctx, f.server, again.RefreshToken, nil, broker.Binding{}); err == nil {
			t.Error("a session survived revoke-all")
		}
		if left := f.want(f.call(f.admin, http.MethodGet, base+"/sessions", nil), http.StatusOK, "sessions").items(); len(left) != 0 {
			t.Errorf("sessions after revoke-all: %v", left)
		}

		if attrs := f.want(f.call(f.admin, http.MethodGet, base+"/attributes", nil), http.StatusOK, "attributes"); len(attrs.items()) != 0 {
			t.Errorf("attributes: %s", attrs.Raw)
		}
		// The custom-ID link is the player's only way in.
		f.wantError(f.call(f.admin, http.MethodDelete, base+"/links/"+slot, nil), http.StatusConflict, "conflict", "", "removing the last link")
		f.wantError(f.call(f.admin, http.MethodDelete, base+"/links/999", nil), http.StatusNotFound, "not_found", "", "an empty slot")

		// An admin of another namespace knows nothing of the player.
		otherAdmin := f.clientToken(broker.ClientSpec{Namespace: "other", Name: "other ops",
			Grants: []string{broker.GrantClientCredentials}, Scopes: []string{"bridgekeeper:admin"}}, "bridgekeeper:admin")
		for _, path := range []string{base, base + "/links", base + "/sessions", base + "/bans", base + "/attributes"} {
			f.wantError(f.call(otherAdmin, http.MethodGet, path, nil), http.StatusNotFound, "not_found", "", "another namespace's player "+path)
		}
		f.wantError(f.call(otherAdmin, http.MethodPost, base+"/bans", map[string]any{"name": "x", "release_at": release}), http.StatusNotFound, "not_found", "", "banning another namespace's player")
		if found := f.want(f.call(otherAdmin, http.MethodGet, "/admin/v1/players?slot="+slot+"&identifier=steam-76561198000000042", nil), http.StatusOK, "find elsewhere").items(); len(found) != 0 {
			t.Errorf("another namespace's admin finds %v", found)
		}

		// The player's trail, newest first, and filtered by type.
		trail := f.want(f.call(f.admin, http.MethodGet, "/admin/v1/audit?user="+user, nil), http.StatusOK, "audit").items()
		var types []string
		for _, e := range trail {
			types = append(types, e["type"].(string))
		}
		wantTypes := []string{broker.AuditSessionsRevoke, broker.AuditUnban, broker.AuditBan, broker.AuditSessionRevoke}
		if !slices.Equal(types, wantTypes) {
			t.Errorf("the player's trail: %v, want %v", types, wantTypes)
		}
		if bans := f.want(f.call(f.limited, http.MethodGet, "/admin/v1/audit?user="+user+"&type=user.ban", nil), http.StatusOK, "audit by type").items(); len(bans) != 1 {
			t.Errorf("the game admin's ban events: %v", bans)
		}
		if none := f.want(f.call(otherAdmin, http.MethodGet, "/admin/v1/audit?user="+user, nil), http.StatusOK, "audit elsewhere").items(); len(none) != 0 {
			t.Errorf("another namespace's admin reads %v", none)
		}
		f.wantError(f.call(f.admin, http.MethodGet, "/admin/v1/audit?type=nonsense", nil), http.StatusBadRequest, "invalid_request", "type", "an unknown event type")
		f.wantError(f.call(f.admin, http.MethodGet, "/admin/v1/audit?since=yesterday", nil), http.StatusBadRequest, "invalid_request", "since", "a bad since")
		future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		if later := f.want(f.call(f.admin, http.MethodGet, "/admin/v1/audit?since="+future, nil), http.StatusOK, "audit since").items(); len(later) != 0 {
			t.Errorf("events after an hour from now: %v", later)
		}
	})
}

// TestAdminKeys: the keys with their states; a rotation retires the
// active key, which stays published. Only an admin of every namespace.
func TestAdminKeys(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		before := f.want(f.call(f.admin, http.MethodGet, "/admin/v1/keys", nil), http.StatusOK, "keys").items()
		if len(before) != 1 || before[0]["state"] != "active" {
			t.Fatalf("keys: %v", before)
		}
		k := f.want(f.call(f.admin, http.MethodPost, "/admin/v1/keys", map[string]any{"alg": "EdDSA"}), http.StatusCreated, "rotate")
		if k.str("alg") != "EdDSA" || k.str("state") != "active" {
			t.Errorf("the new key: %s", k.Raw)
		}
		f.wantEvent(broker.AuditKeyRotate, "client:", k.str("kid"))
		after := f.want(f.call(f.admin, http.MethodGet, "/admin/v1/keys", nil), http.StatusOK, "keys").items()
		if len(after) != 2 || after[0]["state"] != "retired" || after[0]["publish_until"] == nil || after[1]["kid"] != k.str("kid") {
			t.Errorf("keys after rotation: %v", after)
		}
		f.wantError(f.call(f.admin, http.MethodPost, "/admin/v1/keys", map[string]any{"alg": "HS256"}), http.StatusBadRequest, "invalid_request", "", "an unknown alg")
		f.wantError(f.call(f.limited, http.MethodGet, "/admin/v1/keys", nil), http.StatusForbidden, "access_denied", "", "a limited admin listing keys")
		f.wantError(f.call(f.limited, http.MethodPost, "/admin/v1/keys", nil), http.StatusForbidden, "access_denied", "", "a limited admin rotating")
		f.wantError(f.call(f.admin, http.MethodGet, "/admin/v1/nothing", nil), http.StatusNotFound, "not_found", "", "an unknown call")
	})
}
