package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"math/big"
	"os"
	"path/filepath"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/spf13/cobra"
)

func (a *app) copyCmd() *cobra.Command {
	var (
		from, to             location
		verify               bool
		f                    = engineFlags{tune: a.env.tune}
		fromSchema, toSchema string
	)
	cmd := &cobra.Command{
		Use:   "copy --from DB --to DB",
		Short: "Copy every event of one store into another (SQLite, PostgreSQL)",
		Long: `Copy every event of the store --from into the store --to, each a SQLite
file or a postgres:// URL (with --from-schema, --to-schema), in any
combination. The target is created when it does not exist; the source
must exist. Each event keeps its stream, version, ID, type, time, data and
metadata; the target assigns new positions.

The source's global stream is read in order, up to its head when copy
began, and written as import writes a file (see chronicle import --help):
in batches per stream, each atomically, several streams at once. Events
the target has at their versions already are checked to have the same IDs
and skipped, so copy resumes when run again after an interruption, and a
finished copy writes nothing when run again. A stream of the target that
holds another event at a version is a conflict: copy stops. The events of
each stream keep their order; across streams, batches in flight at once
(--parallel) commit in any order, so the interleaving of streams in the
target's global stream differs from the source's (--parallel 1 follows it
batch by batch).

--verify then compares the stores event by event: every stream of the
source must be in the target with the same version, and each event the
same version, ID, type, time, data and metadata (metadata as JSON, since
PostgreSQL normalizes its spacing and key order; positions are not
compared). Streams that only the target has are not differences. Any
difference fails the command (exit 1), naming the first ones. Copy from a
store that nothing writes meanwhile, or the events appended since copy
began will be differences.

From PostgreSQL, the source's global stream ends where no transaction
still running in the cluster could commit an event before it: a copy made
while one stays open leaves the later events out (--verify reports them),
and running copy again once it has ended copies them.

What copy leaves out: snapshots and projection checkpoints. Positions are
the store's own (the target numbers events otherwise, and PostgreSQL's
differ in form from SQLite's), so a checkpoint or a global snapshot taken
at a position of the source means nothing in the target. Rebuild the
projections in the target from the start of its global stream (a
projection with no checkpoint does so), and let the application save
stream snapshots again (they are a cache: without them, aggregates load
from their events).`,
		Example: `  chronicle copy --from events.db --to postgres://localhost/app --verify
  chronicle copy --from postgres://localhost/app --from-schema billing --to backup.db
  chronicle copy --from old.db --to new.db --batch 500`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			ctx := cmd.Context()
			from.schema, to.schema = fromSchema, toSchema
			if err := a.copyLocations(from, to); err != nil {
				return err
			}
			o, err := f.options("the source")
			if err != nil {
				return err
			}
			src, err := a.openAt(ctx, from, false)
			if err != nil {
				return err
			}
			defer src.close(&err)
			dst, err := a.openAt(ctx, to, true)
			if err != nil {
				return err
			}
			defer dst.close(&err)
			stderr, stdout := cmd.ErrOrStderr(), cmd.OutOrStdout()
			st, err := src.Stats(ctx)
			if err != nil {
				return err
			}
			if info, err := src.info(ctx); err == nil && info.Snapshots > 0 {
				fmt.Fprintf(stderr, "note: the %d snapshots of the source are not copied (see chronicle copy --help)\n", info.Snapshots)
			}
			e, err := newEngine(ctx, dst, o)
			if err != nil {
				return err
			}
			b := newBar(stderr, st.Events, "copying", true)
			err = e.finish(copyEvents(ctx, src, st.Head, e, b))
			b.done()
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(stdout, "copied %s to %s: %s\n", src.loc, dst.loc, e.summary()); err != nil {
				return err
			}
			if !verify {
				return nil
			}
			return verifyCopy(ctx, src, dst, st.Events, stdout, stderr)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&from.url, "from", "", "the source store: a SQLite file or a postgres:// URL (required)")
	fs.StringVar(&to.url, "to", "", "the target store, created when missing (required)")
	fs.StringVar(&fromSchema, "from-schema", "", "the PostgreSQL schema of the source (default chronicle)")
	fs.StringVar(&toSchema, "to-schema", "", "the PostgreSQL schema of the target (default chronicle)")
	fs.BoolVar(&verify, "verify", false, "then compare the two stores event by event; a difference fails the command")
	f.add(cmd)
	return cmd
}

// copyLocations checks copy's stores: both given, each schema on a
// PostgreSQL store, and not the same store twice.
func (a *app) copyLocations(from, to location) error {
	if a.db != "" || a.schema != "" {
		return usagef("copy names its stores with --from and --to (and --from-schema, --to-schema), not --db and --schema")
	}
	if from.url == "" || to.url == "" {
		return usagef("give the source with --from and the target with --to")
	}
	for _, l := range []struct {
		loc  location
		flag string
	}{{from, "--from-schema"}, {to, "--to-schema"}} {
		if l.loc.schema != "" && !l.loc.postgres() {
			return usagef("%s applies to PostgreSQL stores only, and %s is a SQLite file", l.flag, l.loc.url)
		}
	}
	if sameStore(from, to) {
		return usagef("--from and --to name the same store")
	}
	return nil
}

// sameStore reports whether a and b name the same store, as far as their
// names tell (the same file under two paths counts as the same).
func sameStore(a, b location) bool {
	if a.postgres() != b.postgres() {
		return false
	}
	if a.postgres() {
		schema := func(l location) string {
			if l.schema == "" {
				return postgres.DefaultSchema
			}
			return l.schema
		}
		return a.url == b.url && schema(a) == schema(b)
	}
	fa, errA := os.Stat(a.url)
	fb, errB := os.Stat(b.url)
	if errA == nil && errB == nil {
		return os.SameFile(fa, fb)
	}
	pa, _ := filepath.Abs(a.url)
	pb, _ := filepath.Abs(b.url)
	return pa == pb
}

// copyEvents puts the source's events up to head into e.
func copyEvents(ctx context.Context, src *store, head chronicle.Position, e *engine, b *bar) error {
	for ev, err := range src.ReadAll(ctx, chronicle.Position{}, nil) {
		if err != nil {
			return err
		}
		if head.Before(ev.Position) {
			return nil
		}
		it := item{stream: ev.Stream, version: ev.Version, pos: ev.Position,
			event: chronicle.EventData{ID: ev.ID, Type: ev.Type, Data: ev.Data, Metadata: ev.Metadata, Time: ev.Time}}
		if err := e.put(it); err != nil {
			return err
		}
		b.add(1)
	}
	return nil
}

// maxDifferences is how many differences --verify prints.
const maxDifferences = 10

// verifyCopy compares every stream of src with the same stream of dst,
// event by event; it prints the first differences on stderr and fails when
// there are any.
func verifyCopy(ctx context.Context, src, dst *store, total int64, stdout, stderr io.Writer) error {
	b := newBar(stderr, total, "verifying", true)
	var events, streams int64
	var diffs []string // the first differences
	differ := 0
	for info, err := range src.ListStreams(ctx, nil) {
		if err != nil {
			b.done()
			return err
		}
		n, diff, err := compareStream(ctx, src, dst, info.Stream)
		if err != nil {
			b.done()
			return err
		}
		if diff != "" {
			if differ++; differ <= maxDifferences {
				diffs = append(diffs, diff)
			}
		}
		events += n
		streams++
		b.add(int(n))
	}
	b.done()
	if differ > 0 {
		for _, d := range diffs {
			fmt.Fprintln(stderr, d)
		}
		more := ""
		if differ > maxDifferences {
			more = fmt.Sprintf(" (the first %d above)", maxDifferences)
		}
		return fmt.Errorf("verify: %d of %d streams differ between %s and %s%s", differ, streams, src.loc, dst.loc, more)
	}
	_, err := fmt.Fprintf(stdout, "verified: the %d events of %d streams are the same in both stores\n", events, streams)
	return err
}

// compareStream compares one stream of src and dst. It returns the number
// of source events compared and the first difference ("" when none).
func compareStream(ctx context.Context, src, dst *store, stream string) (int64, string, error) {
	next, stop := iter.Pull2(dst.Read(ctx, stream, 0, nil))
	defer stop()
	var n int64
	for se, err := range src.Read(ctx, stream, 0, nil) {
		if err != nil {
			return n, "", err
		}
		n++
		te, err, ok := next()
		if err != nil {
			return n, "", err
		}
		if !ok {
			return n, fmt.Sprintf("stream %q version %d: missing in the target, whose stream ends at version %d", stream, se.Version, se.Version-1), nil
		}
		if d := eventDiff(&se, &te); d != "" {
			return n, fmt.Sprintf("stream %q version %d: %s", stream, se.Version, d), nil
		}
	}
	te, err, ok := next()
	if err != nil {
		return n, "", err
	}
	if ok {
		return n, fmt.Sprintf("stream %q version %d: only in the target (the source's stream ends at version %d)", stream, te.Version, n), nil
	}
	return n, "", nil
}

// eventDiff names the fields in which two events at the same place differ,
// with both values; "" when they do not. Positions are not compared.
func eventDiff(s, t *chronicle.Event) string {
	var d []byte
	field := func(name string, sv, tv any) {
		if len(d) > 0 {
			d = append(d, "; "...)
		}
		d = fmt.Appendf(d, "%s: source %v, target %v", name, sv, tv)
	}
	if s.Version != t.Version {
		field("version", s.Version, t.Version)
	}
	if s.ID != t.ID {
		field("id", fmt.Sprintf("%q", s.ID), fmt.Sprintf("%q", t.ID))
	}
	if s.Type != t.Type {
		field("type", fmt.Sprintf("%q", s.Type), fmt.Sprintf("%q", t.Type))
	}
	if !s.Time.Equal(t.Time) {
		field("time", fmtNano(s), fmtNano(t))
	}
	if !bytes.Equal(s.Data, t.Data) {
		field("data", dataPreview(s.Data), dataPreview(t.Data))
	}
	if !sameJSON(s.Metadata, t.Metadata) {
		field("metadata", dataPreview(s.Metadata), dataPreview(t.Metadata))
	}
	return string(d)
}

func fmtNano(e *chronicle.Event) string { return e.Time.UTC().Format("2006-01-02T15:04:05.999999999Z") }

func dataPreview(b []byte) string {
	if len(b) == 0 {
		return "(empty)"
	}
	return fmt.Sprintf("%s (%d bytes)", preview(b, 40), len(b))
}

// sameJSON reports whether a and b are the same JSON value, whatever their
// spacing, key order and number notation (PostgreSQL's jsonb normalizes
// them); both empty is the same too.
func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	va, okA := decodeJSON(a)
	vb, okB := decodeJSON(b)
	return okA && okB && jsonEqual(va, vb)
}

func decodeJSON(b []byte) (any, bool) {
	if len(b) == 0 {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil, false
	}
	return v, true
}

func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		rx, okX := new(big.Rat).SetString(string(x))
		ry, okY := new(big.Rat).SetString(string(y))
		return okX && okY && rx.Cmp(ry) == 0
	}
	return a == b
}
