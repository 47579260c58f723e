// Package cli implements the chronicle command. Each subcommand parses its
// own flags with the standard flag package; [Main] dispatches on the first
// argument. Everything writes to the io.Writers it is given, so tests run
// commands into buffers.
package cli

import (
	"context"
	"fmt"
	"io"
)

// Exit codes of [Main].
const (
	exitOK    = 0
	exitFail  = 1 // an error, or a failed check
	exitUsage = 2 // bad command line
)

// A command is one subcommand of chronicle.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
	usage   func(w io.Writer) // prints the command's help
}

func commands() []command {
	return []command{
		{name: "bench", summary: "run the benchmark workloads (W1–W7) on fresh SQLite stores", run: runBench, usage: benchUsage},
		{name: "help", summary: "show this help, or a command's: chronicle help bench"},
	}
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// Main runs the chronicle command with args (without the program name) and
// returns the process's exit code: 0 on success, 1 on an error or a failed
// check, 2 on a bad command line. ctx ends the command early (the binary
// cancels it on SIGINT and SIGTERM); the command then cleans up and fails.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return help(rest, stdout, stderr)
	}
	c, ok := lookup(name)
	if !ok || c.run == nil {
		fmt.Fprintf(stderr, "chronicle: unknown command %q\n\n", name)
		usage(stderr)
		return exitUsage
	}
	return c.run(ctx, rest, stdout, stderr)
}

func help(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stdout)
		return exitOK
	}
	c, ok := lookup(args[0])
	if !ok || c.usage == nil || len(args) > 1 {
		fmt.Fprintf(stderr, "chronicle help: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	c.usage(stdout)
	return exitOK
}

func usage(w io.Writer) {
	fmt.Fprint(w, "chronicle is the command-line tool of the Chronicle event store.\n\n"+
		"Usage:\n\n\tchronicle <command> [flags]\n\nCommands:\n\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "\t%-6s  %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun \"chronicle help <command>\" for a command's flags.\n")
}
