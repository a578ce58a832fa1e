package main

import (
	"context"

	"github.com/bridgekeeper/bridgekeeper/bench"
)

func benchCmd(ctx context.Context, args []string, e env) error {
	return bench.Main(ctx, args, e.stdout, e.stderr)
}
