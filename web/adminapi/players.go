package adminapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/admin"
)

// players serves support's calls on players.
type players struct{ svc *admin.Players }

// find finds players by a linked identity (?slot=&identifier=) or by a
// nickname prefix (?nickname=).
func (p players) find(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	q := r.URL.Query()
	if nick := q.Get("nickname"); nick != "" {
		pg, err := page(r)
		if err != nil {
			return err
		}
		out, err := p.svc.FindByNickname(r.Context(), a, nick, pg)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, listOf(out.Users, userOut, out.Next))
		return nil
	}
	if q.Get("slot") == "" && q.Get("identifier") == "" {
		return broker.Invalid("", "find players by slot and identifier, or by nickname")
	}
	slot, err := strconv.Atoi(q.Get("slot"))
	if err != nil {
		return broker.Invalid("slot", "slot must be a number 0..1024")
	}
	users, err := p.svc.FindByLink(r.Context(), a, slot, q.Get("identifier"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(users, userOut, ""))
	return nil
}

func (p players) get(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	u, err := p.svc.Player(r.Context(), a, vars(r)["user"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, userOut(u))
	return nil
}

func (p players) listLinks(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	links, err := p.svc.Links(r.Context(), a, vars(r)["user"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(links, func(l broker.Link) linkJSON {
		return linkJSON{Slot: l.Slot, Identifier: l.Identifier, HasPassword: l.PasswordHash != nil, CreatedAt: l.CreatedAt.UTC()}
	}, ""))
	return nil
}

func (p players) deleteLink(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	slot, err := strconv.Atoi(vars(r)["slot"])
	if err != nil {
		return broker.Invalid("slot", "slot must be a number 0..1024")
	}
	if err := p.svc.Unlink(r.Context(), a, vars(r)["user"], slot); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (p players) listSessions(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	sessions, err := p.svc.Sessions(r.Context(), a, vars(r)["user"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(sessions, func(s broker.Session) sessionJSON {
		return sessionJSON{ID: s.FamilyID, ClientID: s.ClientID, CreatedAt: s.CreatedAt.UTC(),
			LastUsedAt: s.LastUsedAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(), DPoPBound: s.Bound}
	}, ""))
	return nil
}

func (p players) revokeSession(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	if err := p.svc.RevokeSession(r.Context(), a, vars(r)["user"], vars(r)["session"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (p players) revokeSessions(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	if err := p.svc.RevokeSessions(r.Context(), a, vars(r)["user"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (p players) listBans(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	bans, err := p.svc.Bans(r.Context(), a, vars(r)["user"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(bans, banOut, ""))
	return nil
}

func banOut(b broker.Ban) banJSON {
	return banJSON{Name: b.Name, Reason: b.Reason, ReleaseAt: b.ReleaseAt.UTC(), CreatedAt: b.CreatedAt.UTC()}
}

func (p players) ban(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	var in struct {
		Name      string    `json:"name"`
		Reason    string    `json:"reason"`
		ReleaseAt time.Time `json:"release_at"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.ReleaseAt.IsZero() {
		return broker.Invalid("release_at", "release_at is required (RFC 3339)")
	}
	b, err := p.svc.Ban(r.Context(), a, vars(r)["user"], in.Name, in.Reason, in.ReleaseAt)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, banOut(b))
	return nil
}

// unban lifts the ban named in the path, or every ban of the player.
func (p players) unban(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	n, err := p.svc.Unban(r.Context(), a, vars(r)["user"], vars(r)["name"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Lifted int64 `json:"lifted"`
	}{n})
	return nil
}

func (p players) listAttributes(w http.ResponseWriter, r *http.Request, a admin.Actor) error {
	attrs, err := p.svc.Attributes(r.Context(), a, vars(r)["user"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(attrs, func(at broker.Attribute) attributeJSON {
		return attributeJSON{Key: at.Key, Value: at.Value, Type: at.Type, Permission: at.Permission,
			ReadOnly: at.ReadOnly, UpdatedAt: at.UpdatedAt.UTC()}
	}, ""))
	return nil
}
