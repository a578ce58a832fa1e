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
	"syscall"
)

const usage = `usage: bridgekeeper <command> [flags]

commands:
  serve                       run the broker
  migrate                     apply database migrations
  client create|list|update|delete
                              manage OAuth2 clients
  namespace create NAME       create a namespace (GS2 namespace, Xsolla project)
  user ban|unban              ban a user until a time, or lift bans
  key rotate                  make a new active signing key

Run "bridgekeeper <command> -h" for a command's flags.
`

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

func run(ctx context.Context, args []string, e env) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	sub := func() (string, []string) {
		if len(rest) == 0 {
			return "", nil
		}
		return rest[0], rest[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, rest, e)
	case "migrate":
		return migrate(ctx, rest, e)
	case "client":
		switch name, rest := sub(); name {
		case "create":
			return clientCreate(ctx, rest, e)
		case "list":
			return clientList(ctx, rest, e)
		case "update":
			return clientUpdate(ctx, rest, e)
		case "delete":
			return clientDelete(ctx, rest, e)
		default:
			return fmt.Errorf("client: unknown subcommand %q (create, list, update, delete)", name)
		}
	case "namespace":
		switch name, rest := sub(); name {
		case "create":
			return namespaceCreate(ctx, rest, e)
		default:
			return fmt.Errorf("namespace: unknown subcommand %q (create)", name)
		}
	case "user":
		switch name, rest := sub(); name {
		case "ban":
			return userBan(ctx, rest, e)
		case "unban":
			return userUnban(ctx, rest, e)
		default:
			return fmt.Errorf("user: unknown subcommand %q (ban, unban)", name)
		}
	case "key":
		switch name, rest := sub(); name {
		case "rotate":
			return keyRotate(ctx, rest, e)
		default:
			return fmt.Errorf("key: unknown subcommand %q (rotate)", name)
		}
	case "-h", "--help", "help":
		fmt.Fprint(e.stdout, usage)
		return nil
	default:
		fmt.Fprint(e.stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}
