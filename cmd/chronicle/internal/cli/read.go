package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// tableTime is how tables show times: UTC, to the millisecond.
const tableTime = "2006-01-02T15:04:05.000Z"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(tableTime)
}

// filterFlags are the flags that select events: --stream-prefix (global
// stream only), --type and --meta.
type filterFlags struct {
	prefix string
	types  []string
	meta   []string
}

func (f *filterFlags) add(fs *pflag.FlagSet, global string) {
	fs.StringVar(&f.prefix, "stream-prefix", "", "only events of streams whose names start with this ("+global+")")
	fs.StringArrayVar(&f.types, "type", nil, "only events of this type (repeat for any of several)")
	fs.StringArrayVar(&f.meta, "meta", nil, "only events whose metadata holds value at the dotted path: path=value; "+
		"value is read as JSON when it is a JSON number, true, false or \"string\", else as text (repeat: all paths must match, "+
		"one of the values of a path repeated)")
}

// filter builds the chronicle.Filter the flags describe; all says whether
// the read is of the global stream.
func (f *filterFlags) filter(all bool) (chronicle.Filter, error) {
	var flt chronicle.Filter
	if f.prefix != "" {
		if !all {
			return nil, usagef("--stream-prefix applies to the global stream only (--all)")
		}
		flt = append(flt, chronicle.StreamPrefix(f.prefix))
	}
	switch len(f.types) {
	case 0:
	case 1:
		flt = append(flt, chronicle.TypeIs(f.types[0]))
	default:
		flt = append(flt, chronicle.TypeIn(f.types...))
	}
	var paths []string
	values := map[string][]any{}
	for _, m := range f.meta {
		path, value, ok := strings.Cut(m, "=")
		if !ok || path == "" {
			return nil, usagef("--meta %q: want path=value", m)
		}
		if _, seen := values[path]; !seen {
			paths = append(paths, path)
		}
		values[path] = append(values[path], filterValue(value))
	}
	for _, p := range paths {
		if vs := values[p]; len(vs) == 1 {
			flt = append(flt, chronicle.MetadataIs(p, vs[0]))
		} else {
			flt = append(flt, chronicle.MetadataIn(p, vs...))
		}
	}
	if err := flt.Validate(); err != nil {
		return nil, &usageError{err.Error()}
	}
	return flt, nil
}

// metaValue reads a command-line value: a JSON number, true, false or
// quoted string as that (a number as its exact text, json.Number); anything
// else as text.
func metaValue(s string) any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) == nil && !dec.More() {
		switch v.(type) {
		case bool, string, json.Number:
			return v
		}
	}
	return s
}

// filterValue is metaValue as a filter takes it: a number as int64 when
// it is an integer that fits, else as float64.
func filterValue(s string) any {
	v := metaValue(s)
	n, ok := v.(json.Number)
	if !ok {
		return v
	}
	if i, err := n.Int64(); err == nil {
		return i
	}
	if f, err := n.Float64(); err == nil {
		return f
	}
	return s
}

// eventPrinter prints events as JSON Lines or as a table.
type eventPrinter struct {
	w      *bufio.Writer
	json   bool
	stream bool // show the stream column
	buf    []byte
	rows   int
}

func newEventPrinter(w io.Writer, jsonOut, stream bool) *eventPrinter {
	return &eventPrinter{w: bufio.NewWriter(w), json: jsonOut, stream: stream}
}

func (p *eventPrinter) header() {
	if p.json {
		return
	}
	if p.stream {
		fmt.Fprintf(p.w, "%-10s %-24s %7s  %-24s %-20s %s\n", "POSITION", "STREAM", "VERSION", "TIME", "TYPE", "DATA")
	} else {
		fmt.Fprintf(p.w, "%7s  %-10s %-24s %-20s %s\n", "VERSION", "POSITION", "TIME", "TYPE", "DATA")
	}
}

func (p *eventPrinter) print(e *chronicle.Event) error {
	if p.json {
		p.buf = appendEventJSON(p.buf[:0], e)
		_, err := p.w.Write(p.buf)
		return err
	}
	var line string
	if p.stream {
		line = fmt.Sprintf("%-10s %-24s %7d  %-24s %-20s %s", e.Position, e.Stream, e.Version, fmtTime(e.Time), e.Type, preview(e.Data, 60))
	} else {
		line = fmt.Sprintf("%7d  %-10s %-24s %-20s %s", e.Version, e.Position, fmtTime(e.Time), e.Type, preview(e.Data, 60))
	}
	_, err := p.w.WriteString(strings.TrimRight(line, " ") + "\n")
	return err
}

func (p *eventPrinter) flush() error { return p.w.Flush() }

// readFlags are read's and tail's flags.
type readFlags struct {
	all    bool
	from   string
	limit  int
	back   bool
	json   bool
	filter filterFlags
}

func (a *app) readCmd() *cobra.Command {
	var f readFlags
	cmd := &cobra.Command{
		Use:   "read STREAM | read --all",
		Short: "Print the events of a stream, or of the global stream",
		Long: `Print the events of a stream in version order, or with --all the events of
every stream in commit order (the global stream), as a table or, with
--json, as JSON Lines with every field (the format of export).

--from is exclusive: a version for a stream, a position for --all (as the
POSITION column shows it). With --backwards the events before --from are
read newest first, where 0 (the default) means from the end.`,
		Example: `  chronicle read order-42
  chronicle read order-42 --from 10 --limit 5
  chronicle read order-42 --backwards --limit 1      # the last event
  chronicle read --all --type OrderPlaced --meta tenant=acme --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if f.all {
				return argsN(args, 0, 0, "--all reads every stream: give no STREAM")
			}
			return argsN(args, 1, 1, "give a STREAM, or --all for the global stream")
		},
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			// Every flag is checked before the store is opened.
			flt, err := f.filter.filter(f.all)
			if err != nil {
				return err
			}
			if f.limit < 0 {
				return usagef("--limit must not be negative")
			}
			var (
				fromPos     chronicle.Position
				fromVersion int64
			)
			if f.all {
				fromPos, err = parseFromPosition(f.from)
			} else {
				fromVersion, err = parseFromVersion(f.from)
			}
			if err != nil {
				return err
			}
			s, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer s.close(&err)
			opts := &chronicle.ReadOptions{Backwards: f.back, Limit: f.limit, Filter: flt}
			var seq iter.Seq2[chronicle.Event, error]
			if f.all {
				seq = s.ReadAll(cmd.Context(), fromPos, opts)
			} else {
				seq = s.Read(cmd.Context(), args[0], fromVersion, opts)
			}
			p := newEventPrinter(cmd.OutOrStdout(), f.json, f.all)
			p.header()
			for e, err := range seq {
				if err != nil {
					_ = p.flush()
					return err
				}
				if err := p.print(&e); err != nil {
					return err
				}
			}
			return p.flush()
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&f.all, "all", false, "read the global stream: every event in commit order")
	fs.StringVar(&f.from, "from", "", "start after this version (STREAM) or position (--all); 0 is the start")
	fs.IntVar(&f.limit, "limit", 0, "print at most this many events (0: all)")
	fs.BoolVar(&f.back, "backwards", false, "read newest first")
	fs.BoolVar(&f.json, "json", false, "print JSON Lines with every field instead of a table")
	f.filter.add(fs, "--all only")
	return cmd
}

// argsN checks the number of positional arguments, with a hint.
func argsN(args []string, min, max int, hint string) error {
	if len(args) < min || len(args) > max {
		return usagef("%s", hint)
	}
	return nil
}

func parseFromVersion(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, usagef("--from %q: want a stream version (a number from 0)", s)
	}
	return v, nil
}

func parseFromPosition(s string) (chronicle.Position, error) {
	if s == "" {
		return chronicle.Position{}, nil
	}
	p, err := chronicle.ParsePosition(s)
	if err != nil {
		return p, usagef("--from %q: want a position of the global stream, as read --all prints it", s)
	}
	return p, nil
}

func (a *app) tailCmd() *cobra.Command {
	var f readFlags
	cmd := &cobra.Command{
		Use:   "tail [STREAM | --all]",
		Short: "Follow a stream, or the global stream, as events arrive",
		Long: `Print new events of a stream (or with --all, or without STREAM, of every
stream) as they are committed, until Ctrl-C, which ends tail with exit
code 0. With --from, first print the history after that version or
position (--from 0: from the start), then follow without a gap or a
repeat. --json prints JSON Lines, one line per event as it arrives.`,
		Example: `  chronicle tail order-42
  chronicle tail --from 0 order-42            # the whole stream, then new events
  chronicle tail --all --type OrderPlaced --json | jq .data`,
		Args: func(cmd *cobra.Command, args []string) error {
			if f.all {
				return argsN(args, 0, 0, "--all follows every stream: give no STREAM")
			}
			return argsN(args, 0, 1, "give at most one STREAM")
		},
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			ctx := cmd.Context()
			all := len(args) == 0
			flt, err := f.filter.filter(all)
			if err != nil {
				return err
			}
			fromPos, fromVersion := chronicle.EndPosition(), chronicle.FromEnd
			if f.from != "" && all {
				fromPos, err = parseFromPosition(f.from)
			} else if f.from != "" {
				fromVersion, err = parseFromVersion(f.from)
			}
			if err != nil {
				return err
			}
			s, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			defer s.close(&err)
			var seq iter.Seq2[chronicle.Event, error]
			opts := &chronicle.WatchOptions{Filter: flt}
			if all {
				seq = s.WatchAll(ctx, fromPos, opts)
			} else {
				seq = s.Watch(ctx, args[0], fromVersion, opts)
			}
			p := newEventPrinter(cmd.OutOrStdout(), f.json, all)
			p.header()
			if err := p.flush(); err != nil {
				return err
			}
			for e, err := range seq {
				if err != nil {
					if ctx.Err() != nil {
						return nil // Ctrl-C: the normal end of tail
					}
					return err
				}
				if err := p.print(&e); err != nil {
					return err
				}
				if err := p.flush(); err != nil {
					return err
				}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&f.all, "all", false, "follow the global stream (the default without STREAM)")
	fs.StringVar(&f.from, "from", "", "first print the history after this version (STREAM) or position; default: new events only")
	fs.BoolVar(&f.json, "json", false, "print JSON Lines with every field instead of a table")
	f.filter.add(fs, "global stream only")
	return cmd
}
