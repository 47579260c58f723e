package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// allWorkloads are the workload ids in the order they run.
var allWorkloads = []string{"W1", "W2", "W3", "W4", "W5", "W6", "W7"}

// defaultWorkloads run when --workloads is not given.
var defaultWorkloads = []string{"W1", "W2", "W3", "W4", "W5", "W6"}

// benchConfig is the bench command's configuration: its flags, plus sizes
// that only --quick changes.
type benchConfig struct {
	workloads  []string
	events     int
	batch      int
	streams    int
	layout     string
	keys       string
	dataBytes  int
	writers    int
	watchers   int
	w3Duration time.Duration
	w4Duration time.Duration
	w5Duration time.Duration
	runs       int
	json       bool
	dir        string
	label      string
	cpuProfile string // --cpuprofile: where to write a CPU profile
	sync       string // --synchronous: normal or full
	quick      bool

	w7Streams     int // W7's fan-out: 10,000 streams, or --streams when given
	bigEventBytes int // W7's large event
	snapshots     int // W6's iterations
	snapStreams   int // W6's streams
	stateBytes    int // W6's snapshot size
}

func defaultBenchConfig() benchConfig {
	return benchConfig{
		workloads:  defaultWorkloads,
		events:     1_000_000,
		batch:      10_000,
		streams:    1_000,
		layout:     "blocks",
		keys:       "uuid",
		dataBytes:  100,
		writers:    16,
		watchers:   100,
		w3Duration: 20 * time.Second,
		w4Duration: 10 * time.Second,
		w5Duration: 10 * time.Second,
		runs:       1,
		dir:        os.TempDir(),
		sync:       "normal",

		w7Streams:     10_000,
		bigEventBytes: 16 << 20,
		snapshots:     1_000,
		snapStreams:   100,
		stateBytes:    1 << 10,
	}
}

// applyQuick scales the configuration down for --quick, except for the
// flags in set (those given explicitly).
func (c *benchConfig) applyQuick(set func(string) bool) {
	quick := map[string]func(){
		"events":      func() { c.events = 50_000 },
		"batch":       func() { c.batch = 5_000 },
		"streams":     func() { c.streams = 100 },
		"writers":     func() { c.writers = 4 },
		"watchers":    func() { c.watchers = 10 },
		"w3-duration": func() { c.w3Duration = 2 * time.Second },
		"w4-duration": func() { c.w4Duration = 2 * time.Second },
		"w5-duration": func() { c.w5Duration = 2 * time.Second },
	}
	for name, apply := range quick {
		if !set(name) {
			apply()
		}
	}
	c.w7Streams = 1_000
	c.bigEventBytes = 1 << 20
	c.snapshots = 200
}

func addBenchFlags(fs *pflag.FlagSet, c *benchConfig, workloads *string) {
	fs.StringVar(workloads, "workloads", strings.Join(defaultWorkloads, ","),
		"comma-separated workloads to run, from "+strings.Join(allWorkloads, ",")+" (or \"all\"); W2 needs W1")
	fs.IntVar(&c.events, "events", c.events, "W1/W7: events to write (--quick: 50000)")
	fs.IntVar(&c.batch, "batch", c.batch, "W1/W7: events per batch, one latency sample each (--quick: 5000)")
	fs.IntVar(&c.streams, "streams", c.streams, "W1 and W3: number of streams; W7 uses 10000 unless given (--quick: 100)")
	fs.StringVar(&c.layout, "layout", c.layout, "W1: rr (event j to stream j mod streams), blocks (consecutive events per stream) or single (the Python original's shape: one stream, empty data, keys event-N)")
	fs.StringVar(&c.keys, "keys", c.keys, "idempotency key of each event: uuid (random v4), seq (event-N) or none")
	fs.IntVar(&c.dataBytes, "data-bytes", c.dataBytes, "bytes of JSON data per event")
	fs.IntVar(&c.writers, "writers", c.writers, "W4/W5: concurrent writers, one stream each (--quick: 4)")
	fs.IntVar(&c.watchers, "watchers", c.watchers, "W5: watchers of the global stream (--quick: 10)")
	fs.DurationVar(&c.w3Duration, "w3-duration", c.w3Duration, "W3: how long the single writer appends (--quick: 2s)")
	fs.DurationVar(&c.w4Duration, "w4-duration", c.w4Duration, "W4: how long the writers append (--quick: 2s)")
	fs.DurationVar(&c.w5Duration, "w5-duration", c.w5Duration, "W5: how long the writers append while watched (--quick: 2s)")
	fs.IntVar(&c.runs, "runs", c.runs, "repeat the whole set of workloads this many times")
	fs.BoolVar(&c.json, "json", c.json, "print one JSON object per workload and run instead of a table")
	fs.StringVar(&c.dir, "dir", c.dir, "directory for the temporary databases")
	fs.StringVar(&c.label, "label", c.label, "a tag for every result (the JSON label field)")
	fs.StringVar(&c.sync, "synchronous", c.sync, "durability of each commit: normal (survives a process crash) or full (synced to disk: survives a power loss)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", c.cpuProfile, "write a CPU profile of the whole run to this file (for go tool pprof)")
	fs.BoolVar(&c.quick, "quick", c.quick, "scale everything down, for tests (see above)")
}

const benchLong = `Runs Chronicle's benchmark workloads, each on a fresh SQLite store in a
temporary directory that is removed afterwards, and prints a table or, with
--json, one JSON line per result, shaped like the C reference harness's
lines (cbench; see BENCHMARKS.md). It ignores --db.

Workloads (default W1,W2,W3,W4,W5,W6):
  W1   write --events events in batches of --batch, with idempotency keys and
       --data-bytes JSON data over --streams streams (--layout); latency per batch
  W2   read W1's store back, the global stream (W2) then every stream (W2s),
       checking count and order; latency per page of 1,000 events
  W3   single-event appends with an exact expected version, one writer,
       round robin over --streams streams; latency per append
  W4   --writers concurrent writers, each appending to its own stream with exact
       expectations; latency per append
  W5   W4's load while --watchers watchers follow the global stream; latency
       from the append's start to each delivery, and the writers' slowdown
  W6   1,000 snapshot saves and loads on 100 growing streams (W6save, W6load)
  W7   W1 in rr layout over 10,000 streams after one 16 MiB event (not default)

--quick writes 50,000 events in 5,000-event batches over 100 streams, runs W3-W5
for 2 s each with 4 writers and 10 watchers, takes 200 snapshots in W6, and
gives W7 1,000 streams and a 1 MiB event; flags given explicitly still apply.`

func (a *app) benchCmd() *cobra.Command {
	c := defaultBenchConfig()
	var workloads string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run the benchmark workloads (W1-W7) on fresh SQLite stores",
		Long:  benchLong,
		Example: `  chronicle bench                                  # W1-W6 at default sizes, a table
  chronicle bench --json --runs 3 > results.jsonl  # JSON lines, three rounds
  chronicle bench --workloads W3,W4 --w3-duration 10s`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.finish(cmd.Flags().Changed, workloads); err != nil {
				return err
			}
			ver, err := sqlite.LibVersion()
			if err != nil {
				return fmt.Errorf("SQLite version: %w", err)
			}
			b := &bench{cfg: c, stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr(), sqlite: ver,
				prog: newProgress(cmd.ErrOrStderr(), !c.json)}
			return b.main(cmd.Context())
		},
	}
	addBenchFlags(cmd.Flags(), &c, &workloads)
	return cmd
}

// finish applies --quick and checks the configuration; set tells which
// flags were given.
func (c *benchConfig) finish(set func(string) bool, workloads string) error {
	if c.quick {
		c.applyQuick(set)
	}
	if set("streams") {
		c.w7Streams = c.streams
	}
	wl, err := parseWorkloads(workloads)
	if err != nil {
		return err
	}
	c.workloads = wl
	switch {
	case c.events < 1:
		return usagef("--events must be at least 1")
	case c.batch < 1:
		return usagef("--batch must be at least 1")
	case c.streams < 1:
		return usagef("--streams must be at least 1")
	case c.dataBytes < 0 || c.dataBytes > 1<<30:
		return usagef("--data-bytes must be between 0 and 1 GiB")
	case c.writers < 1:
		return usagef("--writers must be at least 1")
	case c.watchers < 1:
		return usagef("--watchers must be at least 1")
	case c.w3Duration <= 0 || c.w4Duration <= 0 || c.w5Duration <= 0:
		return usagef("durations must be positive")
	case c.runs < 1:
		return usagef("--runs must be at least 1")
	case c.sync != "normal" && c.sync != "full":
		return usagef("--synchronous must be normal or full, not %q", c.sync)
	case !slices.Contains([]string{"rr", "blocks", "single"}, c.layout):
		return usagef("--layout must be rr, blocks or single, not %q", c.layout)
	case !slices.Contains([]string{"uuid", "seq", "none"}, c.keys):
		return usagef("--keys must be uuid, seq or none, not %q", c.keys)
	}
	return nil
}

func parseWorkloads(s string) ([]string, error) {
	if strings.EqualFold(strings.TrimSpace(s), "all") {
		return allWorkloads, nil
	}
	seen := map[string]bool{}
	for _, w := range strings.Split(s, ",") {
		w = strings.ToUpper(strings.TrimSpace(w))
		if w == "" {
			continue
		}
		if !slices.Contains(allWorkloads, w) {
			return nil, usagef("unknown workload %q (want some of %s)", w, strings.Join(allWorkloads, ","))
		}
		seen[w] = true
	}
	if len(seen) == 0 {
		return nil, usagef("--workloads is empty")
	}
	if seen["W2"] && !seen["W1"] {
		return nil, usagef("W2 reads the store W1 writes: select W1 too (--workloads W1,W2)")
	}
	var out []string
	for _, w := range allWorkloads { // run in the canonical order
		if seen[w] {
			out = append(out, w)
		}
	}
	return out, nil
}

// bench runs the workloads and reports their results.
type bench struct {
	cfg    benchConfig
	stdout io.Writer
	stderr io.Writer
	sqlite string
	prog   *progress

	run     int          // the current run, from 1
	w4Rate  float64      // W4's appends/s in the current run, for W5's slowdown
	results []*resultRun // for the table
	failed  []string     // failed checks
}

func (b *bench) main(ctx context.Context) (err error) {
	if b.cfg.cpuProfile != "" {
		f, err := os.Create(b.cfg.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			if cerr := f.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("cpu profile: %w", cerr)
			}
		}()
	}
	err = b.runAll(ctx)
	b.prog.clear()
	if !b.cfg.json {
		b.printTable()
	}
	for _, f := range b.failed {
		fmt.Fprintf(b.stderr, "chronicle bench: check failed: %s\n", f)
	}
	if err == nil && len(b.failed) > 0 {
		return errReported
	}
	return err
}

func (b *bench) runAll(ctx context.Context) error {
	has := func(w string) bool { return slices.Contains(b.cfg.workloads, w) }
	for run := 1; run <= b.cfg.runs; run++ {
		b.run, b.w4Rate = run, 0
		if has("W1") {
			if err := b.withStore(ctx, func(st *chronicle.Store, db string) error {
				w, err := b.w1(ctx, st, db, b.w1Shape())
				if err != nil || !has("W2") {
					return err
				}
				return b.w2(ctx, st, db, w)
			}); err != nil {
				return err
			}
		}
		for _, w := range []struct {
			id string
			fn func(context.Context, *chronicle.Store, string) error
		}{{"W3", b.w3}, {"W4", b.w4}, {"W5", b.w5}, {"W6", b.w6}, {"W7", b.w7}} {
			if !has(w.id) {
				continue
			}
			if err := b.withStore(ctx, func(st *chronicle.Store, db string) error { return w.fn(ctx, st, db) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// withStore runs fn on a fresh store in a new temporary directory, then
// closes the store and removes the directory, whatever happens.
func (b *bench) withStore(ctx context.Context, fn func(st *chronicle.Store, db string) error) (err error) {
	dir, err := os.MkdirTemp(b.cfg.dir, "chronicle-bench-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
			err = rerr
		}
	}()
	db := filepath.Join(dir, "bench.db")
	opts := &sqlite.Options{}
	if b.cfg.sync == "full" {
		opts.Synchronous = sqlite.SyncFull
	}
	st, err := sqlite.Open(ctx, db, opts)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	return fn(st, db)
}

// measure runs fn between a reset of the peak RSS and its reading.
func measure(fn func() error) (rssMiB float64, err error) {
	resetPeakRSS()
	err = fn()
	return peakRSSMiB(), err
}
