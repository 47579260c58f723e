package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/chronicle-go/chronicle"
	"github.com/spf13/cobra"
)

// parseExpect reads --expect: any, no-stream, exists or a version.
func parseExpect(s string) (chronicle.Expectation, error) {
	switch s {
	case "", "any":
		return chronicle.Any, nil
	case "no-stream":
		return chronicle.NoStream, nil
	case "exists":
		return chronicle.StreamExists, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return chronicle.Any, usagef("--expect %q: want any, no-stream, exists or a version (a number from 0)", s)
	}
	return chronicle.Exactly(n), nil
}

// parseMeta builds a metadata object from path=value pairs; a dotted path
// nests objects (tenant.id=t1 gives {"tenant":{"id":"t1"}}).
func parseMeta(pairs []string) (json.RawMessage, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	root := map[string]any{}
	for _, p := range pairs {
		path, value, ok := strings.Cut(p, "=")
		if !ok || path == "" {
			return nil, usagef("--meta %q: want key=value", p)
		}
		keys := strings.Split(path, ".")
		m := root
		for i, k := range keys {
			if k == "" {
				return nil, usagef("--meta %q: empty key in the path", p)
			}
			if i == len(keys)-1 {
				if _, dup := m[k]; dup {
					return nil, usagef("--meta %q: %s is given twice", p, path)
				}
				m[k] = metaValue(value)
				break
			}
			next, ok := m[k].(map[string]any)
			if !ok {
				if _, taken := m[k]; taken {
					return nil, usagef("--meta %q: %s holds a value already", p, strings.Join(keys[:i+1], "."))
				}
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
	}
	return json.Marshal(root)
}

// appendResult is what append prints with --json.
type appendResult struct {
	Stream    string   `json:"stream"`
	Version   int64    `json:"version"`
	Written   int      `json:"written"`
	Positions []string `json:"positions"`
}

func (a *app) appendCmd() *cobra.Command {
	var (
		id, expect string
		meta       []string
		jsonOut    bool
		batch      int
	)
	cmd := &cobra.Command{
		Use:   "append STREAM TYPE [DATA] | append STREAM -",
		Short: "Append an event, or many from JSON Lines on stdin",
		Long: `Append one event of type TYPE with DATA (any text, often JSON) to STREAM,
creating the store when it does not exist yet, and print the stream's new
version and the event's position.

With - in place of TYPE, read events from stdin as JSON Lines, one object
per line:

  {"type":"OrderPlaced","data":{"total":12},"id":"…","metadata":{"tenant":"acme"}}

with "data" the payload as JSON (a JSON string "…" is stored with its
quotes), or "data_base64" for any bytes; "id", "metadata" and "time"
(RFC 3339) are optional. export's lines are accepted too (their stream,
version and position are ignored). The events are appended in order, in
batches of --batch events, each batch atomically: --expect applies to the
first batch, and each later batch expects the version the one before it
left, so the events land together or the command stops at the first batch
that would interleave with another writer.

An event whose --id (or "id") is already in the stream is not written
again, so a command that failed can be run again.`,
		Example: `  chronicle append order-42 OrderPlaced '{"total":12}'
  chronicle append order-42 OrderShipped --expect 1 --id ship-42 --meta tenant=acme
  printf '{"type":"A"}\n{"type":"B","data":[1,2]}\n' | chronicle append log -`,
		Args: args(2, 3),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			ctx := cmd.Context()
			stream := args[0]
			if err := chronicle.ValidateStreamName(stream); err != nil {
				return &usageError{err.Error()}
			}
			exp, err := parseExpect(expect)
			if err != nil {
				return err
			}
			md, err := parseMeta(meta)
			if err != nil {
				return err
			}
			var events func(yield func(chronicle.EventData, error) bool)
			if args[1] == "-" {
				if len(args) > 2 {
					return usagef("with - the events come from stdin: give no DATA")
				}
				if id != "" || len(meta) > 0 {
					return usagef("with - give --id and --meta in each line (\"id\", \"metadata\")")
				}
				if batch < 1 {
					return usagef("--batch must be at least 1")
				}
				events = stdinEvents(cmd.InOrStdin())
			} else {
				if err := chronicle.ValidateEventType(args[1]); err != nil {
					return &usageError{err.Error()}
				}
				e := chronicle.EventData{ID: id, Type: args[1], Metadata: md}
				if len(args) > 2 {
					e.Data = []byte(args[2])
				}
				events = func(yield func(chronicle.EventData, error) bool) { yield(e, nil) }
				batch = 1
			}
			// The store is opened (and created) with the first batch, so
			// that empty or bad input leaves no store behind.
			var s *store
			defer func() {
				if s != nil {
					s.close(&err)
				}
			}()
			res := appendResult{Stream: stream}
			flush := func(b []chronicle.EventData) error {
				if s == nil {
					if s, err = a.open(ctx, true); err != nil {
						return err
					}
				}
				r, err := s.Append(ctx, stream, exp, b...)
				if err != nil {
					if res.Written > 0 || len(res.Positions) > 0 {
						return fmt.Errorf("after %d events (version %d): %w", len(res.Positions), res.Version, err)
					}
					return err
				}
				res.Version, res.Written = r.Version, res.Written+r.Written
				for _, p := range r.Positions {
					res.Positions = append(res.Positions, p.String())
				}
				exp = chronicle.Exactly(r.Version)
				return nil
			}
			var pending []chronicle.EventData
			for e, err := range events {
				if err != nil && len(res.Positions) > 0 {
					return fmt.Errorf("%w (the %d events before it are appended: version %d)", err, len(res.Positions), res.Version)
				}
				if err != nil {
					return err
				}
				pending = append(pending, e)
				if len(pending) == batch {
					if err := flush(pending); err != nil {
						return err
					}
					pending = pending[:0]
				}
			}
			if len(pending) > 0 {
				if err := flush(pending); err != nil {
					return err
				}
			}
			if len(res.Positions) == 0 {
				return errors.New("no events on stdin")
			}
			w := cmd.OutOrStdout()
			if jsonOut {
				return json.NewEncoder(w).Encode(res)
			}
			n := len(res.Positions)
			dup := ""
			if res.Written < n {
				dup = fmt.Sprintf(" (%d already there)", n-res.Written)
			}
			where := "position " + res.Positions[0]
			if n > 1 {
				where = "positions " + res.Positions[0] + "…" + res.Positions[n-1]
			}
			_, err = fmt.Fprintf(w, "%s: %d event(s) written%s, version %d, %s\n", stream, res.Written, dup, res.Version, where)
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&id, "id", "", "the event's ID, its idempotency key (default: a new UUIDv7)")
	fs.StringVar(&expect, "expect", "any", "the stream's version the append expects: any, no-stream, exists or a number")
	fs.StringArrayVar(&meta, "meta", nil, "metadata key=value (a dotted key nests: tenant.id=t1; value read as JSON when it is a number, true, false or \"string\"); repeat for more")
	fs.BoolVar(&jsonOut, "json", false, "print the result as JSON")
	fs.IntVar(&batch, "batch", 1000, "with -: events per append (one transaction each)")
	return cmd
}

// stdinEvents reads events from JSON Lines; an error names the line.
func stdinEvents(r io.Reader) func(yield func(chronicle.EventData, error) bool) {
	return func(yield func(chronicle.EventData, error) bool) {
		for p, err := range newLineReader(r).events() {
			if err != nil {
				err = fmt.Errorf("stdin %w", err)
			}
			if !yield(p.event, err) || err != nil {
				return
			}
		}
	}
}
