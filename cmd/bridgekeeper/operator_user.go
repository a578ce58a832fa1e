package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/admin"
)

// playerOut is a player as the CLI shows it, with what support asks about.
type playerOut struct {
	ID          string          `json:"user_id"`
	NamespaceID string          `json:"namespace_id"`
	Nickname    string          `json:"nickname,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	Links       []linkOut       `json:"links"`
	Bans        []banOut        `json:"bans"`
	Sessions    []sessionOut    `json:"sessions"`
	Attributes  []attributeOut  `json:"attributes"`
	Events      []auditEventOut `json:"recent_events"`
}

type linkOut struct {
	Slot       int       `json:"slot"`
	Identifier string    `json:"identifier"`
	CreatedAt  time.Time `json:"created_at"`
}

type banOut struct {
	Name      string    `json:"name"`
	Reason    string    `json:"reason"`
	ReleaseAt time.Time `json:"release_at"`
}

type sessionOut struct {
	ID         string    `json:"session_id"`
	ClientID   string    `json:"client_id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

type attributeOut struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type auditEventOut struct {
	At     time.Time `json:"at"`
	Type   string    `json:"type"`
	Actor  string    `json:"actor"`
	Target string    `json:"target,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

func userShow(ctx context.Context, args []string, e env) error {
	o := newOperatorCommand("user show", e)
	user := o.s.fs.String("user", "", "user ID (required)")
	svc, closeStore, err := o.open(ctx, args, e, required("user", user))
	if err != nil {
		return err
	}
	defer closeStore()
	out, err := player(ctx, svc, *user)
	if err != nil {
		return friendly(err)
	}
	return o.print(e, out, func(w io.Writer) {
		fmt.Fprintf(w, "user_id:\t%s\nnamespace_id:\t%s\nnickname:\t%s\ncreated:\t%s\n", out.ID, out.NamespaceID, out.Nickname, out.CreatedAt.Format(time.RFC3339))
		for _, l := range out.Links {
			fmt.Fprintf(w, "link:\tslot %d\t%s\n", l.Slot, l.Identifier)
		}
		for _, b := range out.Bans {
			fmt.Fprintf(w, "ban:\t%s until %s\t%s\n", b.Name, b.ReleaseAt.Format(time.RFC3339), b.Reason)
		}
		for _, s := range out.Sessions {
			fmt.Fprintf(w, "session:\t%s\tclient %s, last used %s\n", s.ID, s.ClientID, s.LastUsedAt.Format(time.RFC3339))
		}
		for _, a := range out.Attributes {
			fmt.Fprintf(w, "attribute:\t%s = %s\n", a.Key, a.Value)
		}
		for _, ev := range out.Events {
			fmt.Fprintf(w, "event:\t%s %s\tby %s %s\n", ev.At.Format(time.RFC3339), ev.Type, ev.Actor, ev.Target)
		}
	})
}

// player gathers what support sees of a player.
func player(ctx context.Context, svc *admin.Service, userID string) (playerOut, error) {
	a, p := cliActor(), svc.Players
	u, err := p.Player(ctx, a, userID)
	if err != nil {
		return playerOut{}, err
	}
	out := playerOut{ID: u.ID, NamespaceID: u.NamespaceID, Nickname: u.Nickname, CreatedAt: u.CreatedAt.UTC(),
		Links: []linkOut{}, Bans: []banOut{}, Sessions: []sessionOut{}, Attributes: []attributeOut{}, Events: []auditEventOut{}}
	links, err := p.Links(ctx, a, userID)
	if err != nil {
		return playerOut{}, err
	}
	for _, l := range links {
		out.Links = append(out.Links, linkOut{l.Slot, l.Identifier, l.CreatedAt.UTC()})
	}
	bans, err := p.Bans(ctx, a, userID)
	if err != nil {
		return playerOut{}, err
	}
	for _, b := range bans {
		out.Bans = append(out.Bans, banOut{b.Name, b.Reason, b.ReleaseAt.UTC()})
	}
	if out.Sessions, err = sessions(ctx, svc, userID); err != nil {
		return playerOut{}, err
	}
	attrs, err := p.Attributes(ctx, a, userID)
	if err != nil {
		return playerOut{}, err
	}
	for _, at := range attrs {
		out.Attributes = append(out.Attributes, attributeOut{at.Key, at.Value})
	}
	events, err := svc.Tenants.Audit(ctx, a, admin.AuditFilter{UserID: userID}, admin.Page{Limit: 10})
	if err != nil {
		return playerOut{}, err
	}
	for _, ev := range events.Events {
		out.Events = append(out.Events, eventRow(ev))
	}
	return out, nil
}

func eventRow(ev broker.AuditEvent) auditEventOut {
	return auditEventOut{At: ev.At.UTC(), Type: ev.Type, Actor: ev.Actor, Target: ev.Target, Detail: ev.Detail}
}

func sessions(ctx context.Context, svc *admin.Service, userID string) ([]sessionOut, error) {
	list, err := svc.Players.Sessions(ctx, cliActor(), userID)
	if err != nil {
		return nil, err
	}
	out := make([]sessionOut, 0, len(list))
	for _, s := range list {
		out = append(out, sessionOut{s.FamilyID, s.ClientID, s.CreatedAt.UTC(), s.LastUsedAt.UTC(), s.ExpiresAt.UTC()})
	}
	return out, nil
}

func userFind(ctx context.Context, args []string, e env) error {
	o := newOperatorCommand("user find", e)
	slot := o.s.fs.Int("slot", -1, "takeover slot of the linked identity (with --identifier), such as a Steam sign-in's")
	identifier := o.s.fs.String("identifier", "", "the linked identity, such as a Steam ID (with --slot)")
	nickname := o.s.fs.String("nickname", "", "nickname prefix (instead of --slot and --identifier)")
	svc, closeStore, err := o.open(ctx, args, e, func() error {
		if (*nickname == "") == (*identifier == "") {
			return errors.New("give --slot and --identifier, or --nickname")
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer closeStore()
	var users []broker.User
	if *nickname != "" {
		page, err := svc.Players.FindByNickname(ctx, cliActor(), *nickname, admin.Page{Limit: admin.MaxLimit})
		if err != nil {
			return friendly(err)
		}
		users = page.Users
	} else if users, err = svc.Players.FindByLink(ctx, cliActor(), *slot, *identifier); err != nil {
		return friendly(err)
	}
	type row struct {
		ID          string `json:"user_id"`
		NamespaceID string `json:"namespace_id"`
		Nickname    string `json:"nickname,omitempty"`
	}
	rows := make([]row, 0, len(users))
	for _, u := range users {
		rows = append(rows, row{u.ID, u.NamespaceID, u.Nickname})
	}
	return o.print(e, rows, func(w io.Writer) {
		fmt.Fprintln(w, "USER ID\tNAMESPACE ID\tNICKNAME")
		for _, r := range rows {
			fmt.Fprintf(w, "%s\t%s\t%s\n", r.ID, r.NamespaceID, r.Nickname)
		}
	})
}

func userSessions(ctx context.Context, args []string, e env) error {
	o := newOperatorCommand("user sessions", e)
	user := o.s.fs.String("user", "", "user ID (required)")
	svc, closeStore, err := o.open(ctx, args, e, required("user", user))
	if err != nil {
		return err
	}
	defer closeStore()
	list, err := sessions(ctx, svc, *user)
	if err != nil {
		return friendly(err)
	}
	return o.print(e, list, func(w io.Writer) {
		fmt.Fprintln(w, "SESSION ID\tCLIENT ID\tCREATED\tLAST USED\tEXPIRES")
		for _, s := range list {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.ID, s.ClientID, s.CreatedAt.Format(time.RFC3339),
				s.LastUsedAt.Format(time.RFC3339), s.ExpiresAt.Format(time.RFC3339))
		}
	})
}

func userRevoke(ctx context.Context, args []string, e env) error {
	o := newOperatorCommand("user revoke", e)
	user := o.s.fs.String("user", "", "user ID (required)")
	session := o.s.fs.String("session", "", "the session to end (from user sessions)")
	all := o.s.fs.Bool("all", false, "end every session of the user, and the access tokens issued so far")
	svc, closeStore, err := o.open(ctx, args, e, func() error {
		if err := required("user", user)(); err != nil {
			return err
		}
		if (*session == "") == !*all {
			return errors.New("give --session ID or --all")
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer closeStore()
	if *all {
		err = svc.Players.RevokeSessions(ctx, cliActor(), *user)
	} else {
		err = svc.Players.RevokeSession(ctx, cliActor(), *user, *session)
	}
	if err != nil {
		return friendly(err)
	}
	what := "session " + *session
	if *all {
		what = "every session"
	}
	return o.print(e, map[string]string{"revoked": strings.TrimPrefix(what, "session ")}, func(w io.Writer) {
		fmt.Fprintf(w, "revoked %s of user %s\n", what, *user)
	})
}

func auditList(ctx context.Context, args []string, e env) error {
	o := newOperatorCommand("audit", e)
	user := o.s.fs.String("user", "", "only events about this user ID")
	typ := o.s.fs.String("type", "", "only events of this type ("+strings.Join(broker.AuditTypes, ", ")+")")
	since := o.s.fs.String("since", "", "only events at or after this RFC 3339 time")
	limit := o.s.fs.Int("limit", 100, "at most this many events, newest first (1..1000)")
	var f admin.AuditFilter
	svc, closeStore, err := o.open(ctx, args, e, func() (err error) {
		f.UserID, f.Type = *user, *typ
		if *since != "" {
			if f.Since, err = time.Parse(time.RFC3339, *since); err != nil {
				return fmt.Errorf("--since: %q is not an RFC 3339 time", *since)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer closeStore()
	page, err := svc.Tenants.Audit(ctx, cliActor(), f, admin.Page{Limit: *limit})
	if err != nil {
		return friendly(err)
	}
	rows := make([]auditEventOut, 0, len(page.Events))
	for _, ev := range page.Events {
		rows = append(rows, eventRow(ev))
	}
	return o.print(e, rows, func(w io.Writer) {
		fmt.Fprintln(w, "AT\tTYPE\tACTOR\tTARGET\tDETAIL")
		for _, r := range rows {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.At.Format(time.RFC3339), r.Type, r.Actor, r.Target, r.Detail)
		}
	})
}
