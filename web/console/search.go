package console

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/admin"
)

// Searching finds players by user ID, by a linked identity (a Steam ID, an
// upstream subject, a game's own player ID) or by a nickname prefix. Staff
// rarely know which of these they hold, so by default a search looks
// everywhere: the user ID, an identity in every slot the console knows a
// name for, and nicknames.

type searchBody struct {
	Query    string
	Choices  []choice
	Searched bool
	Results  []result
	// More: the nickname matches were cut at nicknameLimit.
	More bool
}

type choice struct {
	Value, Label string
	Selected     bool
}

type result struct {
	User      broker.User
	Namespace string
	Matched   []string
}

// nicknameLimit bounds the nickname matches one search shows.
const nicknameLimit = 50

// search is the search page, and its results when it has a query.
func (c *players) search(w http.ResponseWriter, r *http.Request, v visit) error {
	ctx := r.Context()
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	in := cmp.Or(r.URL.Query().Get("in"), "any")
	slots, err := c.slots(ctx, v.actor)
	if err != nil {
		return err
	}
	body := searchBody{Query: q, Choices: searchChoices(slots, in)}
	if q != "" {
		body.Searched = true
		found := &found{}
		if err := c.find(ctx, v.actor, q, in, slots, found); err != nil {
			return err
		}
		body.More = found.more
		names := c.namespaceNames(ctx, v.actor)
		for _, res := range found.results {
			res.Namespace = names(res.User.NamespaceID)
			body.Results = append(body.Results, res)
		}
	}
	c.show(w, r, v, "search", "Find a player", "search", body)
	return nil
}

func searchChoices(slots []Slot, in string) []choice {
	out := []choice{
		{Value: "any", Label: "Everywhere: user ID, identities, nickname"},
		{Value: "user", Label: "User ID"},
		{Value: "nickname", Label: "Nickname (prefix)"},
	}
	for _, s := range slots {
		out = append(out, choice{Value: "slot:" + strconv.Itoa(s.Slot), Label: "Identity in slot " + strconv.Itoa(s.Slot) + " (" + s.Name + ")"})
	}
	for i := range out {
		out[i].Selected = out[i].Value == in
	}
	return out
}

// found gathers the players a search found, once each, with what matched.
type found struct {
	results []result
	more    bool
}

func (f *found) add(u broker.User, how string) {
	for i := range f.results {
		if f.results[i].User.ID == u.ID {
			f.results[i].Matched = append(f.results[i].Matched, how)
			return
		}
	}
	f.results = append(f.results, result{User: u, Matched: []string{how}})
}

// find runs the search q in the place in names.
func (c *players) find(ctx context.Context, a admin.Actor, q, in string, slots []Slot, f *found) error {
	players := c.cfg.Service.Players
	var look []Slot
	switch {
	case in == "any":
		look = slots
	case strings.HasPrefix(in, "slot:"):
		n, err := strconv.Atoi(strings.TrimPrefix(in, "slot:"))
		if err != nil {
			return broker.Invalid("in", "the slot must be a number 0..1024")
		}
		look = []Slot{{Slot: n, Name: slotName(slots, n)}}
	case in != "user" && in != "nickname":
		return broker.Invalid("in", "search in everywhere, user, nickname or slot:N")
	}
	if in == "any" || in == "user" {
		u, err := players.Player(ctx, a, q)
		switch {
		case err == nil:
			f.add(u, "user ID")
		case broker.KindOf(err) != broker.KindNotFound:
			return err
		}
	}
	for _, s := range look {
		users, err := players.FindByLink(ctx, a, s.Slot, q)
		if err != nil {
			return err
		}
		for _, u := range users {
			f.add(u, "identity in slot "+strconv.Itoa(s.Slot)+" ("+s.Name+")")
		}
	}
	if in == "any" || in == "nickname" {
		page, err := players.FindByNickname(ctx, a, q, admin.Page{Limit: nicknameLimit})
		if err != nil {
			return err
		}
		for _, u := range page.Users {
			f.add(u, "nickname")
		}
		f.more = page.Next != ""
	}
	return nil
}

// slots are the takeover slots the console knows a name for: the
// configured ones, and the custom-ID slots of the clients that sign
// players in by the game's own ID (of the first page of clients: a
// broker with more clients than that names the rest "slot N" when asked).
func (c *players) slots(ctx context.Context, a admin.Actor) ([]Slot, error) {
	out := slices.Clone(c.cfg.Slots)
	known := func(n int) bool { return slices.ContainsFunc(out, func(s Slot) bool { return s.Slot == n }) }
	if !known(broker.DefaultCustomIDSlot) {
		out = append(out, Slot{Slot: broker.DefaultCustomIDSlot, Name: "server_custom_id"})
	}
	page, err := c.cfg.Service.Tenants.Clients(ctx, a, "", admin.Page{Limit: admin.MaxLimit})
	if err != nil {
		return nil, err
	}
	for _, cl := range page.Clients {
		if slices.Contains(cl.Grants, broker.GrantServerCustomID) && !known(cl.CustomIDSlot) {
			out = append(out, Slot{Slot: cl.CustomIDSlot, Name: "server_custom_id"})
		}
	}
	slices.SortFunc(out, func(x, y Slot) int { return x.Slot - y.Slot })
	return out, nil
}

func slotName(slots []Slot, n int) string {
	for _, s := range slots {
		if s.Slot == n {
			return s.Name
		}
	}
	return "slot " + strconv.Itoa(n)
}

// namespaceNames names namespaces by ID for one page, each looked up once.
func (c *site) namespaceNames(ctx context.Context, a admin.Actor) func(id string) string {
	names := map[string]string{}
	return func(id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		n := id
		if ns, err := c.cfg.Service.Tenants.Namespace(ctx, a, id); err == nil {
			n = ns.Name
		}
		names[id] = n
		return n
	}
}
