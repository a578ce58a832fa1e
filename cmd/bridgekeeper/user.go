package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// userFlags are the flags naming one user: the namespace by name, the user
// by ID.
type userFlags struct {
	namespace, user *string
}

func newUserFlags(s *settings) userFlags {
	return userFlags{
		namespace: s.fs.String("namespace", "", "namespace name (required)"),
		user:      s.fs.String("user", "", "user ID (required)"),
	}
}

// resolve checks the flags and finds the namespace.
func (u userFlags) resolve(ctx context.Context, store broker.Store) (broker.Namespace, error) {
	if *u.namespace == "" || *u.user == "" {
		return broker.Namespace{}, errors.New("--namespace and --user are required")
	}
	ns, err := store.GetNamespaceByName(ctx, *u.namespace)
	if err != nil {
		return broker.Namespace{}, fmt.Errorf("namespace %q: %w", *u.namespace, err)
	}
	return ns, nil
}

func userBan(ctx context.Context, args []string, e env) error {
	s := newSettings("user ban", e)
	who := newUserFlags(s)
	name := s.fs.String("name", "", "ban name; a ban of the same name is replaced (default: a new UUID)")
	reason := s.fs.String("reason", "", "reason, shown in the account's banStatuses")
	until := s.fs.String("until", "", "release time: RFC 3339 (2027-01-02T15:04:05Z) or Unix milliseconds (required)")
	cfg, err := s.load(args, e)
	if err != nil {
		return err
	}
	release, err := parseRelease(*until)
	if err != nil {
		return fmt.Errorf("--until: %w", err)
	}
	store, err := openStore(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer store.Close()
	ns, err := who.resolve(ctx, store)
	if err != nil {
		return fmt.Errorf("user ban: %w", err)
	}
	b, err := broker.BanUser(ctx, store, time.Now(), ns.ID, *who.user, *name, *reason, release)
	if err != nil {
		return fmt.Errorf("user ban: %w", err)
	}
	fmt.Fprintf(e.stdout, "user %s banned (ban %s) until %s\n", b.UserID, b.Name, b.ReleaseAt.UTC().Format(time.RFC3339))
	return nil
}

func userUnban(ctx context.Context, args []string, e env) error {
	s := newSettings("user unban", e)
	who := newUserFlags(s)
	name := s.fs.String("name", "", "ban to lift (default: every ban of the user)")
	cfg, err := s.load(args, e)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer store.Close()
	ns, err := who.resolve(ctx, store)
	if err != nil {
		return fmt.Errorf("user unban: %w", err)
	}
	n, err := broker.UnbanUser(ctx, store, ns.ID, *who.user, *name)
	if err != nil {
		return fmt.Errorf("user unban: %w", err)
	}
	fmt.Fprintf(e.stdout, "user %s: %d ban(s) lifted\n", *who.user, n)
	return nil
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
