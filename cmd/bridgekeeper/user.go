package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/admin"
)

// userCommand is what ban and unban share: --namespace and --user name
// one user of a namespace.
type userCommand struct {
	s                       *settings
	namespace, user, output *string
}

func newUserCommand(name string, e env) userCommand {
	s := newSettings(name, e)
	return userCommand{
		s:         s,
		namespace: s.fs.String("namespace", "", "namespace name (required)"),
		user:      s.fs.String("user", "", "user ID (required)"),
		output:    s.fs.String("output", "text", "text | json"),
	}
}

// open loads the settings, opens the store and finds the namespace; check
// runs on the parsed flags first. The caller closes the store.
func (u userCommand) open(ctx context.Context, args []string, e env, check func() error) (broker.Store, broker.Namespace, error) {
	cfg, err := u.s.load(args, e)
	if err != nil {
		return nil, broker.Namespace{}, err
	}
	if *u.namespace == "" || *u.user == "" {
		return nil, broker.Namespace{}, errors.New("--namespace and --user are required")
	}
	if err := checkOutput(*u.output); err != nil {
		return nil, broker.Namespace{}, err
	}
	if err := check(); err != nil {
		return nil, broker.Namespace{}, err
	}
	store, err := openStore(ctx, cfg.Database, mustExist)
	if err != nil {
		return nil, broker.Namespace{}, err
	}
	ns, err := store.GetNamespaceByName(ctx, *u.namespace)
	if err != nil {
		store.Close()
		return nil, broker.Namespace{}, fmt.Errorf("namespace %q: %w", *u.namespace, err)
	}
	return store, ns, nil
}

// actor is the CLI limited to the --namespace it names: a user of
// another namespace is not found.
func (u userCommand) actor(ns broker.Namespace) admin.Actor {
	a := cliActor()
	a.NamespaceID = ns.ID
	return a
}

func userBan(ctx context.Context, args []string, e env) error {
	u := newUserCommand("user ban", e)
	name := u.s.fs.String("name", "", "ban name; a ban of the same name is replaced (default: a new UUID)")
	reason := u.s.fs.String("reason", "", "reason, shown in the account's banStatuses")
	until := u.s.fs.String("until", "", "release time: RFC 3339 (2027-01-02T15:04:05Z) or Unix milliseconds (required)")
	var release time.Time
	store, ns, err := u.open(ctx, args, e, func() (err error) {
		if release, err = parseRelease(*until); err != nil {
			return fmt.Errorf("--until: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("user ban: %w", err)
	}
	defer store.Close()
	b, err := service(store, nil, e).Players.Ban(ctx, u.actor(ns), *u.user, *name, *reason, release)
	if err != nil {
		return fmt.Errorf("user ban: %w", friendly(err))
	}
	released := b.ReleaseAt.UTC().Format(time.RFC3339)
	return printDone(e, *u.output, map[string]string{"user_id": b.UserID, "name": b.Name, "release_at": released},
		"user %s banned (ban %s) until %s\n", b.UserID, b.Name, released)
}

func userUnban(ctx context.Context, args []string, e env) error {
	u := newUserCommand("user unban", e)
	name := u.s.fs.String("name", "", "ban to lift (default: every ban of the user)")
	store, ns, err := u.open(ctx, args, e, func() error { return nil })
	if err != nil {
		return fmt.Errorf("user unban: %w", err)
	}
	defer store.Close()
	n, err := service(store, nil, e).Players.Unban(ctx, u.actor(ns), *u.user, *name)
	if err != nil {
		return fmt.Errorf("user unban: %w", friendly(err))
	}
	return printDone(e, *u.output, map[string]any{"user_id": *u.user, "lifted": n}, "user %s: %d ban(s) lifted\n", *u.user, n)
}

// parseRelease reads a ban's release time.
func parseRelease(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, errors.New("required")
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor Unix milliseconds", v)
	}
	return t, nil
}
