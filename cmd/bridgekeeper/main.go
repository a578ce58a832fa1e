// Command bridgekeeper is the token broker: serve, migrate, and client, key
// and user administration. (The benchmark is cmd/bridgekeeper-bench.)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `usage: bridgekeeper <command> [flags]

commands:
  serve                       run the broker
  migrate                     apply database migrations
  client create|list|show|update|delete
                              manage OAuth2 clients
  namespace create|list|show  namespaces (GS2 namespaces, Xsolla projects)
  user show|find|sessions|revoke|ban|unban
                              support's work on players
  key rotate                  make a new active signing key
  audit                       the audit trail, newest first
  healthcheck                 exit 0 if the broker at --addr is ready (GET /readyz)

Run "bridgekeeper <command> --help" for a command's subcommands or flags.
`

// The usage of each command group, printed by "<group> --help" (stdout,
// exit 0) and with an unknown or missing subcommand (stderr, exit 1).
const (
	clientUsage = `usage: bridgekeeper client <subcommand> [flags]

subcommands:
  create    register a client; prints its client_id and, once, its secret
  list      show every client: namespace, grants, scopes, redirect URIs,
            token lifetimes, custom-ID slot, rate limit (--output json: all settings)
  show      show one client (--client-id)
  update    change the settings whose flags are given; --rotate-secret issues a new secret
  delete    remove a client

Run "bridgekeeper client <subcommand> -h" for its flags.
`
	namespaceUsage = `usage: bridgekeeper namespace <subcommand> [NAME] [flags]

subcommands:
  create    create a namespace (a GS2 namespace, an Xsolla project); prints its ID
  list      show every namespace: name, ID, creation time
  show      show one namespace, by name or ID

Run "bridgekeeper namespace <subcommand> -h" for its flags.
`
	userUsage = `usage: bridgekeeper user <subcommand> [flags]

subcommands:
  show      a player: links, bans, sessions, attributes, recent audit events
  find      find players by a linked identity (--slot, --identifier) or a nickname prefix
  sessions  a player's live sessions
  revoke    end one session (--session) or all of them (--all)
  ban       ban a user of a namespace until a time
  unban     lift one ban of a user, or all of them

Run "bridgekeeper user <subcommand> -h" for its flags.
`
	keyUsage = `usage: bridgekeeper key <subcommand> [flags]

subcommands:
  rotate    make a new active signing key; the retired one stays published

Run "bridgekeeper key rotate -h" for its flags.
`
)

// command runs one (sub)command with the arguments after its name.
type command func(context.Context, []string, env) error

// group is a command made of subcommands, such as client or key.
type group struct {
	usage string
	subs  []subcommand // in the order the usage lists them
}

type subcommand struct {
	name string
	run  command
}

// groups returns the command groups by name; a fresh table per call keeps
// the dispatch free of package state.
func groups() map[string]group {
	return map[string]group{
		"client": {clientUsage, []subcommand{
			{"create", clientCreate}, {"list", clientList}, {"show", clientShow}, {"update", clientUpdate}, {"delete", clientDelete},
		}},
		"namespace": {namespaceUsage, []subcommand{{"create", namespaceCreate}, {"list", namespaceList}, {"show", namespaceShow}}},
		"user": {userUsage, []subcommand{{"show", userShow}, {"find", userFind}, {"sessions", userSessions}, {"revoke", userRevoke},
			{"ban", userBan}, {"unban", userUnban}}},
		"key": {keyUsage, []subcommand{{"rotate", keyRotate}}},
	}
}

// env is what a command may read from outside: the only place the process
// environment and standard streams enter the program.
type env struct {
	stdout, stderr io.Writer
	environ        []string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], env{stdout: os.Stdout, stderr: os.Stderr, environ: os.Environ()})
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "bridgekeeper:", err)
		os.Exit(1)
	}
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

func run(ctx context.Context, args []string, e env) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	if g, ok := groups()[cmd]; ok {
		return g.run(ctx, cmd, rest, e)
	}
	switch {
	case cmd == "serve":
		return serve(ctx, rest, e)
	case cmd == "migrate":
		return migrate(ctx, rest, e)
	case cmd == "audit":
		return auditList(ctx, rest, e)
	case cmd == "healthcheck":
		return healthcheck(ctx, rest, e)
	case isHelp(cmd) && len(rest) == 0:
		fmt.Fprint(e.stdout, usage)
		return nil
	case isHelp(cmd):
		// "help client" is "client --help"; "help serve" is "serve -h".
		if g, ok := groups()[rest[0]]; ok {
			return g.run(ctx, rest[0], []string{"--help"}, e)
		}
		if rest[0] == "serve" || rest[0] == "migrate" || rest[0] == "healthcheck" {
			return run(ctx, []string{rest[0], "-h"}, e)
		}
		fmt.Fprint(e.stderr, usage)
		return fmt.Errorf("help: unknown command %q", rest[0])
	default:
		fmt.Fprint(e.stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// run dispatches to the subcommand args name. Asked for help, the group's
// usage goes to stdout and is no error; a missing or unknown subcommand gets
// it on stderr and fails.
func (g group) run(ctx context.Context, name string, args []string, e env) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, g.usage)
		return fmt.Errorf("%s: no subcommand given", name)
	}
	sub, rest := args[0], args[1:]
	if isHelp(sub) {
		fmt.Fprint(e.stdout, g.usage)
		return nil
	}
	names := make([]string, 0, len(g.subs))
	for _, s := range g.subs {
		if s.name == sub {
			return s.run(ctx, rest, e)
		}
		names = append(names, s.name)
	}
	fmt.Fprint(e.stderr, g.usage)
	return fmt.Errorf("%s: unknown subcommand %q (%s)", name, sub, strings.Join(names, ", "))
}
