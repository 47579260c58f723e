package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/chronicle-go/chronicle"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

// The import engine
//
// import and copy write through one engine. Events arrive one at a time,
// in an order where each stream's events come in version order (a file of
// export, or the global stream of the source). The engine gathers them per
// stream into batches and writes each batch with one Append, so a batch is
// written whole or not at all. For each stream it knows the target's
// version; a batch must continue the stream without a gap: its events at
// versions the target has already must be there with the same IDs (one
// read of that range checks them; another ID is a conflict, and nothing of
// the batch is written), and the rest are appended expecting exactly the
// target's version, so that nothing interleaves with them. Running the
// same input again therefore verifies what is there and writes the rest:
// an interrupted run resumes, and a finished one writes nothing.
//
// Batches of different streams are written concurrently (at most one per
// stream at a time, which keeps each stream in order); a batch goes when it
// holds --batch events or batchBytes bytes, and when the pending events of
// all streams together hold heldBytes, the batches whose events are the
// oldest go until they hold less, which bounds memory whatever the number
// of streams and however their events interleave. So does forgetting the
// idle streams when there are many (their version is looked up again when
// they come back). Each stream's events land in order; across streams,
// the batches in flight at once commit in any order.

// Defaults of the engine.
const (
	defaultBatch    = 1000    // events per append
	defaultParallel = 8       // appends in flight
	batchBytes      = 4 << 20 // a batch goes when its events hold this many bytes
	// itemOverhead approximates the memory of an item beyond its
	// payloads: the item, its strings' headers and allocations.
	itemOverhead = 240
)

// Bounds of the engine's memory (tests lower them, see tuning).
const (
	// defaultHeldBytes bounds the bytes of the pending events: when they
	// reach it, the oldest pending batches are written.
	defaultHeldBytes = 16 << 20
	// defaultMaxStreams is how many streams the engine remembers before it
	// forgets the idle ones.
	defaultMaxStreams = 100_000
)

// item is one event to write, with where it came from.
type item struct {
	stream  string
	version int64
	event   chronicle.EventData
	line    int64              // the input line (import), or 0
	pos     chronicle.Position // the source position (copy)
}

// where names the item's origin for messages.
func (it *item) where() string {
	if it.line > 0 {
		return fmt.Sprintf("line %d", it.line)
	}
	return "source position " + it.pos.String()
}

func (it *item) size() int {
	return itemOverhead + len(it.event.ID) + len(it.event.Data) + len(it.event.Metadata)
}

// streamState is what the engine knows of one stream.
type streamState struct {
	name string
	// partial: the input's events of the stream start after version 1, so
	// the target's first events are not checked against the input, and
	// an ID of the input may be among them (set before the first batch).
	partial bool
	// Owned by the dispatcher (engine.put):
	last    int64 // version of the stream's last event put
	pending []item
	bytes   int
	ticket  uint64        // its entry in engine.queue; 0 when it has no pending events
	busy    chan struct{} // closed when the batch in flight is written; nil when none
	// Owned by the batch in flight (one at a time, handed over by busy):
	known   bool  // version holds the target's version
	version int64 // the target's version
}

func (s *streamState) idle() bool {
	if len(s.pending) > 0 {
		return false
	}
	if s.busy == nil {
		return true
	}
	select {
	case <-s.busy:
		return true
	default:
		return false
	}
}

// engine writes items into dst. put and finish are called from one
// goroutine, the dispatcher; the appends run in goroutines of their own.
type engine struct {
	ctx   context.Context
	dst   *store
	input string // "the file", "the source": whose events conflict
	batch int
	fresh bool // dst held no events at the start: new streams are at version 0

	streams    map[string]*streamState
	maxStates  int
	maxStreams int // the floor of maxStates
	heldBytes  int
	onWritten  func(n int64) // tests: called after each append
	evicted    bool
	queue      []queued // streams with pending events, by their first pending event, from head on
	head       int
	tickets    uint64
	held       int // bytes of the pending events
	types      map[string]string
	sem        chan struct{}
	wg         sync.WaitGroup

	read     int64 // events put
	nstreams int64 // streams seen (see put)

	written, already, appends atomic.Int64

	mu     sync.Mutex
	err    error // the failure of the earliest item
	errAt  int64
	failed atomic.Bool
}

type engineOptions struct {
	input    string
	batch    int
	parallel int
	tune     tuning
}

// newEngine returns an engine that writes into dst.
func newEngine(ctx context.Context, dst *store, o engineOptions) (*engine, error) {
	st, err := dst.Stats(ctx)
	if err != nil {
		return nil, err
	}
	e := &engine{
		ctx: ctx, dst: dst, input: o.input, batch: o.batch, fresh: st.Events == 0,
		streams: map[string]*streamState{}, types: map[string]string{},
		maxStreams: cmp.Or(o.tune.maxStreams, defaultMaxStreams), heldBytes: cmp.Or(o.tune.heldBytes, defaultHeldBytes),
		onWritten: o.tune.written, sem: make(chan struct{}, o.parallel),
	}
	e.maxStates = e.maxStreams
	return e, nil
}

// put adds one event. The events of a stream must come in version order
// without gaps; an error stops the run (finish then reports it).
func (e *engine) put(it item) error {
	if err := e.stopped(); err != nil {
		return err
	}
	if it.version < 1 {
		return fmt.Errorf("%s: version %d: versions start at 1", it.where(), it.version)
	}
	if it.event.ID == "" {
		return fmt.Errorf("%s: the event has no ID (it is what lets a run verify the events written already)", it.where())
	}
	s := e.streams[it.stream]
	if s == nil {
		if err := chronicle.ValidateStreamName(it.stream); err != nil {
			return fmt.Errorf("%s: %w", it.where(), err)
		}
		if len(e.streams) >= e.maxStates {
			e.evict()
		}
		// A stream whose version 1 is here is new to a store that was
		// empty (if another writer added it meanwhile, the append's
		// expectation fails and the engine looks again). Each stream
		// counts once: at its version 1, or when first seen if its
		// events start later (once no stream was forgotten).
		s = &streamState{name: it.stream, known: e.fresh && it.version == 1, partial: it.version > 1}
		if it.version == 1 || !e.evicted {
			e.nstreams++
		}
		e.streams[s.name] = s
	} else if it.version != s.last+1 {
		return fmt.Errorf("%s: stream %q: version %d after version %d: the events of a stream must come in version order, without gaps or repeats",
			it.where(), s.name, it.version, s.last)
	}
	it.stream = s.name // one copy of the name
	if t, ok := e.types[it.event.Type]; ok {
		it.event.Type = t
	} else if len(e.types) < 4096 {
		e.types[it.event.Type] = it.event.Type
	}
	s.last = it.version
	if s.ticket == 0 {
		e.tickets++
		s.ticket = e.tickets
		e.queue = append(e.queue, queued{s, s.ticket})
	}
	s.pending = append(s.pending, it)
	n := it.size()
	s.bytes += n
	e.held += n
	e.read++
	if len(s.pending) >= e.batch || s.bytes >= batchBytes {
		if err := e.submit(s); err != nil {
			return err
		}
	}
	if e.held >= e.heldBytes {
		return e.flushOldest(e.heldBytes - e.heldBytes/8)
	}
	return nil
}

// stopped returns the error that ends the run early: ctx's, or the first
// failure of an append.
func (e *engine) stopped() error {
	if err := e.ctx.Err(); err != nil {
		return err
	}
	if e.failed.Load() {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.err
	}
	return nil
}

// evict forgets the streams without pending events or a batch in flight,
// so that memory stays bounded whatever the number of streams. A stream
// that comes back later is looked up in the target again.
func (e *engine) evict() {
	for name, s := range e.streams {
		if s.idle() {
			delete(e.streams, name)
		}
	}
	e.evicted = true
	e.maxStates = max(e.maxStreams, 2*len(e.streams))
}

// queued is an entry of engine.queue: current while its ticket is the
// stream's.
type queued struct {
	s      *streamState
	ticket uint64
}

// flushOldest writes the pending batches of the streams whose pending
// events are the oldest until the pending events hold at most held bytes.
// With interleaved streams these are also the largest batches: writing
// them one by one, rather than all at once, keeps the pending events near
// the limit, which makes the batches twice as large for the same memory.
func (e *engine) flushOldest(held int) error {
	for e.held > held && e.head < len(e.queue) {
		q := e.queue[e.head]
		e.queue[e.head] = queued{}
		e.head++
		if q.s.ticket != q.ticket {
			continue // written since
		}
		if err := e.submit(q.s); err != nil {
			return err
		}
	}
	if e.head > 1024 && e.head*2 > len(e.queue) {
		e.queue = append(e.queue[:0], e.queue[e.head:]...)
		e.head = 0
	}
	return nil
}

// flushAll writes every pending batch, oldest first.
func (e *engine) flushAll() error { return e.flushOldest(-1) }

// submit starts the append of s's pending events, once s's batch in
// flight (if any) is written and a slot is free.
func (e *engine) submit(s *streamState) error {
	if s.busy != nil {
		<-s.busy // an append ends when ctx does
		s.busy = nil
	}
	if err := e.stopped(); err != nil {
		return err
	}
	select {
	case e.sem <- struct{}{}:
	case <-e.ctx.Done():
		return e.ctx.Err()
	}
	batch := s.pending
	s.pending, s.ticket = nil, 0
	e.held -= s.bytes
	s.bytes = 0
	done := make(chan struct{})
	s.busy = done
	e.wg.Go(func() {
		defer close(done)
		defer func() { <-e.sem }()
		if err := e.write(s, batch); err != nil {
			e.fail(batch[0].line, err)
		}
	})
	return nil
}

// fail records err, keeping the one of the earliest line.
func (e *engine) fail(line int64, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil || line < e.errAt {
		e.err, e.errAt = err, line
	}
	e.failed.Store(true)
}

// finish writes what is pending (unless the run failed or err, the
// input's error, is set), waits for the appends in flight, and returns the
// outcome.
func (e *engine) finish(err error) error {
	if err == nil {
		err = e.flushAll()
	}
	e.wg.Wait()
	if e.ctx.Err() != nil {
		return fmt.Errorf("interrupted after %d events read: at least %d written, %d already there; the target holds whole batches: run the same command again to resume",
			e.read, e.written.Load(), e.already.Load())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return e.err
	}
	return err
}

// summary describes what the run did.
func (e *engine) summary() string {
	appends := ""
	if n := e.appends.Load(); n > 0 {
		appends = fmt.Sprintf(" (in %d appends)", n)
	}
	return fmt.Sprintf("%d events of %d streams read: %d written%s, %d already there",
		e.read, e.nstreams, e.written.Load(), appends, e.already.Load())
}

// write writes one batch of s: it checks the events the target has
// already and appends the others.
func (e *engine) write(s *streamState, batch []item) error {
	for attempt := 1; ; attempt++ {
		if !s.known {
			info, err := e.dst.StreamInfo(e.ctx, s.name)
			if err != nil {
				return fmt.Errorf("%s: %w", batch[0].where(), err)
			}
			s.version, s.known = info.Version, true
		}
		cur, first := s.version, batch[0].version
		if first > cur+1 {
			return fmt.Errorf("%s: stream %q: version %d, but the target's stream is at version %d: the events in between are missing",
				batch[0].where(), s.name, first, cur)
		}
		k := int(min(int64(len(batch)), max(0, cur-first+1))) // events the target has
		if err := e.verify(s.name, batch[:k]); err != nil {
			return err
		}
		rest := batch[k:]
		if len(rest) == 0 {
			e.already.Add(int64(k))
			return nil
		}
		if err := repeatedID(s.name, batch); err != nil {
			return err
		}
		if err := e.notElsewhere(s, cur, rest); err != nil {
			return err
		}
		events := make([]chronicle.EventData, len(rest))
		for i := range rest {
			events[i] = rest[i].event
		}
		r, err := e.dst.Append(e.ctx, s.name, chronicle.Exactly(cur), events...)
		if errors.Is(err, chronicle.ErrConflict) && attempt < 5 {
			s.known = false // another writer: look again
			continue
		}
		if err != nil {
			return appendError(s.name, rest, err)
		}
		e.appends.Add(1)
		if r.Written != len(rest) || r.Version != cur+int64(len(rest)) {
			s.known = false
			return fmt.Errorf("%s: stream %q: %d of %d events written, ending at version %d instead of %d: an ID of these events is in the stream already at another version",
				rest[0].where(), s.name, r.Written, len(rest), r.Version, cur+int64(len(rest)))
		}
		s.version = r.Version
		e.already.Add(int64(k))
		n := e.written.Add(int64(r.Written))
		if e.onWritten != nil {
			e.onWritten(n)
		}
		return nil
	}
}

// notElsewhere checks, for a stream whose first events the input leaves
// out, that no event of rest is in the target's stream already (the store
// would skip it and write the others at other versions).
func (e *engine) notElsewhere(s *streamState, cur int64, rest []item) error {
	if !s.partial || cur == 0 {
		return nil
	}
	for _, it := range rest {
		ev, found, err := e.dst.EventByID(e.ctx, s.name, it.event.ID)
		if err != nil {
			return fmt.Errorf("%s: %w", it.where(), err)
		}
		if found {
			return fmt.Errorf("%s: stream %q version %d conflicts with the target: its ID %q is there at version %d already (nothing of this batch of the stream was written)",
				it.where(), s.name, it.version, it.event.ID, ev.Version)
		}
	}
	return nil
}

// verify checks that the target's stream holds items (consecutive
// versions) with the same IDs.
func (e *engine) verify(stream string, items []item) error {
	if len(items) == 0 {
		return nil
	}
	i := 0
	for ev, err := range e.dst.Read(e.ctx, stream, items[0].version-1, &chronicle.ReadOptions{Limit: len(items)}) {
		if err != nil {
			return fmt.Errorf("%s: %w", items[i].where(), err)
		}
		it := &items[i]
		if ev.Version != it.version {
			return fmt.Errorf("%s: stream %q: the target has version %d where version %d was expected", it.where(), stream, ev.Version, it.version)
		}
		if ev.ID != it.event.ID {
			return fmt.Errorf("%s: stream %q version %d conflicts with the target: the event there has ID %q, %s's has ID %q (nothing of this batch of the stream was written)",
				it.where(), stream, it.version, ev.ID, e.input, it.event.ID)
		}
		i++
	}
	if i < len(items) {
		return fmt.Errorf("%s: stream %q: the target's stream ends before version %d", items[i].where(), stream, items[i].version)
	}
	return nil
}

// repeatedID reports an ID that two events of a batch share: the target
// would store it once and shift the versions after it.
func repeatedID(stream string, batch []item) error {
	seen := make(map[string]int, len(batch))
	for i := range batch {
		if j, dup := seen[batch[i].event.ID]; dup {
			return fmt.Errorf("%s: stream %q: event ID %q of version %d repeats that of version %d (%s): a stream holds each ID once",
				batch[i].where(), stream, batch[i].event.ID, batch[i].version, batch[j].version, batch[j].where())
		}
		seen[batch[i].event.ID] = i
	}
	return nil
}

// appendError names the item an append's error is about: the event the
// store rejected, else the batch's first.
func appendError(stream string, items []item, err error) error {
	at := &items[0]
	var ve *chronicle.ValidationError
	if errors.As(err, &ve) {
		var i int
		if n, _ := fmt.Sscanf(ve.Field, "events[%d]", &i); n == 1 && i >= 0 && i < len(items) {
			at = &items[i]
		}
	}
	return fmt.Errorf("%s: stream %q version %d: %w", at.where(), stream, at.version, err)
}

// engineFlags are import's and copy's flags that shape the engine.
type engineFlags struct {
	batch    int
	parallel int
	tune     tuning
}

func (f *engineFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.IntVar(&f.batch, "batch", defaultBatch, "events per append to one stream (each append is one transaction)")
	fs.IntVar(&f.parallel, "parallel", defaultParallel, "appends in flight at once, to different streams")
}

func (f *engineFlags) options(input string) (engineOptions, error) {
	if f.batch < 1 || f.parallel < 1 {
		return engineOptions{}, usagef("--batch and --parallel must be at least 1")
	}
	return engineOptions{input: input, batch: f.batch, parallel: f.parallel, tune: f.tune}, nil
}

func (a *app) importCmd() *cobra.Command {
	f := engineFlags{tune: a.env.tune}
	cmd := &cobra.Command{
		Use:   "import FILE | import -",
		Short: "Write the events of an export (JSON Lines) into the store",
		Long: `Write the events of FILE (or of stdin, with -), as export writes them,
into the store, which is created when it does not exist. Each event keeps
its stream, version, ID, type, time, data and metadata; the store assigns
new positions. The first line must be export's header with a format
version this chronicle reads (1).

The events are written in batches of up to --batch events of one stream,
each batch atomically, several streams at once (--parallel). A batch
continues its stream where the store has it: the events at versions the
store has already must be there with the same IDs, and are skipped; the
others are appended, expecting the stream's version, so that nothing
interleaves with them. Hence importing the same file again writes nothing,
and an import that was interrupted (Ctrl-C) resumes when run again. An
event whose version is in the store with another ID is a conflict: import
stops with the file's line, and nothing of that stream's batch is written
(batches of other streams may be). So is a gap: a stream's first new event
must be at the version after the store's.

The events of each stream are in the same order as in the file. Across
streams, batches in flight at once (--parallel) commit in any order, so the
interleaving of streams in the global stream differs from the file's;
--parallel 1 writes the batches in the order they fill, which follows the
file's batch by batch. A summary goes to stdout; a progress bar (bytes of
FILE) to stderr when it is a terminal.`,
		Example: `  chronicle --db events.db import events.jsonl
  chronicle --db postgres://localhost/app import events.jsonl
  gunzip -c events.jsonl.gz | chronicle --db events.db import -`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options("the file")
			if err != nil {
				return err
			}
			name, in, size := "stdin", cmd.InOrStdin(), int64(-1)
			if args[0] != "-" {
				file, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer file.Close()
				if fi, err := file.Stat(); err == nil && fi.Mode().IsRegular() {
					size = fi.Size()
				}
				name, in = args[0], file
			}
			b := newBytesBar(cmd.ErrOrStderr(), size, "importing")
			summary, err := a.importFrom(cmd.Context(), newLineReader(io.TeeReader(in, barWriter{b})), name, o)
			b.done()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", name, summary)
			return err
		},
	}
	f.add(cmd)
	return cmd
}

// importFrom imports the export that lr reads into the store the global
// flags name, and returns the engine's summary.
func (a *app) importFrom(ctx context.Context, lr *lineReader, name string, o engineOptions) (summary string, err error) {
	if err := readHeader(lr, name); err != nil {
		return "", err // before the store is created
	}
	s, err := a.open(ctx, true)
	if err != nil {
		return "", err
	}
	defer s.close(&err)
	e, err := newEngine(ctx, s, o)
	if err != nil {
		return "", err
	}
	if err := e.finish(importLines(lr, e, name)); err != nil {
		return "", err
	}
	return e.summary(), nil
}

// readHeader reads and checks the first line of an export.
func readHeader(lr *lineReader, name string) error {
	line, err := lr.next()
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%s is empty: not a chronicle export", name)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	var h struct {
		Format *int `json:"chronicle_export"`
	}
	if json.Unmarshal(line, &h) != nil || h.Format == nil {
		return fmt.Errorf(`%s line %d: not the header of a chronicle export ({"chronicle_export":%d,…}): import reads what export writes`,
			name, lr.line, exportFormat)
	}
	if *h.Format != exportFormat {
		return fmt.Errorf("%s line %d: export format version %d, but this chronicle reads version %d only", name, lr.line, *h.Format, exportFormat)
	}
	return nil
}

// importLines puts the events of the lines after the header.
func importLines(lr *lineReader, e *engine, name string) error {
	for p, err := range lr.events() {
		if err == nil && p.rec.Stream == "" {
			err = fmt.Errorf("line %d: \"stream\" is missing", p.line)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := e.put(item{stream: p.rec.Stream, version: p.rec.Version, event: p.event, line: int64(p.line)}); err != nil {
			return err
		}
	}
	return nil
}

// newBytesBar is a progress bar of bytes read (total -1: unknown).
func newBytesBar(w io.Writer, total int64, desc string) *bar {
	b := newBar(w, total, desc, true)
	if b.pb != nil {
		progressbar.OptionShowBytes(true)(b.pb)
		b.pb.ChangeMax64(total) // shows the total in bytes
	}
	return b
}

// barWriter counts the bytes written to it on a bar.
type barWriter struct{ b *bar }

func (w barWriter) Write(p []byte) (int, error) {
	w.b.add(len(p))
	return len(p), nil
}
