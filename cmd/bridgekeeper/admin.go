package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/clientjwt"
)

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func migrate(ctx context.Context, args []string, e env) error {
	cfg, err := newSettings("migrate", e).load(args, e)
	if err != nil {
		return err
	}
	// Opening a store applies pending migrations.
	store, err := openStore(ctx, cfg.Database, mayCreate)
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Fprintln(e.stdout, "migrations applied")
	return nil
}

func clientCreate(ctx context.Context, args []string, e env) error {
	s := newSettings("client create", e)
	var grantsF, redirects multi
	spec := broker.ClientSpec{}
	s.fs.StringVar(&spec.Namespace, "namespace", "", "namespace name (created if absent)")
	s.fs.StringVar(&spec.Name, "name", "", "client name")
	s.fs.Var(&grantsF, "grant", "allowed grant (repeatable): client_credentials, server_custom_id, refresh_token, authorization_code, token-exchange (platform sign-in), device_code (console sign-in), gs2 (GS2 trusted-server calls)")
	scope := s.fs.String("scope", "", "space-separated scopes the client may ask for")
	s.fs.Var(&redirects, "redirect-uri", "registered redirect URI (repeatable)")
	s.fs.BoolVar(&spec.Public, "public", false, "public client: no secret")
	s.fs.DurationVar(&spec.AccessTTL, "access-ttl", broker.DefaultAccessTTL, "access token lifetime")
	s.fs.DurationVar(&spec.RefreshTTL, "refresh-ttl", broker.DefaultRefreshTTL, "refresh token lifetime")
	slot := s.fs.Int("custom-id-slot", broker.DefaultCustomIDSlot, "takeover slot of server_custom_id identities")
	s.fs.Float64Var(&spec.RateLimit, "rate-limit", 0, "requests per second the client may make to rate-limited endpoints (0: unlimited)")
	s.fs.BoolVar(&spec.NoCreateUsers, "no-create-users", false, "token exchange signs in existing players only: an unknown identity is refused")
	jwksFile := s.fs.String("jwks", "", "file of the client's public keys (a JWK Set): it authenticates with private_key_jwt, and gets no secret")
	s.fs.StringVar(&spec.JWKSURI, "jwks-uri", "", "URL of the client's public keys (a JWK Set): private_key_jwt, no secret")
	s.fs.BoolVar(&spec.RequireDPoP, "require-dpop", false, "refuse the client's token requests without a DPoP proof")
	var resources multi
	s.fs.Var(&resources, "resource", "resource server (absolute URI) the client may ask tokens for (repeatable)")
	output := s.fs.String("output", "text", "text | json")
	cfg, err := s.load(args, e)
	if err != nil {
		return err
	}
	if spec.JWKS, err = clientKeys(*jwksFile, spec.JWKSURI); err != nil {
		return err
	}
	spec.Resources = resources
	if err := checkOutput(*output); err != nil {
		return err
	}
	// Zero means "default" to broker.CreateClient; an explicit 0 is a mistake.
	if spec.AccessTTL <= 0 || spec.RefreshTTL <= 0 {
		return errors.New("access-ttl, refresh-ttl: must be at least 1s")
	}
	spec.Grants, spec.RedirectURIs, spec.Scopes, spec.CustomIDSlot = grantsF, redirects, strings.Fields(*scope), slot
	store, secrets, _, err := openSealed(ctx, cfg, mustExist)
	if err != nil {
		return err
	}
	defer store.Close()
	c, secret, err := service(store, secrets, e).Tenants.CreateClient(ctx, cliActor(), spec)
	if err != nil {
		return friendly(err)
	}
	return printCredentials(e, *output, c.ID, secret)
}

// printCredentials shows a client ID and, once, its secret. The JSON form
// always has both members, client_secret "" when there is no secret to show
// (a public or private_key_jwt client, an update without --rotate-secret):
// `jq -r .client_secret` then reads an empty string, not the word "null"
// that a missing member would give a script.
func printCredentials(e env, output, id, secret string) error {
	if output == "json" {
		out := struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}{id, secret}
		return json.NewEncoder(e.stdout).Encode(out)
	}
	fmt.Fprintf(e.stdout, "client_id:     %s\n", id)
	if secret != "" {
		fmt.Fprintf(e.stdout, "client_secret: %s\n(shown once; only its hash is stored)\n", secret)
	}
	return nil
}

// clientUpdate changes only the settings whose flags are given.
func clientUpdate(ctx context.Context, args []string, e env) error {
	s := newSettings("client update", e)
	id := s.fs.String("client-id", "", "the client to change")
	name := s.fs.String("name", "", "client name")
	var grantsF, redirects multi
	s.fs.Var(&grantsF, "grant", "allowed grant (repeatable); replaces the list")
	scope := s.fs.String("scope", "", "space-separated scopes; replaces the list")
	s.fs.Var(&redirects, "redirect-uri", "registered redirect URI (repeatable); replaces the list")
	accessTTL := s.fs.Duration("access-ttl", 0, "access token lifetime")
	refreshTTL := s.fs.Duration("refresh-ttl", 0, "refresh token lifetime")
	slot := s.fs.Int("custom-id-slot", 0, "takeover slot of server_custom_id identities")
	rateLimit := s.fs.Float64("rate-limit", 0, "requests per second to rate-limited endpoints (0: unlimited)")
	noCreate := s.fs.Bool("no-create-users", false, "token exchange signs in existing players only (--no-create-users=false: creates them)")
	jwksFile := s.fs.String("jwks", "", "file of the client's public keys (a JWK Set); replaces its keys")
	jwksURI := s.fs.String("jwks-uri", "", "URL of the client's public keys; replaces its keys")
	requireDPoP := s.fs.Bool("require-dpop", false, "refuse token requests without a DPoP proof (--require-dpop=false: allow)")
	var resources multi
	s.fs.Var(&resources, "resource", "resource server the client may ask tokens for (repeatable); replaces the list")
	rotate := s.fs.Bool("rotate-secret", false, "issue a new secret; the old one stops working")
	output := s.fs.String("output", "text", "text | json")
	cfg, err := s.load(args, e)
	if err != nil {
		return err
	}
	jwks, err := clientKeys(*jwksFile, *jwksURI)
	if err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	if *id == "" {
		return errors.New("client-id: required")
	}
	ch := broker.ClientChange{RotateSecret: *rotate}
	s.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			ch.Name = name
		case "grant":
			ch.Grants = (*[]string)(&grantsF)
		case "scope":
			scopes := strings.Fields(*scope)
			ch.Scopes = &scopes
		case "redirect-uri":
			ch.RedirectURIs = (*[]string)(&redirects)
		case "access-ttl":
			ch.AccessTTL = accessTTL
		case "refresh-ttl":
			ch.RefreshTTL = refreshTTL
		case "custom-id-slot":
			ch.CustomIDSlot = slot
		case "rate-limit":
			ch.RateLimit = rateLimit
		case "no-create-users":
			ch.NoCreateUsers = noCreate
		case "jwks", "jwks-uri":
			// Either replaces the client's keys, both sources at once.
			ch.JWKS, ch.JWKSURI = &jwks, jwksURI
		case "require-dpop":
			ch.RequireDPoP = requireDPoP
		case "resource":
			ch.Resources = (*[]string)(&resources)
		}
	})
	store, secrets, _, err := openSealed(ctx, cfg, mustExist)
	if err != nil {
		return err
	}
	defer store.Close()
	c, secret, err := service(store, secrets, e).Tenants.UpdateClient(ctx, cliActor(), *id, ch)
	if err != nil {
		return friendly(err)
	}
	return printCredentials(e, *output, c.ID, secret)
}

// clientKeys reads and checks a private_key_jwt client's keys: the JWK Set
// in file, or the jwks_uri (the keys there are fetched when the client
// authenticates).
func clientKeys(file, uri string) (string, error) {
	if uri != "" {
		if err := clientjwt.CheckJWKSURI(uri); err != nil {
			return "", fmt.Errorf("jwks-uri: %w", err)
		}
	}
	if file == "" {
		return "", nil
	}
	doc, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("jwks: %w", err)
	}
	if _, err := clientjwt.ParseJWKS(doc); err != nil {
		return "", fmt.Errorf("jwks: %s: %w", file, err)
	}
	return string(doc), nil
}

func checkOutput(o string) error {
	if o != "text" && o != "json" {
		return fmt.Errorf("output: %q is not text or json", o)
	}
	return nil
}

func clientList(ctx context.Context, args []string, e env) error {
	s := newSettings("client list", e)
	output := s.fs.String("output", "text", "text | json (every setting of every client)")
	cfg, err := s.load(args, e)
	if err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	store, err := openStore(ctx, cfg.Database, mustExist)
	if err != nil {
		return err
	}
	defer store.Close()
	clients, err := store.ListClients(ctx)
	if err != nil {
		return err
	}
	namespaces := map[string]string{} // ID -> name
	rows := make([]listedClient, 0, len(clients))
	for _, c := range clients {
		if _, ok := namespaces[c.NamespaceID]; !ok {
			ns, err := store.GetNamespace(ctx, c.NamespaceID)
			if err != nil {
				return fmt.Errorf("client %s: namespace %s: %w", c.ID, c.NamespaceID, err)
			}
			namespaces[c.NamespaceID] = ns.Name
		}
		rows = append(rows, newListedClient(c, namespaces[c.NamespaceID]))
	}
	if *output == "json" {
		return json.NewEncoder(e.stdout).Encode(rows)
	}
	return printClientTable(e, rows)
}

// listedClient is one client as client list shows it: every setting but
// the secret's hash. Lists are never null and lifetimes are written as the
// flags take them, so that a script can feed a value back to client update.
type listedClient struct {
	ID            string          `json:"client_id"`
	Namespace     string          `json:"namespace"`
	NamespaceID   string          `json:"namespace_id"`
	Name          string          `json:"name"`
	Public        bool            `json:"public"`
	AuthMethod    string          `json:"auth_method"` // client_secret, none or private_key_jwt
	Grants        []string        `json:"grants"`
	Scopes        []string        `json:"scopes"`
	RedirectURIs  []string        `json:"redirect_uris"`
	AccessTTL     string          `json:"access_ttl"`
	RefreshTTL    string          `json:"refresh_ttl"`
	CustomIDSlot  int             `json:"custom_id_slot"`
	RateLimit     float64         `json:"rate_limit"` // requests per second; 0 is unlimited
	NoCreateUsers bool            `json:"no_create_users"`
	RequireDPoP   bool            `json:"require_dpop"`
	Resources     []string        `json:"resources"`
	JWKSURI       string          `json:"jwks_uri"`
	JWKS          json.RawMessage `json:"jwks"` // the registered JWK Set, null when none
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

func newListedClient(c broker.Client, namespace string) listedClient {
	l := listedClient{
		ID: c.ID, Namespace: namespace, NamespaceID: c.NamespaceID, Name: c.Name, Public: c.Public,
		Grants: orEmpty(c.Grants), Scopes: orEmpty(c.Scopes), RedirectURIs: orEmpty(c.RedirectURIs),
		AccessTTL: flagDuration(c.AccessTTL), RefreshTTL: flagDuration(c.RefreshTTL),
		CustomIDSlot: c.CustomIDSlot, RateLimit: c.RateLimit, NoCreateUsers: c.NoCreateUsers,
		RequireDPoP: c.RequireDPoP, Resources: orEmpty(c.Resources), JWKSURI: c.JWKSURI,
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(),
	}
	switch {
	case c.Public:
		l.AuthMethod = "none"
	case c.JWKS != "" || c.JWKSURI != "":
		l.AuthMethod = "private_key_jwt"
	default:
		l.AuthMethod = "client_secret"
	}
	if c.JWKS != "" {
		l.JWKS = json.RawMessage(c.JWKS)
	}
	return l
}

// printClientTable writes the clients as an aligned table, one line each,
// with the grants by the names --grant takes.
func printClientTable(e env, rows []listedClient) error {
	short := map[string]string{}
	for name, full := range broker.GrantShortNames {
		short[full] = name
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT ID\tNAMESPACE\tNAME\tAUTH\tGRANTS\tSCOPES\tREDIRECT URIS\tACCESS TTL\tREFRESH TTL\tCUSTOM-ID SLOT\tRATE LIMIT")
	for _, r := range rows {
		grants := make([]string, 0, len(r.Grants))
		for _, g := range r.Grants {
			grants = append(grants, cmp.Or(short[g], g))
		}
		rate := "unlimited"
		if r.RateLimit > 0 {
			rate = strconv.FormatFloat(r.RateLimit, 'g', -1, 64) + "/s"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.ID, r.Namespace, r.Name, r.AuthMethod,
			cell(grants, ","), cell(r.Scopes, " "), cell(r.RedirectURIs, " "), r.AccessTTL, r.RefreshTTL, r.CustomIDSlot, rate)
	}
	return tw.Flush()
}

// cell joins a list for a table cell; "-" stands for an empty one.
func cell(list []string, sep string) string {
	if len(list) == 0 {
		return "-"
	}
	return strings.Join(list, sep)
}

func orEmpty(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}

// flagDuration writes d as --access-ttl takes it, without the zero units
// time.Duration.String adds: 1h, 2160h, 1h30m, 10m.
func flagDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func clientDelete(ctx context.Context, args []string, e env) error {
	s := newSettings("client delete", e)
	id := s.fs.String("client-id", "", "the client to delete")
	output := s.fs.String("output", "text", "text | json")
	cfg, err := s.load(args, e)
	if err == nil {
		err = checkOutput(*output)
	}
	if err != nil {
		return err
	}
	if *id == "" {
		return errors.New("client-id: required")
	}
	store, err := openStore(ctx, cfg.Database, mustExist)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := service(store, nil, e).Tenants.DeleteClient(ctx, cliActor(), *id); err != nil {
		return fmt.Errorf("delete client %s: %w", *id, friendly(err))
	}
	return printDone(e, *output, map[string]string{"deleted": *id}, "deleted client %s\n", *id)
}

func namespaceCreate(ctx context.Context, args []string, e env) error {
	s := newSettings("namespace create", e)
	if len(args) > 0 && isHelp(args[0]) {
		_, err := s.load([]string{"-h"}, e) // prints the flags; flag.ErrHelp exits 0
		return err
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("namespace create: the namespace name comes first: namespace create NAME [flags]")
	}
	name, args := args[0], args[1:]
	output := s.fs.String("output", "text", "text | json")
	cfg, err := s.load(args, e)
	if err == nil {
		err = checkOutput(*output)
	}
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg.Database, mustExist)
	if err != nil {
		return err
	}
	defer store.Close()
	ns, err := service(store, nil, e).Tenants.CreateNamespace(ctx, cliActor(), name)
	if err != nil {
		return fmt.Errorf("namespace create %s: %w", name, friendly(err))
	}
	return printDone(e, *output, map[string]string{"id": ns.ID, "name": ns.Name}, "namespace %s created (id %s)\n", ns.Name, ns.ID)
}

func keyRotate(ctx context.Context, args []string, e env) error {
	s := newSettings("key rotate", e, "signing-alg", "algorithm of the new key: ES256 | EdDSA | RS256")
	publish := s.fs.Duration("publish-for", 0, "how long retired keys stay in JWKS (default: the longest access-token lifetime of any client)")
	output := s.fs.String("output", "text", "text | json")
	cfg, err := s.load(args, e)
	if err == nil {
		err = checkOutput(*output)
	}
	if err != nil {
		return err
	}
	store, secrets, _, err := openSealed(ctx, cfg, mustExist)
	if err != nil {
		return err
	}
	defer store.Close()
	if *publish == 0 {
		if *publish, err = broker.LongestAccessTTL(ctx, store); err != nil {
			return err
		}
	}
	k, err := service(store, secrets, e).Tenants.RotateKey(ctx, cliActor(), cfg.SigningAlg, *publish)
	if err != nil {
		return fmt.Errorf("rotate: %w", friendly(err))
	}
	return printDone(e, *output, map[string]string{"kid": k.ID, "alg": k.Alg, "publish_for": flagDuration(*publish)},
		"new active key %s (%s); retired keys stay published for %s\n", k.ID, k.Alg, *publish)
}

// printDone reports a change: v as JSON, or the line format says.
func printDone(e env, output string, v any, format string, args ...any) error {
	if output == "json" {
		return json.NewEncoder(e.stdout).Encode(v)
	}
	_, err := fmt.Fprintf(e.stdout, format, args...)
	return err
}
