package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronicle-go/chronicle"
)

const (
	pageEvents     = 1000 // W2's latency sample: this many events read
	typeDeposit    = "MoneyDeposited"
	typeIncrement  = "Increment" // the Python original's event type
	snapshotName   = "bench"
	w6EventsPerRun = 10 // W6: events appended before each snapshot
)

// w1Shape is what W1 (and W7) write.
type w1Shape struct {
	id        string
	events    int
	batch     int
	streams   int
	layout    string // rr, blocks or single
	keys      string
	dataBytes int
	typ       string
	bigEvent  int // bytes of one event appended first, in its own batch (W7); 0 for none
}

func (b *bench) w1Shape() w1Shape {
	c := b.cfg
	sh := w1Shape{id: "W1", events: c.events, batch: c.batch, streams: c.streams, layout: c.layout,
		keys: c.keys, dataBytes: c.dataBytes, typ: typeDeposit}
	if c.layout == "single" { // the Python original's benchmark.py
		sh.streams, sh.dataBytes, sh.keys, sh.typ = 1, 0, "seq", typeIncrement
	}
	return sh
}

// stream returns the stream of event j, as cbench's w1_stream does.
func (sh w1Shape) stream(j int) int {
	switch sh.layout {
	case "blocks":
		per := (sh.events + sh.streams - 1) / sh.streams
		return (j / per) % sh.streams
	case "rr":
		return j % sh.streams
	}
	return 0
}

func (sh w1Shape) shape() shape {
	return shape{batch: sh.batch, streams: sh.streams, layout: sh.layout, dataBytes: sh.dataBytes, keys: sh.keys}
}

// written is what W1 wrote, for W2 to check.
type written struct {
	sh       w1Shape
	names    []string
	versions []int64 // the last version of each stream
	total    int64
}

type group struct{ stream, from, to int }

// w1 appends sh.events events in batches. A batch holds the events of
// several streams, and the Store appends to one stream per call, so a batch
// is one Append per stream it touches, in stream order, and its latency
// sample spans all of them.
func (b *bench) w1(ctx context.Context, st *chronicle.Store, db string, sh w1Shape) (*written, error) {
	g := newGen(sh.streams, 0, "stream-%06d", seedW1, sh.dataBytes, sh.keys, sh.typ)
	nbatches := (sh.events + sh.batch - 1) / sh.batch
	lat := newHist()
	evs := make([]chronicle.EventData, sh.batch)
	grouped := make([]chronicle.EventData, sh.batch)
	streamOf := make([]int, sh.batch)
	counts := make([]int, sh.streams)
	at := make([]int, sh.streams)
	slab := make([]byte, sh.batch*sh.dataBytes)
	var groups []group
	var total, bigDur time.Duration
	var wrote, generated, appends int64
	rss, err := measure(func() error {
		if sh.bigEvent > 0 {
			big := bigEvent(sh.bigEvent)
			t0 := time.Now()
			res, err := st.Append(ctx, "big-000000", chronicle.NoStream, chronicle.EventData{Type: "BigEvent", Data: big})
			bigDur = time.Since(t0)
			if err != nil {
				return fmt.Errorf("%s: append the %d-byte event: %w", sh.id, sh.bigEvent, err)
			}
			lat.record(bigDur)
			total += bigDur
			wrote += int64(res.Written)
			generated++
			appends++
		}
		done := 0
		for bi := range nbatches {
			// Untimed: generate the batch and group it by stream (stable).
			n := min(sh.batch, sh.events-done)
			for i := range n {
				s := sh.stream(done + i)
				streamOf[i] = s
				evs[i] = g.event(s, slab[i*sh.dataBytes:(i+1)*sh.dataBytes])
			}
			clear(counts)
			for i := range n {
				counts[streamOf[i]]++
			}
			groups = groups[:0]
			pos := 0
			for s, c := range counts {
				at[s] = pos
				if c > 0 {
					groups = append(groups, group{s, pos, pos + c})
				}
				pos += c
			}
			for i := range n {
				grouped[at[streamOf[i]]] = evs[i]
				at[streamOf[i]]++
			}
			// Timed: the batch's appends.
			t0 := time.Now()
			for _, gr := range groups {
				res, err := st.Append(ctx, g.names[gr.stream], chronicle.Any, grouped[gr.from:gr.to]...)
				if err != nil {
					return fmt.Errorf("%s: batch %d: %w", sh.id, bi, err)
				}
				wrote += int64(res.Written)
			}
			dt := time.Since(t0)
			lat.record(dt)
			total += dt
			appends += int64(len(groups))
			done += n
			generated += int64(n)
			b.prog.update("%s run %d: batch %d/%d, %d events, %.0f events/s", sh.id, b.run, bi+1, nbatches, done, float64(done)/total.Seconds())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	clear(evs)
	clear(grouped)
	mainBytes, walBytes := fileSizes(db)
	r := &result{
		workload: sh.id, events: wrote, unit: "events", seconds: total.Seconds(), lat: lat, latencyOf: "batch",
		rssMiB: rss, dbBytes: mainBytes, walBytes: walBytes, shape: sh.shape(),
		what: fmt.Sprintf("append %s layout, %d streams, %s keys", sh.layout, sh.streams, sh.keys),
		extra: obj{{"batches", lat.n}, {"appends", appends}, {"event_type", sh.typ},
			{"existing_keys", generated - wrote}, {"expect", "any"}},
		note: fmt.Sprintf("%s Append calls", thousands(appends)),
	}
	if sh.bigEvent > 0 {
		r.what = fmt.Sprintf("%d MiB event, then %s", sh.bigEvent>>20, r.what)
		r.extra = append(r.extra, field{"big_event_bytes", sh.bigEvent}, field{"big_event_ms", ms(bigDur)})
		r.note += fmt.Sprintf("; the %d-byte event took %s", sh.bigEvent, human(bigDur))
	}
	if wrote != generated {
		r.failure = fmt.Sprintf("wrote %d of %d events (idempotency dropped %d)", wrote, generated, generated-wrote)
	}
	if err := b.emit(r); err != nil {
		return nil, err
	}
	return &written{sh: sh, names: g.names, versions: g.versions, total: wrote}, nil
}

// bigEvent returns a JSON document of exactly n bytes (n >= 12).
func bigEvent(n int) []byte {
	b := make([]byte, n)
	copy(b, `{"blob":"`)
	for i := 9; i < n-2; i++ {
		b[i] = 'x'
	}
	copy(b[n-2:], `"}`)
	return b
}

// pager records one latency sample per pageEvents events.
type pager struct {
	lat   *hist
	n     int64
	start time.Time
}

func newPager() *pager { return &pager{lat: newHist(), start: time.Now()} }

func (p *pager) event() {
	p.n++
	if p.n%pageEvents == 0 {
		now := time.Now()
		p.lat.record(now.Sub(p.start))
		p.start = now
	}
}

func (p *pager) finish() {
	if p.n%pageEvents != 0 || p.n == 0 {
		p.lat.record(time.Since(p.start))
	}
}

// w2 reads back what W1 wrote: the global stream, then each stream.
func (b *bench) w2(ctx context.Context, st *chronicle.Store, db string, w *written) error {
	mainBytes, walBytes := fileSizes(db)
	index := make(map[string]int, len(w.names))
	for i, n := range w.names {
		index[n] = i
	}
	wantBytes := w.total * int64(w.sh.dataBytes)

	// The global stream, from the start.
	last := make([]int64, len(w.names))
	var prev chronicle.Position
	var readBytes int64
	var problems []string
	bad := func(format string, args ...any) {
		if len(problems) < 3 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	p := newPager()
	var secs float64
	rss, err := measure(func() error {
		start := time.Now()
		p.start = start
		lastName, li := "", -1
		for ev, err := range st.ReadAll(ctx, chronicle.Position{}, nil) {
			if err != nil {
				return fmt.Errorf("W2: %w", err)
			}
			if !prev.Before(ev.Position) {
				bad("position %v after %v", ev.Position, prev)
			}
			prev = ev.Position
			if ev.Stream != lastName {
				i, ok := index[ev.Stream]
				if !ok {
					bad("unknown stream %q", ev.Stream)
					continue
				}
				lastName, li = ev.Stream, i
			}
			if ev.Version != last[li]+1 {
				bad("%s version %d after %d", ev.Stream, ev.Version, last[li])
			}
			last[li] = ev.Version
			readBytes += int64(len(ev.Data))
			p.event()
			if p.n%65536 == 0 {
				b.prog.update("W2 run %d: global stream, %d/%d events", b.run, p.n, w.total)
			}
		}
		p.finish()
		secs = time.Since(start).Seconds()
		return nil
	})
	if err != nil {
		return err
	}
	if p.n != w.total {
		bad("read %d events, W1 wrote %d", p.n, w.total)
	}
	for i, v := range last {
		if v != w.versions[i] {
			bad("%s ends at version %d, W1 wrote %d", w.names[i], v, w.versions[i])
			break
		}
	}
	if readBytes != wantBytes {
		bad("read %d data bytes, W1 wrote %d", readBytes, wantBytes)
	}
	r := &result{
		workload: "W2", label: "global", what: "ReadAll from the start", events: p.n, unit: "events", seconds: secs,
		lat: p.lat, latencyOf: "page", rssMiB: rss, dbBytes: mainBytes, walBytes: walBytes, shape: w.sh.shape(),
		extra:   obj{{"read", "global"}, {"page", pageEvents}, {"store_page_size", chronicle.DefaultPageSize}, {"rows_ok", len(problems) == 0}, {"data_bytes_read", readBytes}},
		failure: strings.Join(problems, "; "),
	}
	if err := b.emit(r); err != nil {
		return err
	}

	// Every stream, one Read each.
	problems = nil
	readBytes = 0
	p = newPager()
	rss, err = measure(func() error {
		start := time.Now()
		p.start = start
		for i, name := range w.names {
			var v int64
			var prev chronicle.Position
			for ev, err := range st.Read(ctx, name, 0, nil) {
				if err != nil {
					return fmt.Errorf("W2s: %w", err)
				}
				if ev.Stream != name || ev.Version != v+1 || !prev.Before(ev.Position) {
					bad("%s: event %s@%d at %v after version %d at %v", name, ev.Stream, ev.Version, ev.Position, v, prev)
				}
				v, prev = ev.Version, ev.Position
				readBytes += int64(len(ev.Data))
				p.event()
			}
			if v != w.versions[i] {
				bad("%s: read to version %d, W1 wrote %d", name, v, w.versions[i])
			}
			if i%64 == 0 {
				b.prog.update("W2s run %d: stream %d/%d", b.run, i+1, len(w.names))
			}
		}
		p.finish()
		secs = time.Since(start).Seconds()
		return nil
	})
	if err != nil {
		return err
	}
	if p.n != w.total {
		bad("read %d events, W1 wrote %d", p.n, w.total)
	}
	if readBytes != wantBytes {
		bad("read %d data bytes, W1 wrote %d", readBytes, wantBytes)
	}
	r = &result{
		workload: "W2s", label: "streams", what: fmt.Sprintf("Read each of %d streams", len(w.names)), events: p.n, unit: "events",
		seconds: secs, lat: p.lat, latencyOf: "page", rssMiB: rss, dbBytes: mainBytes, walBytes: walBytes, shape: w.sh.shape(),
		extra:   obj{{"read", "streams"}, {"page", pageEvents}, {"store_page_size", chronicle.DefaultPageSize}, {"rows_ok", len(problems) == 0}, {"data_bytes_read", readBytes}},
		failure: strings.Join(problems, "; "),
	}
	return b.emit(r)
}

// w3 appends single events with exact expectations from one goroutine,
// round robin over the streams, for the W3 duration.
func (b *bench) w3(ctx context.Context, st *chronicle.Store, db string) error {
	c := b.cfg
	g := newGen(c.streams, 0, "stream-%06d", seedW1, c.dataBytes, c.keys, typeDeposit)
	buf := make([]byte, c.dataBytes)
	versions := make([]int64, c.streams)
	lat := newHist()
	var total time.Duration
	var count, mismatches int64
	var wall time.Duration
	rss, err := measure(func() error {
		start := time.Now()
		end := start.Add(c.w3Duration)
		for i := 0; ; i++ {
			if i%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
				b.prog.update("W3 run %d: %d appends, %.1f/%.0fs", b.run, count, time.Since(start).Seconds(), c.w3Duration.Seconds())
			}
			if !time.Now().Before(end) {
				break
			}
			s := i % c.streams
			ev := g.event(s, buf)
			t0 := time.Now()
			res, err := st.Append(ctx, g.names[s], chronicle.Exactly(versions[s]), ev)
			dt := time.Since(t0)
			if err != nil {
				return fmt.Errorf("W3: append %d: %w", i, err)
			}
			if res.Version != versions[s]+1 || res.Written != 1 {
				mismatches++
			}
			versions[s] = res.Version
			lat.record(dt)
			total += dt
			count++
		}
		wall = time.Since(start)
		return nil
	})
	if err != nil {
		return err
	}
	mainBytes, walBytes := fileSizes(db)
	r := &result{
		workload: "W3", what: fmt.Sprintf("1 writer, Exactly(v), %d streams", c.streams), events: count, unit: "appends",
		seconds: total.Seconds(), lat: lat, latencyOf: "append", rssMiB: rss, dbBytes: mainBytes, walBytes: walBytes,
		shape: shape{batch: 1, streams: c.streams, layout: "rr", dataBytes: c.dataBytes, keys: c.keys},
		extra: obj{{"expect", "exactly"}, {"version_check", true}, {"wall_seconds", fixed{wall.Seconds(), 4}}},
	}
	if mismatches > 0 {
		r.failure = fmt.Sprintf("%d appends did not return the next version", mismatches)
	}
	return b.emit(r)
}

// writersRun is the outcome of runWriters.
type writersRun struct {
	count      int64
	wall       time.Duration // from the start to the last writer's end
	end        time.Time     // when the last writer ended
	lat        *hist
	names      []string
	versions   []int64
	mismatches int64
}

// runWriters runs n goroutines, each appending single events with exact
// expectations to its own stream for dur. With stamp, each event's data
// starts with the append's start time, 8 bytes of big-endian Unix
// nanoseconds.
func (b *bench) runWriters(ctx context.Context, st *chronicle.Store, id string, n int, dur time.Duration, stamp bool) (writersRun, error) {
	c := b.cfg
	type writer struct {
		g          *gen
		lat        *hist
		count      int64
		version    int64
		mismatches int64
		end        time.Time
		err        error
	}
	ws := make([]*writer, n)
	for i := range ws {
		ws[i] = &writer{g: newGen(1, i, strings.ToLower(id)+"-writer-%02d", seedWriter*uint64(i+1), c.dataBytes, c.keys, typeDeposit), lat: newHist()}
	}
	var total atomic.Int64
	startc := make(chan struct{})
	var start, end time.Time
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			buf := make([]byte, max(c.dataBytes, 8))
			<-startc
			for ctx.Err() == nil && time.Now().Before(end) {
				ev := w.g.event(0, buf)
				t0 := time.Now()
				if stamp {
					if len(ev.Data) < 8 {
						ev.Data = buf[:8]
					}
					binary.BigEndian.PutUint64(ev.Data, uint64(t0.UnixNano()))
				}
				res, err := st.Append(ctx, w.g.names[0], chronicle.Exactly(w.version), ev)
				dt := time.Since(t0)
				if err != nil {
					w.err = fmt.Errorf("%s: %s: append %d: %w", id, w.g.names[0], w.count+1, err)
					break
				}
				if res.Version != w.version+1 || res.Written != 1 {
					w.mismatches++
				}
				w.version = res.Version
				w.lat.record(dt)
				w.count++
				total.Add(1)
			}
			w.end = time.Now()
		})
	}
	start = time.Now()
	end = start.Add(dur)
	close(startc)
	tick := time.NewTicker(100 * time.Millisecond)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
wait:
	for {
		select {
		case <-finished:
			break wait
		case <-tick.C:
			b.prog.update("%s run %d: %d writers, %d appends, %.1f/%.0fs", id, b.run, n, total.Load(), time.Since(start).Seconds(), dur.Seconds())
		}
	}
	tick.Stop()
	out := writersRun{lat: newHist()}
	var last time.Time
	var errs []error
	for _, w := range ws {
		out.count += w.count
		out.lat.merge(w.lat)
		out.names = append(out.names, w.g.names[0])
		out.versions = append(out.versions, w.version)
		out.mismatches += w.mismatches
		errs = append(errs, w.err)
		if w.end.After(last) {
			last = w.end
		}
	}
	out.wall, out.end = last.Sub(start), last
	if err := ctx.Err(); err != nil {
		return out, err
	}
	if err := errors.Join(errs...); err != nil {
		return out, err
	}
	// Check what the store holds (untimed).
	for i, name := range out.names {
		info, err := st.StreamInfo(ctx, name)
		if err != nil {
			return out, err
		}
		if info.Version != out.versions[i] {
			out.mismatches++
		}
	}
	return out, nil
}

// w4 runs --writers concurrent writers for the W4 duration.
func (b *bench) w4(ctx context.Context, st *chronicle.Store, db string) error {
	c := b.cfg
	var wr writersRun
	rss, err := measure(func() error {
		var err error
		wr, err = b.runWriters(ctx, st, "W4", c.writers, c.w4Duration, false)
		return err
	})
	if err != nil {
		return err
	}
	mainBytes, walBytes := fileSizes(db)
	r := &result{
		workload: "W4", what: fmt.Sprintf("%d writers, Exactly(v), a stream each", c.writers), events: wr.count, unit: "appends",
		seconds: wr.wall.Seconds(), lat: wr.lat, latencyOf: "append", rssMiB: rss, dbBytes: mainBytes, walBytes: walBytes,
		shape: shape{batch: 1, streams: c.writers, layout: "per-writer", dataBytes: c.dataBytes, keys: c.keys},
		extra: obj{{"writers", c.writers}, {"threads", c.writers}, {"expect", "exactly"}},
	}
	if wr.mismatches > 0 {
		r.failure = fmt.Sprintf("%d appends or streams did not reach the expected version", wr.mismatches)
	}
	b.w4Rate = r.rate()
	return b.emit(r)
}

// w5 runs W4's load while --watchers watchers follow the global stream,
// and measures the delay from each append's start to each delivery.
func (b *bench) w5(ctx context.Context, st *chronicle.Store, db string) error {
	c := b.cfg
	type watcher struct {
		lat      *hist
		count    atomic.Int64
		last     chronicle.Position
		versions map[string]int64
		problems []string
		mu       sync.Mutex
		err      error // guarded by mu: read while the watch may still run
	}
	watchErr := func(w *watcher) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ws := make([]*watcher, c.watchers)
	var wr writersRun
	var drain time.Duration
	rss, err := measure(func() error {
		var caught, wg sync.WaitGroup
		caught.Add(len(ws))
		defer func() { cancel(); wg.Wait() }()
		for i := range ws {
			w := &watcher{lat: newHist(), versions: map[string]int64{}}
			ws[i] = w
			wg.Go(func() {
				var once sync.Once
				defer once.Do(caught.Done) // also when the watch ends early
				opts := &chronicle.WatchOptions{CaughtUp: func() { once.Do(caught.Done) }}
				for ev, err := range st.WatchAll(wctx, chronicle.EndPosition(), opts) {
					if err != nil {
						if wctx.Err() == nil || !errors.Is(err, context.Canceled) {
							w.mu.Lock()
							w.err = err
							w.mu.Unlock()
						}
						return
					}
					now := time.Now().UnixNano()
					if len(ev.Data) < 8 {
						w.mu.Lock()
						w.err = fmt.Errorf("event at %v has %d data bytes, not a time stamp", ev.Position, len(ev.Data))
						w.mu.Unlock()
						return
					}
					w.lat.record(time.Duration(now - int64(binary.BigEndian.Uint64(ev.Data))))
					if !w.last.Before(ev.Position) && len(w.problems) < 3 {
						w.problems = append(w.problems, fmt.Sprintf("position %v after %v", ev.Position, w.last))
					}
					w.last = ev.Position
					if v := w.versions[ev.Stream]; ev.Version != v+1 && len(w.problems) < 3 {
						w.problems = append(w.problems, fmt.Sprintf("%s version %d after %d", ev.Stream, ev.Version, v))
					}
					w.versions[ev.Stream] = ev.Version
					w.count.Add(1)
				}
			})
		}
		// Start writing once every watcher has caught up.
		ready := make(chan struct{})
		go func() { caught.Wait(); close(ready) }()
		select {
		case <-ready:
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Minute):
			return fmt.Errorf("W5: watchers did not catch up within a minute")
		}
		for _, w := range ws {
			if err := watchErr(w); err != nil { // ended before the writers started
				return fmt.Errorf("W5: watch: %w", err)
			}
		}
		var err error
		wr, err = b.runWriters(ctx, st, "W5", c.writers, c.w5Duration, true)
		if err != nil {
			return err
		}
		// Wait until every watcher has had every event, then stop them.
		deadline := time.Now().Add(max(30*time.Second, 3*c.w5Duration))
		for {
			all := true
			for _, w := range ws {
				if w.count.Load() < wr.count && watchErr(w) == nil {
					all = false
					break
				}
			}
			if all || time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		drain = max(time.Since(wr.end), 0) // from the last append to the last delivery
		cancel()
		wg.Wait()
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	lat := newHist()
	var deliveries int64
	var problems []string
	final := map[string]int64{}
	for i, n := range wr.names {
		final[n] = wr.versions[i]
	}
	for i, w := range ws {
		lat.merge(w.lat)
		n := w.count.Load()
		deliveries += n
		fail := func(format string, args ...any) {
			if len(problems) < 5 {
				problems = append(problems, fmt.Sprintf("watcher %d: ", i)+fmt.Sprintf(format, args...))
			}
		}
		if err := watchErr(w); err != nil {
			fail("%v", err)
		}
		for _, p := range w.problems {
			fail("%s", p)
		}
		if n != wr.count {
			fail("received %d of %d events", n, wr.count)
		}
		for name, v := range final {
			if w.versions[name] != v {
				fail("%s at version %d of %d", name, w.versions[name], v)
				break
			}
		}
	}
	if wr.mismatches > 0 {
		problems = append(problems, fmt.Sprintf("%d appends or streams did not reach the expected version", wr.mismatches))
	}
	mainBytes, walBytes := fileSizes(db)
	r := &result{
		workload: "W5", what: fmt.Sprintf("W4 with %d watchers of the global stream", c.watchers), events: wr.count, unit: "appends",
		seconds: wr.wall.Seconds(), lat: lat, latencyOf: "delivery", rssMiB: rss, dbBytes: mainBytes, walBytes: walBytes,
		shape: shape{batch: 1, streams: c.writers, layout: "per-writer", dataBytes: max(c.dataBytes, 8), keys: c.keys},
		extra: obj{{"writers", c.writers}, {"watchers", c.watchers}, {"deliveries", deliveries},
			{"deliveries_per_s", fixed{float64(deliveries) / (wr.wall + drain).Seconds(), 0}},
			{"drain_ms", ms(drain)},
			{"append_p50_us", us(wr.lat.quantile(0.5))}, {"append_p99_us", us(wr.lat.quantile(0.99))}, {"append_max_us", us(wr.lat.maximum())},
			{"delivered_ok", len(problems) == 0}},
		note:    fmt.Sprintf("%s deliveries; append p50 %s p99 %s", thousands(deliveries), human(wr.lat.quantile(0.5)), human(wr.lat.quantile(0.99))),
		failure: strings.Join(problems, "; "),
	}
	if b.w4Rate > 0 {
		slow := (1 - r.rate()/b.w4Rate) * 100
		r.extra = append(r.extra, field{"w4_events_per_s", fixed{b.w4Rate, 0}}, field{"writer_slowdown_pct", fixed{slow, 1}})
		r.note += fmt.Sprintf("; writers %.0f%% slower than W4", slow)
	}
	return b.emit(r)
}

// w6 grows streams and saves and loads a snapshot after every few events.
func (b *bench) w6(ctx context.Context, st *chronicle.Store, db string) error {
	c := b.cfg
	g := newGen(c.snapStreams, 0, "stream-%06d", seedW1, c.dataBytes, c.keys, typeDeposit)
	buf := make([]byte, w6EventsPerRun*c.dataBytes)
	evs := make([]chronicle.EventData, w6EventsPerRun)
	state := make([]byte, c.stateBytes)
	for i := range state {
		state[i] = byte('a' + i%26)
	}
	saveLat, loadLat := newHist(), newHist()
	var saveT, loadT time.Duration
	var mismatches int
	rss, err := measure(func() error {
		for i := range c.snapshots {
			s := i % c.snapStreams
			name := g.names[s]
			for k := range evs {
				evs[k] = g.event(s, buf[k*c.dataBytes:(k+1)*c.dataBytes])
			}
			res, err := st.Append(ctx, name, chronicle.Exactly(g.versions[s]-w6EventsPerRun), evs...)
			if err != nil {
				return fmt.Errorf("W6: append: %w", err)
			}
			binary.BigEndian.PutUint64(state, uint64(i)) // each snapshot differs
			t0 := time.Now()
			err = st.SaveSnapshot(ctx, name, snapshotName, res.Version, state)
			dt := time.Since(t0)
			if err != nil {
				return fmt.Errorf("W6: save: %w", err)
			}
			saveLat.record(dt)
			saveT += dt
			t0 = time.Now()
			snap, found, err := st.LoadSnapshot(ctx, name, snapshotName)
			dt = time.Since(t0)
			if err != nil {
				return fmt.Errorf("W6: load: %w", err)
			}
			loadLat.record(dt)
			loadT += dt
			if !found || snap.Version != res.Version || !bytes.Equal(snap.State, state) {
				mismatches++
			}
			if i%64 == 0 {
				b.prog.update("W6 run %d: snapshot %d/%d", b.run, i+1, c.snapshots)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	mainBytes, walBytes := fileSizes(db)
	sh := shape{batch: w6EventsPerRun, streams: c.snapStreams, layout: "rr", dataBytes: c.dataBytes, keys: c.keys}
	extra := obj{{"state_bytes", c.stateBytes}, {"events_per_snapshot", w6EventsPerRun}}
	save := &result{
		workload: "W6save", label: "save", what: fmt.Sprintf("SaveSnapshot of %d B, %d streams", c.stateBytes, c.snapStreams),
		events: int64(saveLat.n), unit: "saves", seconds: saveT.Seconds(), lat: saveLat, latencyOf: "save", rssMiB: rss,
		dbBytes: mainBytes, walBytes: walBytes, shape: sh, extra: extra,
	}
	load := &result{
		workload: "W6load", label: "load", what: "LoadSnapshot after each save",
		events: int64(loadLat.n), unit: "loads", seconds: loadT.Seconds(), lat: loadLat, latencyOf: "load", rssMiB: rss,
		dbBytes: mainBytes, walBytes: walBytes, shape: sh, extra: extra,
	}
	if mismatches > 0 {
		load.failure = fmt.Sprintf("%d loads did not return the snapshot just saved", mismatches)
	}
	if err := b.emit(save); err != nil {
		return err
	}
	return b.emit(load)
}

// w7 is W1 in rr layout over many streams, after one large event.
func (b *bench) w7(ctx context.Context, st *chronicle.Store, db string) error {
	sh := b.w1Shape()
	sh.id, sh.layout, sh.streams, sh.bigEvent = "W7", "rr", b.cfg.w7Streams, b.cfg.bigEventBytes
	if b.cfg.layout == "single" { // W7 has its own layout; keep the flags' data and keys
		sh.dataBytes, sh.keys, sh.typ = b.cfg.dataBytes, b.cfg.keys, typeDeposit
	}
	_, err := b.w1(ctx, st, db, sh)
	return err
}
