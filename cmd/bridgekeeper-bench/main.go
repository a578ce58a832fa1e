// Command bridgekeeper-bench is the load benchmark of make bench (package
// bench). It is not part of the bridgekeeper binary: its limit servers accept
// a constant test secret and must never ship.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/bridgekeeper/bridgekeeper/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := bench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bridgekeeper-bench:", err)
		os.Exit(1)
	}
}
