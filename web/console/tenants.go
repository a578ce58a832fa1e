package console

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/admin"
)

// The tenants' pages: clients (list, create, rotate a secret), signing
// keys (list, rotate) and the audit trail.

// listLimit is the page size of the clients and audit listings.
const listLimit = 50

type clientsBody struct {
	Namespace string
	Clients   []clientRow
	Next      string // the next page's URL, "" on the last
}

type clientRow struct {
	broker.Client
	Namespace string
	// Auth is how it authenticates: secret, public (PKCE) or keys.
	Auth   string
	Grants string
}

func (c *tenants) clients(w http.ResponseWriter, r *http.Request, v visit) error {
	ctx, q := r.Context(), r.URL.Query()
	body := clientsBody{Namespace: q.Get("namespace")}
	nsID := ""
	if body.Namespace != "" {
		ns, err := c.cfg.Service.Tenants.Namespace(ctx, v.actor, body.Namespace)
		if err != nil {
			return err
		}
		nsID = ns.ID
	}
	page, err := c.cfg.Service.Tenants.Clients(ctx, v.actor, nsID, admin.Page{Token: q.Get("page"), Limit: listLimit})
	if err != nil {
		return err
	}
	names := c.namespaceNames(ctx, v.actor)
	for _, cl := range page.Clients {
		row := clientRow{Client: cl, Namespace: names(cl.NamespaceID), Auth: "secret", Grants: shortGrants(cl.Grants)}
		switch {
		case cl.Public:
			row.Auth = "public (PKCE)"
		case cl.JWKS != "" || cl.JWKSURI != "":
			row.Auth = "private_key_jwt"
		}
		body.Clients = append(body.Clients, row)
	}
	if page.Next != "" {
		body.Next = prefix + "/clients?" + url.Values{"namespace": {body.Namespace}, "page": {page.Next}}.Encode()
	}
	c.show(w, r, v, "clients", "Clients", "clients", body)
	return nil
}

// grantChoices are the grants a new client may be given, by the names the
// CLI takes.
var grantChoices = []string{"client_credentials", "server_custom_id", "refresh_token", "authorization_code",
	"token-exchange", "device_code", "gs2"}

// shortGrants names grants as the CLI does.
func shortGrants(gs []string) string {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		for short, full := range broker.GrantShortNames {
			if g == full {
				g = short
			}
		}
		out = append(out, g)
	}
	return strings.Join(out, ", ")
}

type newClientBody struct {
	Namespace string
	Grants    []string
}

// newClient is the form of a new client; it submits to the creation's
// confirmation.
func (c *tenants) newClient(w http.ResponseWriter, r *http.Request, v visit) error {
	c.show(w, r, v, "client_new", "New client", "clients", newClientBody{Namespace: r.URL.Query().Get("namespace"), Grants: grantChoices})
	return nil
}

// clientSpec is the client a creation form asks for.
func clientSpec(in url.Values) (broker.ClientSpec, error) {
	spec := broker.ClientSpec{
		Namespace: strings.TrimSpace(in.Get("namespace")), Name: strings.TrimSpace(in.Get("name")),
		Grants: slices.Clone(in["grant"]), Scopes: strings.Fields(in.Get("scope")), RedirectURIs: strings.Fields(in.Get("redirect_uri")),
		Public: in.Get("public") == "on",
	}
	// The form names grants as the CLI does; the spec takes full names.
	for i, g := range spec.Grants {
		if !slices.Contains(grantChoices, g) {
			return broker.ClientSpec{}, broker.Invalid("grant", "grant "+g+" is not one of "+strings.Join(grantChoices, ", "))
		}
		spec.Grants[i] = cmp.Or(broker.GrantShortNames[g], g)
	}
	switch {
	case spec.Namespace == "":
		return broker.ClientSpec{}, broker.Invalid("namespace", "name the namespace the client belongs to")
	case spec.Name == "":
		return broker.ClientSpec{}, broker.Invalid("name", "give the client a name")
	case len(spec.Grants) == 0:
		return broker.ClientSpec{}, broker.Invalid("grant", "choose at least one grant")
	}
	return spec, nil
}

func (c *tenants) createClient() action {
	return action{
		params: []string{"namespace", "name", "grant", "scope", "redirect_uri", "public"},
		back: func(r *http.Request) string {
			return prefix + "/clients?" + url.Values{"namespace": {r.FormValue("namespace")}}.Encode()
		},
		prepare: func(_ *http.Request, _ visit, in url.Values) (confirmation, error) {
			spec, err := clientSpec(in)
			if err != nil {
				return confirmation{}, err
			}
			kind := "confidential: it gets a secret, shown once"
			if spec.Public {
				kind = "public: it authenticates with its client ID alone and must use PKCE"
			}
			return confirmation{
				Question: "Create client " + spec.Name + " in namespace " + spec.Namespace + "?",
				Details: []string{"It is " + kind + ".", "Grants: " + shortGrants(spec.Grants) + ".",
					"Scopes: " + cmp.Or(strings.Join(spec.Scopes, " "), "(none)") + ".",
					"Redirect URIs: " + cmp.Or(strings.Join(spec.RedirectURIs, " "), "(none)") + ".",
					"A namespace that does not exist yet is created."},
				Button: "Create client",
			}, nil
		},
		do: func(r *http.Request, v visit, in url.Values) (flash, error) {
			spec, err := clientSpec(in)
			if err != nil {
				return flash{}, err
			}
			cl, secret, err := c.cfg.Service.Tenants.CreateClient(r.Context(), v.actor, spec)
			return flash{Text: "Client " + cl.Name + " created: client_id " + cl.ID + ".", Secret: secret}, err
		},
	}
}

func (c *tenants) rotateSecret() action {
	return action{
		back: func(r *http.Request) string { return prefix + "/clients" },
		prepare: func(r *http.Request, v visit, _ url.Values) (confirmation, error) {
			cl, err := c.cfg.Service.Tenants.Client(r.Context(), v.actor, mux.Vars(r)["client"])
			if err != nil {
				return confirmation{}, err
			}
			if cl.SecretHash == nil {
				return confirmation{}, broker.Invalid("client", "client "+cl.Name+" has no secret to rotate")
			}
			return confirmation{
				Question: "Rotate the secret of client " + cl.Name + " (" + cl.ID + ")?",
				Details: []string{"A new secret is shown once, on the next page.",
					"The old secret stops working at once: every server using it fails until it has the new one."},
				Button: "Rotate secret", Danger: true,
			}, nil
		},
		do: func(r *http.Request, v visit, _ url.Values) (flash, error) {
			cl, secret, err := c.cfg.Service.Tenants.UpdateClient(r.Context(), v.actor, mux.Vars(r)["client"], broker.ClientChange{RotateSecret: true})
			return flash{Text: "The secret of client " + cl.Name + " (" + cl.ID + ") was rotated.", Secret: secret}, err
		},
	}
}

type keysBody struct {
	Keys []admin.KeyState
	Algs []choice
}

func (c *tenants) keys(w http.ResponseWriter, r *http.Request, v visit) error {
	ks, err := c.cfg.Service.Tenants.Keys(r.Context(), v.actor)
	if err != nil {
		return err
	}
	body := keysBody{Keys: ks}
	for i, alg := range c.cfg.SigningAlgs {
		body.Algs = append(body.Algs, choice{Value: alg, Label: alg, Selected: i == 0})
	}
	c.show(w, r, v, "keys", "Signing keys", "keys", body)
	return nil
}

func (c *tenants) rotateKey() action {
	alg := func(in url.Values) (string, error) {
		a := in.Get("alg")
		if len(c.cfg.SigningAlgs) > 0 && a == "" {
			a = c.cfg.SigningAlgs[0]
		}
		if !slices.Contains(c.cfg.SigningAlgs, a) {
			return "", broker.Invalid("alg", "the algorithm must be one of "+strings.Join(c.cfg.SigningAlgs, ", "))
		}
		return a, nil
	}
	return action{
		params: []string{"alg"},
		back:   func(*http.Request) string { return prefix + "/keys" },
		prepare: func(_ *http.Request, _ visit, in url.Values) (confirmation, error) {
			a, err := alg(in)
			if err != nil {
				return confirmation{}, err
			}
			return confirmation{
				Question: "Rotate the signing key to a new " + a + " key?",
				Details: []string{"New tokens are signed with the new key at once.",
					"The retired key stays published until every access token it signed has expired.",
					"Relying parties that cache discovery must read it again if the algorithm changes."},
				Button: "Rotate key",
			}, nil
		},
		do: func(r *http.Request, v visit, in url.Values) (flash, error) {
			a, err := alg(in)
			if err != nil {
				return flash{}, err
			}
			k, err := c.cfg.Service.Tenants.RotateKey(r.Context(), v.actor, a, 0)
			return flash{Text: "Signing key rotated: the active key is " + k.ID + " (" + k.Alg + ")."}, err
		},
	}
}

type auditBody struct {
	User, Since string
	Types       []choice
	Events      []broker.AuditEvent
	Next        string
}

// audit is the audit trail, newest first, filtered by player, event type
// and start time.
func (c *tenants) audit(w http.ResponseWriter, r *http.Request, v visit) error {
	q := r.URL.Query()
	body := auditBody{User: strings.TrimSpace(q.Get("user")), Since: strings.TrimSpace(q.Get("since"))}
	f := admin.AuditFilter{UserID: body.User, Type: q.Get("type")}
	if body.Since != "" {
		t, err := parseSince(body.Since)
		if err != nil {
			return err
		}
		f.Since = t
	}
	body.Types = []choice{{Value: "", Label: "every type", Selected: f.Type == ""}}
	for _, t := range broker.AuditTypes {
		body.Types = append(body.Types, choice{Value: t, Label: t, Selected: t == f.Type})
	}
	page, err := c.cfg.Service.Tenants.Audit(r.Context(), v.actor, f, admin.Page{Token: q.Get("page"), Limit: listLimit})
	if err != nil {
		return err
	}
	body.Events = page.Events
	if page.Next != "" {
		next := url.Values{"user": {body.User}, "type": {f.Type}, "since": {body.Since}, "page": {page.Next}}
		body.Next = prefix + "/audit?" + next.Encode()
	}
	c.show(w, r, v, "audit", "Audit trail", "audit", body)
	return nil
}

// parseSince reads the audit filter's start: a date (UTC) or an RFC 3339
// time.
func parseSince(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, broker.Invalid("since", "give a date such as 2030-01-02, or an RFC 3339 time")
	}
	return t, nil
}
