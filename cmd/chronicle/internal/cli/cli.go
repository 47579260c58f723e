// Package cli implements the chronicle command: its subcommands, built with
// spf13/cobra, read and write through the io.Reader and io.Writers of an
// [Env], so tests run every command into buffers. The binary's main only
// calls [Main].
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes of [Main].
const (
	exitOK          = 0
	exitFail        = 1   // an error, or a check that found problems
	exitUsage       = 2   // a bad command line
	exitInterrupted = 130 // stopped by Ctrl-C (or SIGTERM) before it finished; tail exits 0 instead
)

// Env is what a run of the command sees of its process.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (CHRONICLE_DB); nil means os.Getenv.
	Getenv func(string) string
	// Version is what "chronicle version" prints before the build
	// information; empty means the module version from the build.
	Version string

	tune tuning // set by tests only
}

// tuning holds the internals that tests change; the zero value means the
// defaults.
type tuning struct {
	heldBytes  int           // import and copy: bytes of pending events before the oldest batches go
	maxStreams int           // import and copy: streams remembered before the idle ones are forgotten
	written    func(n int64) // called with the number of events written so far (export, import, copy)
}

// usageError is a bad command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// errReported is returned by a command that has printed its own report of
// what failed (verify's problems): exit code 1 without another message.
var errReported = errors.New("reported")

// app holds what every command shares: the environment and the global
// flags.
type app struct {
	env    Env
	db     string // --db, or CHRONICLE_DB
	schema string // --schema
	log    *slog.Logger
}

// Main runs the chronicle command with args (without the program name) and
// returns the process's exit code: 0 on success, 1 on an error or a failed
// check, 2 on a bad command line, 130 when ctx ended (Ctrl-C) before the
// command finished, except for tail, which ends that way normally and
// exits 0.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	// Info shows what a user should know of, such as a schema upgrade on open.
	a := &app{env: env, log: slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	root := a.root()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	name := "chronicle"
	if cmd != nil {
		name = cmd.CommandPath()
	}
	var ue *usageError
	switch {
	case errors.Is(err, errReported):
		return exitFail
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "%s: %v\nRun '%s --help' for usage.\n", name, err, name)
		return exitUsage
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		fmt.Fprintf(env.Stderr, "%s: interrupted\n", name)
		return exitInterrupted
	}
	fmt.Fprintf(env.Stderr, "%s: %v\n", name, err)
	if ctx.Err() != nil {
		return exitInterrupted
	}
	return exitFail
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "chronicle",
		Short: "Inspect, follow, back up, copy and check Chronicle event stores",
		Long: `chronicle is the command-line tool of the Chronicle event store.

Every command that works on a store names it with --db: a SQLite file
(events.db) or a PostgreSQL connection URL (postgres://…, with --schema),
or takes it from the CHRONICLE_DB environment variable. Only the commands
that write (append, import, copy's target) create a store; the others fail
on a path or schema that holds none.

Exit codes: 0 success, 1 failure (or problems found by verify), 2 a bad
command line, 130 interrupted (tail exits 0 on Ctrl-C).`,
		Example: `  chronicle --db events.db streams
  chronicle --db events.db read order-42
  CHRONICLE_DB=postgres://localhost/app chronicle tail --all --type OrderPlaced`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				msg := fmt.Sprintf("unknown command %q", args[0])
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					msg += fmt.Sprintf(" (did you mean %q?)", s[0])
				}
				return &usageError{msg}
			}
			return cmd.Help()
		},
		CompletionOptions:          cobra.CompletionOptions{HiddenDefaultCmd: true},
		SuggestionsMinimumDistance: 2,
	}
	root.SetIn(a.env.Stdin)
	root.SetOut(a.env.Stdout)
	root.SetErr(a.env.Stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err.Error()} })
	root.SetHelpCommand(&cobra.Command{
		Use:     "help [command]",
		Short:   "Help about any command",
		Example: "  chronicle help read",
		RunE: func(_ *cobra.Command, args []string) error {
			cmd, rest, err := root.Find(args)
			if err != nil || len(rest) > 0 {
				return usagef("unknown command %q", strings.Join(args, " "))
			}
			return cmd.Help()
		},
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.db, "db", "", "the store: a SQLite file or a postgres:// URL (default $CHRONICLE_DB)")
	pf.StringVar(&a.schema, "schema", "", "the PostgreSQL schema of the store (default chronicle)")
	root.AddCommand(
		a.streamsCmd(),
		a.readCmd(),
		a.tailCmd(),
		a.appendCmd(),
		a.infoCmd(),
		a.snapshotsCmd(),
		a.exportCmd(),
		a.importCmd(),
		a.copyCmd(),
		a.projectionsCmd(),
		a.verifyCmd(),
		a.benchCmd(),
		a.completionCmd(root),
		a.versionCmd(),
	)
	return root
}

// args returns a cobra.PositionalArgs that wants between min and max
// arguments (max < 0: no upper bound), as a usage error.
func args(min, max int) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		switch {
		case len(args) < min:
			return usagef("want at least %d argument(s), got %d", min, len(args))
		case max >= 0 && len(args) > max:
			return usagef("unexpected argument %q", args[max])
		}
		return nil
	}
}

func (a *app) completionCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `Print a completion script for bash, zsh or fish on stdout.

  bash:  source <(chronicle completion bash)
  zsh:   chronicle completion zsh > "${fpath[1]}/_chronicle"
  fish:  chronicle completion fish > ~/.config/fish/completions/chronicle.fish`,
		Example:   "  chronicle completion bash > /etc/bash_completion.d/chronicle",
		Args:      args(1, 1),
		ValidArgs: []string{"bash", "zsh", "fish"},
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(w, true)
			case "zsh":
				return root.GenZshCompletion(w)
			case "fish":
				return root.GenFishCompletion(w, true)
			}
			return usagef("unknown shell %q (want bash, zsh or fish)", args[0])
		},
	}
}
