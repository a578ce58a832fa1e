package console

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/admin"
)

// playerEvents is how many of the player's latest audit events the
// player page shows; the audit page has the rest.
const playerEvents = 20

type playerBody struct {
	User      broker.User
	Namespace string
	// BannedUntil is the latest release of the player's active bans.
	BannedUntil time.Time
	Links       []linkRow
	Sessions    []sessionRow
	Bans        []banRow
	Attributes  []broker.Attribute
	Events      []broker.AuditEvent
	BanFor      []choice
}

type linkRow struct {
	broker.Link
	SlotName string
}

type sessionRow struct {
	broker.Session
	Client string
}

type banRow struct {
	broker.Ban
	Active bool
}

// player is a player's page: who they are, how they sign in, their
// sessions, bans and attributes, and what happened to them lately.
func (c *players) player(w http.ResponseWriter, r *http.Request, v visit) error {
	ctx, a := r.Context(), v.actor
	players := c.cfg.Service.Players
	id := mux.Vars(r)["user"]
	u, err := players.Player(ctx, a, id)
	if err != nil {
		return err
	}
	body := playerBody{User: u, Namespace: c.namespaceNames(ctx, a)(u.NamespaceID), BanFor: banChoices}
	links, err := players.Links(ctx, a, id)
	if err != nil {
		return err
	}
	slots, err := c.slots(ctx, a)
	if err != nil {
		return err
	}
	for _, l := range links {
		body.Links = append(body.Links, linkRow{Link: l, SlotName: slotName(slots, l.Slot)})
	}
	sessions, err := players.Sessions(ctx, a, id)
	if err != nil {
		return err
	}
	clientName := c.clientNames(ctx, a)
	for _, s := range sessions {
		body.Sessions = append(body.Sessions, sessionRow{Session: s, Client: clientName(s.ClientID)})
	}
	bans, err := players.Bans(ctx, a, id)
	if err != nil {
		return err
	}
	now := c.cfg.Now()
	for _, b := range bans {
		body.Bans = append(body.Bans, banRow{Ban: b, Active: b.Active(now)})
		if b.Active(now) && b.ReleaseAt.After(body.BannedUntil) {
			body.BannedUntil = b.ReleaseAt
		}
	}
	if body.Attributes, err = players.Attributes(ctx, a, id); err != nil {
		return err
	}
	events, err := c.cfg.Service.Tenants.Audit(ctx, a, admin.AuditFilter{UserID: id}, admin.Page{Limit: playerEvents})
	if err != nil {
		return err
	}
	body.Events = events.Events
	c.show(w, r, v, "player", "Player "+label(u), "search", body)
	return nil
}

// clientNames names clients by ID for one page, each looked up once.
func (c *players) clientNames(ctx context.Context, a admin.Actor) func(id string) string {
	names := map[string]string{}
	return func(id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		n := id + " (deleted)"
		if cl, err := c.cfg.Service.Tenants.Client(ctx, a, id); err == nil {
			n = cl.Name
		}
		names[id] = n
		return n
	}
}

// label names a player for people: the nickname and the ID.
func label(u broker.User) string {
	if u.Nickname == "" {
		return u.ID
	}
	return u.Nickname + " (" + u.ID + ")"
}

// banChoices are the ban lengths the player page offers; any Go duration
// or an RFC 3339 time ("release_at") is taken too.
var banChoices = []choice{
	{Value: "1h", Label: "1 hour"}, {Value: "24h", Label: "1 day", Selected: true}, {Value: "168h", Label: "7 days"},
	{Value: "720h", Label: "30 days"}, {Value: "8760h", Label: "1 year"}, {Value: "876000h", Label: "indefinitely (100 years)"},
}

// actions are the changes made from a player's page, by the last
// segment of their path under /console/players/{user}/.
func (c *players) actions() map[string]action {
	back := func(r *http.Request) string { return prefix + "/players/" + url.PathEscape(mux.Vars(r)["user"]) }
	players := c.cfg.Service.Players
	// who is the player the action is on.
	who := func(r *http.Request, v visit) (broker.User, error) {
		return players.Player(r.Context(), v.actor, mux.Vars(r)["user"])
	}
	return map[string]action{
		"revoke-session": {
			params: []string{"session"}, back: back,
			prepare: func(r *http.Request, v visit, in url.Values) (confirmation, error) {
				u, err := who(r, v)
				if err != nil {
					return confirmation{}, err
				}
				s, err := c.liveSession(r.Context(), v.actor, u.ID, in.Get("session"))
				if err != nil {
					return confirmation{}, err
				}
				return confirmation{
					Question: "Revoke session " + s.FamilyID + " of player " + label(u) + "?",
					Details: []string{
						"Client: " + c.clientNames(r.Context(), v.actor)(s.ClientID) + "; started " + when(s.CreatedAt) + ", last used " + when(s.LastUsedAt) + ".",
						"Its refresh token stops working at once; its access tokens run out within their lifetime.",
						"The player's other sessions go on.",
					},
					Button: "Revoke session", Danger: true,
				}, nil
			},
			do: func(r *http.Request, v visit, in url.Values) (flash, error) {
				err := players.RevokeSession(r.Context(), v.actor, mux.Vars(r)["user"], in.Get("session"))
				return flash{Text: "Session " + in.Get("session") + " revoked."}, err
			},
		},
		"revoke-sessions": {
			back: back,
			prepare: func(r *http.Request, v visit, _ url.Values) (confirmation, error) {
				u, err := who(r, v)
				if err != nil {
					return confirmation{}, err
				}
				return confirmation{
					Question: "Sign player " + label(u) + " out everywhere?",
					Details: []string{"Every session ends, and every access token issued to the player so far stops being accepted by introspection.",
						"The player can sign in again unless banned."},
					Button: "Revoke all sessions", Danger: true,
				}, nil
			},
			do: func(r *http.Request, v visit, _ url.Values) (flash, error) {
				err := players.RevokeSessions(r.Context(), v.actor, mux.Vars(r)["user"])
				return flash{Text: "Every session of the player was revoked."}, err
			},
		},
		"ban": {
			params: []string{"for", "release_at", "reason", "name"}, back: back,
			prepare: func(r *http.Request, v visit, in url.Values) (confirmation, error) {
				u, err := who(r, v)
				if err != nil {
					return confirmation{}, err
				}
				until, err := c.releaseAt(in)
				if err != nil {
					return confirmation{}, err
				}
				d := []string{"Reason: " + cmp.Or(in.Get("reason"), "(none given)") + ".",
					"Until then the player cannot sign in, authenticate or refresh a session; access tokens already issued run out on their own."}
				if in.Get("name") != "" {
					d = append(d, "A ban named "+in.Get("name")+" is replaced.")
				}
				return confirmation{Question: "Ban player " + label(u) + " until " + when(until) + "?", Details: d, Button: "Ban", Danger: true}, nil
			},
			do: func(r *http.Request, v visit, in url.Values) (flash, error) {
				until, err := c.releaseAt(in)
				if err != nil {
					return flash{}, err
				}
				b, err := players.Ban(r.Context(), v.actor, mux.Vars(r)["user"], in.Get("name"), in.Get("reason"), until)
				return flash{Text: "Banned until " + when(b.ReleaseAt) + " (ban " + b.Name + ")."}, err
			},
		},
		"unban": {
			params: []string{"name"}, back: back,
			prepare: func(r *http.Request, v visit, in url.Values) (confirmation, error) {
				u, err := who(r, v)
				if err != nil {
					return confirmation{}, err
				}
				q := "Lift every ban of player " + label(u) + "?"
				if in.Get("name") != "" {
					q = "Lift ban " + in.Get("name") + " of player " + label(u) + "?"
				}
				return confirmation{Question: q, Details: []string{"The player can sign in again at once, unless another ban holds."}, Button: "Lift"}, nil
			},
			do: func(r *http.Request, v visit, in url.Values) (flash, error) {
				n, err := players.Unban(r.Context(), v.actor, mux.Vars(r)["user"], in.Get("name"))
				return flash{Text: fmt.Sprintf("%d ban(s) lifted.", n)}, err
			},
		},
		"unlink": {
			params: []string{"slot"}, back: back,
			prepare: func(r *http.Request, v visit, in url.Values) (confirmation, error) {
				u, err := who(r, v)
				if err != nil {
					return confirmation{}, err
				}
				l, err := c.link(r.Context(), v.actor, u.ID, in.Get("slot"))
				if err != nil {
					return confirmation{}, err
				}
				return confirmation{
					Question: "Unlink identity " + l.Identifier + " (slot " + strconv.Itoa(l.Slot) + ") from player " + label(u) + "?",
					Details: []string{"The player can no longer sign in with it.",
						"Whoever signs in with that identity next becomes a new player, or can be linked to another one."},
					Button: "Unlink", Danger: true,
				}, nil
			},
			do: func(r *http.Request, v visit, in url.Values) (flash, error) {
				slot, _ := strconv.Atoi(in.Get("slot")) // prepare checked it
				err := players.Unlink(r.Context(), v.actor, mux.Vars(r)["user"], slot)
				return flash{Text: "Identity in slot " + in.Get("slot") + " unlinked."}, err
			},
		},
	}
}

// liveSession is the player's live session id, or not found.
func (c *players) liveSession(ctx context.Context, a admin.Actor, userID, id string) (broker.Session, error) {
	if id == "" {
		return broker.Session{}, broker.Invalid("session", "no session was named")
	}
	sessions, err := c.cfg.Service.Players.Sessions(ctx, a, userID)
	if err != nil {
		return broker.Session{}, err
	}
	for _, s := range sessions {
		if s.FamilyID == id {
			return s, nil
		}
	}
	return broker.Session{}, broker.NotFound("the player has no live session "+id, nil)
}

// link is the player's link in the slot a form names.
func (c *players) link(ctx context.Context, a admin.Actor, userID, slot string) (broker.Link, error) {
	n, err := strconv.Atoi(slot)
	if err != nil {
		return broker.Link{}, broker.Invalid("slot", "the slot must be a number 0..1024")
	}
	links, err := c.cfg.Service.Players.Links(ctx, a, userID)
	if err != nil {
		return broker.Link{}, err
	}
	for _, l := range links {
		if l.Slot == n {
			return l, nil
		}
	}
	return broker.Link{}, broker.NotFound("the player has no link in slot "+slot, nil)
}

// maxBan bounds a ban's length: "indefinitely" is a hundred years.
const maxBan = 100 * 365 * 24 * time.Hour

// releaseAt is when a ban the form asks for ends: "release_at", an RFC 3339
// time, or else "for", a duration from now.
func (c *players) releaseAt(in url.Values) (time.Time, error) {
	if s := in.Get("release_at"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, broker.Invalid("release_at", "give the release time as RFC 3339, such as 2030-01-02T15:04:05Z")
		}
		return t, nil
	}
	d, err := time.ParseDuration(cmp.Or(in.Get("for"), "24h"))
	if err != nil || d <= 0 || d > maxBan+24*time.Hour {
		return time.Time{}, broker.Invalid("for", "the ban's length must be a duration such as 24h, up to 100 years")
	}
	return c.cfg.Now().Add(d), nil
}
