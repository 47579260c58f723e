// Command chronicle is the command-line tool of the Chronicle event store:
// it lists, reads, follows, appends, exports, imports, copies and checks
// the events of a SQLite or PostgreSQL store, and runs the benchmark.
// Run "chronicle --help" for its commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/chronicle-go/chronicle/cmd/chronicle/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first Ctrl-C ends the command cleanly; after it, a second
		// one kills the process as usual.
		<-ctx.Done()
		stop()
	}()
	code := cli.Main(ctx, os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
