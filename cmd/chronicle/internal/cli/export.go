package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/spf13/cobra"
)

// The export format
//
// An export is JSON Lines: first a header line,
//
//	{"chronicle_export":1,"store":"sqlite","head":"1042","time":"2026-12-02T09:00:00.123456789Z"}
//
// then one line per event exactly as read --json prints it (see
// appendEventJSON): stream, version, position, id, type, time, and data or
// data_base64, metadata or metadata_base64. The events of each stream come
// in version order without gaps; export --all writes them in global
// (position) order, export STREAM… stream after stream.
//
// chronicle_export is the format version, exportFormat. A reader refuses
// other versions; fields may be added to the header within a version, and
// readers ignore header fields they do not know. "store" is the backend
// the export was read from (sqlite or postgres); "head" the position of
// the store's last event when the export began (every event exported is
// at or before it; positions are those of the source store and are not
// kept by import); "time" is when the export began, in UTC.

// exportFormat is the version of the export format this chronicle writes
// and reads.
const exportFormat = 1

// exportHeader is the first line of an export.
type exportHeader struct {
	Format int       `json:"chronicle_export"`
	Store  string    `json:"store"`
	Head   string    `json:"head"`
	Time   time.Time `json:"time"`
}

func (a *app) exportCmd() *cobra.Command {
	var (
		all    bool
		output string
	)
	cmd := &cobra.Command{
		Use:   "export [--all | STREAM…] [-o FILE]",
		Short: "Write the events of the store, or of some streams, as JSON Lines",
		Long: `Write every event of the store (--all, the default without STREAM) in
global order, or the events of each STREAM in turn, as JSON Lines that
import reads back into any store.

The first line is a header,

  {"chronicle_export":1,"store":"sqlite","head":"1042","time":"…"}

where chronicle_export is the format version (1), store the backend read
from, head the position of the store's last event when the export began
and time when it began. Then comes one line per event, as read --json
prints it:

  {"stream":"order-1","version":1,"position":"1","id":"…","type":"OrderPlaced",
   "time":"2026-12-02T09:00:00.123456789Z","data":{…},"metadata":{…}}

with "data" the payload when it is JSON on one line and "data_base64"
(standard base64) otherwise, so that every byte comes back as it was;
likewise "metadata" or, rarely, "metadata_base64". Empty fields are left
out. The events of each stream are in version order without gaps. The
export holds the events up to the head it names (of each STREAM, up to its
version when the export began): events appended meanwhile are left out.
On PostgreSQL the global stream, and so the head of --all, ends where no
transaction still running in the cluster could commit an event before it
(see the README's PostgreSQL section): an export --all taken while a
transaction stays open anywhere in the cluster ends before the events
committed after that transaction began.

The export streams in constant memory. With -o it goes to a temporary file
in FILE's directory that is renamed to FILE (replacing it; mode 0600) only
when complete, so that an interrupted export leaves no partial file, and a
summary line goes to stderr. Without -o it goes to stdout: check the exit
status before trusting a file that a pipe wrote. A progress bar shows on
stderr when stderr is a terminal (and stdout is not).`,
		Example: `  chronicle --db events.db export -o events.jsonl
  chronicle --db events.db export order-1 order-2 > orders.jsonl
  chronicle --db postgres://localhost/app export --all | gzip > events.jsonl.gz`,
		Args: func(cmd *cobra.Command, args []string) error {
			if all && len(args) > 0 {
				return usagef("--all exports every stream: give no STREAM")
			}
			seen := map[string]bool{}
			for _, s := range args {
				if err := chronicle.ValidateStreamName(s); err != nil {
					return &usageError{err.Error()}
				}
				if seen[s] {
					return usagef("stream %q is given twice", s)
				}
				seen[s] = true
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			ctx := cmd.Context()
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			if output == "-" {
				output = ""
			}
			if output != "" {
				if fi, err := os.Stat(output); err == nil && fi.IsDir() {
					return fmt.Errorf("-o %s: is a directory", output)
				}
			}
			s, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			defer s.close(&err)
			if output != "" && s.holds(output) {
				return usagef("-o %s is a file of the store itself", output)
			}
			x, err := s.planExport(ctx, args)
			if x != nil {
				x.onWritten = a.env.tune.written
			}
			if err != nil {
				return err
			}
			b := newBar(stderr, x.total, "exporting", output != "" || !isTerminal(stdout))
			write := func(w io.Writer) error { return x.write(ctx, s, w, b) }
			if output == "" {
				bw := bufio.NewWriterSize(stdout, 256<<10)
				err = write(bw)
				b.done()
				return errors.Join(err, bw.Flush())
			}
			err = writeFileAtomically(output, write)
			b.done()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(stderr, "exported %d events of %d streams to %s\n", x.events, x.nstreams, output)
			return err
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&all, "all", false, "export every stream in global order (the default without STREAM)")
	fs.StringVarP(&output, "output", "o", "", "write to FILE, atomically, instead of stdout (- is stdout)")
	return cmd
}

// exportPlan is what an export will write: fixed before the first line so
// that the header's head bounds the events.
type exportPlan struct {
	header   exportHeader
	all      bool                   // the global stream
	streams  []chronicle.StreamInfo // else these streams
	head     chronicle.Position
	total    int64 // events to export, for the progress bar
	nstreams int64 // streams exported
	events   int64 // events written so far

	onWritten func(n int64) // tests: called after each event
}

// planExport reads the store's head (and the versions of the streams
// given) that bound the export.
func (s *store) planExport(ctx context.Context, streams []string) (*exportPlan, error) {
	x := &exportPlan{all: len(streams) == 0, header: exportHeader{Format: exportFormat, Store: "sqlite", Time: time.Now().UTC()}}
	if s.loc.postgres() {
		x.header.Store = "postgres"
	}
	for _, name := range streams {
		info, err := s.StreamInfo(ctx, name)
		if err != nil {
			return nil, err
		}
		if info.Version == 0 {
			return nil, fmt.Errorf("no stream %q in %s", name, s.loc)
		}
		x.streams = append(x.streams, info)
		x.total += info.Version
	}
	// The head after the streams' versions: every event exported is at or
	// before it.
	st, err := s.Stats(ctx)
	if err != nil {
		return nil, err
	}
	x.head = st.Head
	x.header.Head = st.Head.String()
	x.nstreams = int64(len(x.streams))
	if x.all {
		x.total, x.nstreams = st.Events, st.Streams
	}
	return x, nil
}

// write writes the header and the events to w.
func (x *exportPlan) write(ctx context.Context, s *store, w io.Writer, b *bar) error {
	line, err := json.Marshal(x.header)
	if err != nil {
		return err
	}
	if _, err := w.Write(append(line, '\n')); err != nil {
		return err
	}
	var buf []byte
	put := func(e *chronicle.Event) error {
		if err := ctx.Err(); err != nil { // a page is read ahead
			return err
		}
		buf = appendEventJSON(buf[:0], e)
		if _, err := w.Write(buf); err != nil {
			return err
		}
		x.events++
		b.add(1)
		if x.onWritten != nil {
			x.onWritten(x.events)
		}
		return nil
	}
	if x.all {
		for e, err := range s.ReadAll(ctx, chronicle.Position{}, nil) {
			if err != nil {
				return err
			}
			if x.head.Before(e.Position) {
				break
			}
			if err := put(&e); err != nil {
				return err
			}
		}
		return nil
	}
	for _, info := range x.streams {
		for e, err := range s.Read(ctx, info.Stream, 0, &chronicle.ReadOptions{Limit: int(info.Version)}) {
			if err != nil {
				return err
			}
			if err := put(&e); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeFileAtomically runs write on a temporary file next to path and
// renames it to path once write and the sync succeed; on failure it
// removes the temporary file and leaves path as it was.
func writeFileAtomically(path string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
