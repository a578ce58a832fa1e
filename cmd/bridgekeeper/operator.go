package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/admin"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
)

// The operator's read and support commands. They call broker/admin, as the
// admin API and the console do, as the actor "cli", who sees every
// namespace; what they change is in the audit trail like any other
// admin action.

// cliActor is who the CLI acts as in the audit trail.
func cliActor() admin.Actor { return admin.Actor{ID: "cli"} }

// operatorCommand is a command over the operator's service: its settings,
// --output, and the service once opened.
type operatorCommand struct {
	s      *settings
	output *string
}

func newOperatorCommand(name string, e env) operatorCommand {
	s := newSettings(name, e)
	return operatorCommand{s: s, output: s.fs.String("output", "text", "text | json")}
}

// open loads the settings, runs check on the parsed flags, and opens the
// store and the service; close closes the store.
func (o operatorCommand) open(ctx context.Context, args []string, e env, check func() error) (svc *admin.Service, close func(), err error) {
	cfg, err := o.s.load(args, e)
	if err != nil {
		return nil, nil, err
	}
	if err := checkOutput(*o.output); err != nil {
		return nil, nil, err
	}
	if check != nil {
		if err := check(); err != nil {
			return nil, nil, err
		}
	}
	// These commands read, or change nothing that needs the key-encryption
	// key: the store alone will do.
	store, err := openStore(ctx, cfg.Database, mustExist)
	if err != nil {
		return nil, nil, err
	}
	return service(store, nil, e), func() { store.Close() }, nil
}

// service is the operator's service over an opened store; secrets may be
// nil for commands that create or rotate no secret or key.
func service(store broker.Store, secrets *keys.Secrets, e env) *admin.Service {
	// Warnings only, on stderr: the audit events are in the database, and
	// stdout stays the command's (--output json).
	log := slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return admin.New(store, secrets, time.Now, log)
}

// print writes v as JSON, or as the table text renders.
func (o operatorCommand) print(e env, v any, text func(w io.Writer)) error {
	if *o.output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	text(tw)
	return tw.Flush()
}

func namespaceList(ctx context.Context, args []string, e env) error {
	o := newOperatorCommand("namespace list", e)
	svc, closeStore, err := o.open(ctx, args, e, nil)
	if err != nil {
		return err
	}
	defer closeStore()
	var all []broker.Namespace
	p := admin.Page{Limit: admin.MaxLimit}
	for {
		page, err := svc.Tenants.Namespaces(ctx, cliActor(), p)
		if err != nil {
			return err
		}
		all = append(all, page.Namespaces...)
		if p.Token = page.Next; p.Token == "" {
			break
		}
	}
	out := make([]namespaceOut, 0, len(all))
	for _, n := range all {
		out = append(out, namespaceOut{n.ID, n.Name, n.CreatedAt.UTC()})
	}
	return o.print(e, out, func(w io.Writer) {
		fmt.Fprintln(w, "NAME\tID\tCREATED")
		for _, n := range out {
			fmt.Fprintf(w, "%s\t%s\t%s\n", n.Name, n.ID, n.CreatedAt.Format(time.RFC3339))
		}
	})
}

type namespaceOut struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

func namespaceShow(ctx context.Context, args []string, e env) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("namespace show: the namespace name or ID comes first: namespace show NAME [flags]")
	}
	name, args := args[0], args[1:]
	o := newOperatorCommand("namespace show", e)
	svc, closeStore, err := o.open(ctx, args, e, nil)
	if err != nil {
		return err
	}
	defer closeStore()
	n, err := svc.Tenants.Namespace(ctx, cliActor(), name)
	if err != nil {
		return friendly(err)
	}
	out := namespaceOut{n.ID, n.Name, n.CreatedAt.UTC()}
	return o.print(e, out, func(w io.Writer) {
		fmt.Fprintf(w, "name:\t%s\nid:\t%s\ncreated:\t%s\n", out.Name, out.ID, out.CreatedAt.Format(time.RFC3339))
	})
}

func clientShow(ctx context.Context, args []string, e env) error {
	o := newOperatorCommand("client show", e)
	id := o.s.fs.String("client-id", "", "the client to show (required)")
	svc, closeStore, err := o.open(ctx, args, e, required("client-id", id))
	if err != nil {
		return err
	}
	defer closeStore()
	c, err := svc.Tenants.Client(ctx, cliActor(), *id)
	if err != nil {
		return friendly(err)
	}
	ns, err := svc.Tenants.Namespace(ctx, cliActor(), c.NamespaceID)
	if err != nil {
		return err
	}
	out := newListedClient(c, ns.Name)
	return o.print(e, out, func(w io.Writer) {
		for _, kv := range [][2]string{
			{"client_id", out.ID}, {"name", out.Name}, {"namespace", out.Namespace}, {"auth", out.AuthMethod},
			{"grants", cell(out.Grants, " ")}, {"scopes", cell(out.Scopes, " ")},
			{"redirect_uris", cell(out.RedirectURIs, " ")}, {"access_ttl", out.AccessTTL}, {"refresh_ttl", out.RefreshTTL},
			{"custom_id_slot", fmt.Sprint(out.CustomIDSlot)}, {"rate_limit", fmt.Sprint(out.RateLimit)},
			{"require_dpop", fmt.Sprint(out.RequireDPoP)}, {"resources", cell(out.Resources, " ")},
		} {
			fmt.Fprintf(w, "%s:\t%s\n", kv[0], kv[1])
		}
	})
}

// required is a check that the flag was given.
func required(name string, v *string) func() error {
	return func() error {
		if *v == "" {
			return fmt.Errorf("--%s is required", name)
		}
		return nil
	}
}

// friendly says what a refusal of the service means, without the kind
// prefix meant for logs ("not found: client x not found").
func friendly(err error) error {
	if e := broker.Refusal(err); e != nil {
		if e.Field != "" {
			return fmt.Errorf("%s: %s", e.Field, e.Description)
		}
		return errors.New(e.Description)
	}
	return err
}
