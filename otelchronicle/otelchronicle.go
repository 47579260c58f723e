// Package otelchronicle reports a Chronicle store's work to OpenTelemetry:
// metrics (and so Prometheus, through OpenTelemetry's Prometheus exporter)
// and a span per append, page read and snapshot save or load. It fills a
// [chronicle.Hooks] that the store is opened with:
//
//	hooks, err := otelchronicle.New(otelchronicle.Options{}) // the global providers
//	if err != nil { … }
//	store, err := sqlite.Open(ctx, "events.db", &sqlite.Options{Hooks: hooks})
//
// It is a module of its own, so that programs that do not use it do not
// depend on OpenTelemetry.
//
// # Metrics
//
// Every metric carries db.system.name ("sqlite" or "postgresql") and
// db.namespace (the SQLite file, or PostgreSQL's "database|schema"; absent
// for an in-memory store), plus [Options].Attributes. Failures carry
// error.type (see [ErrorType]). Stream names are never metric attributes:
// they are unbounded in number.
//
//   - chronicle.append.duration (s, histogram): each Append; its count is
//     the number of appends. error.type on failures.
//   - chronicle.append.events ({event}, counter): events written.
//   - chronicle.append.duplicates ({event}, counter): events of successful
//     appends not written: found in their stream already (idempotent
//     retries), or repeating an ID earlier in the batch.
//   - chronicle.append.bytes (By, counter): Data plus Metadata of successful
//     appends, as passed.
//   - chronicle.append.errors ({error}, counter): failed appends, by
//     error.type (conflict, invalid, busy, unavailable, closed, …).
//   - chronicle.read.duration (s, histogram) and chronicle.read.events
//     ({event}, counter): each page read from storage, with
//     chronicle.read.target (stream or all) and chronicle.read.watch
//     (whether it served a watch).
//   - chronicle.snapshot.duration (s, histogram): each snapshot save or
//     load, with chronicle.snapshot.operation (save or load).
//   - chronicle.watch.active ({watch}, up-down counter): running watches,
//     with chronicle.watch.target.
//   - chronicle.watch.lag (s, histogram) and chronicle.watch.lag.events
//     ({event}, histogram): how far behind the head a watch is each time it
//     has new events to look at (see [chronicle.WatchProgressInfo]), with
//     chronicle.watch.target and chronicle.watch.live.
//   - chronicle.group_commit.appends ({append}, histogram),
//     chronicle.group_commit.events ({event}, histogram) and
//     chronicle.group_commit.duration (s, histogram): each SQLite
//     transaction that committed concurrent writes together.
//   - chronicle.checkpoint.duration (s, histogram): each SQLite WAL
//     checkpoint (its count is the number of checkpoints), with
//     chronicle.checkpoint.mode (background or inline).
//   - chronicle.checkpoint.held (s, histogram): each time a checkpoint
//     made the process's writes wait (all of an inline one; the part of a
//     background one that held writes so that the WAL could start over),
//     with chronicle.checkpoint.mode: the stalls it adds to appends.
//   - chronicle.wal.size (By, gauge): the SQLite WAL after the last commit.
//   - chronicle.frontier.age (s, gauge): how long PostgreSQL's visibility
//     frontier has held back, at one running transaction, transactions
//     that ended after it began, which the global stream and live watches
//     wait for (0 when it holds nothing back).
//   - chronicle.notification.delay (s, histogram): from another process's
//     commit to this store hearing of it through LISTEN/NOTIFY.
//   - chronicle.projection.lag (s, gauge), chronicle.projection.lag.events
//     ({event}, gauge; when known, see
//     [chronicle.ProjectionBatchInfo].Behind), chronicle.projection.events
//     ({event}, counter) and chronicle.projection.batch.duration (s,
//     histogram): each batch a projection commits, with
//     chronicle.projection.name and chronicle.projection.version.
//
// # Spans
//
// Spans are children of the span in the caller's context and parents of
// the spans below them (a database driver's). Each carries
// db.system.name, db.namespace and db.operation.name; failures set the
// span's status and error.type.
//
//   - chronicle.append: chronicle.stream, chronicle.append.expect (any,
//     no_stream, stream_exists or exactly), chronicle.append.expected_version,
//     chronicle.append.events, chronicle.append.bytes; when done,
//     chronicle.append.written and chronicle.append.version.
//   - chronicle.read, one per page read from storage: chronicle.stream (for
//     a stream), chronicle.read.from, chronicle.read.backwards,
//     chronicle.read.limit, chronicle.read.filtered, chronicle.read.watch;
//     when done, chronicle.read.events. Pages read for a watch get a span
//     only when the watch's context carries one.
//   - chronicle.snapshot.save and chronicle.snapshot.load: chronicle.stream
//     (for a stream's snapshot), chronicle.snapshot.name,
//     chronicle.snapshot.version or chronicle.snapshot.position,
//     chronicle.snapshot.bytes; loads add chronicle.snapshot.found.
//
// No span or metric holds an event's Data or Metadata or a snapshot's
// state.
package otelchronicle

import (
	"context"
	"errors"
	"strconv"
	"sync"

	"github.com/chronicle-go/chronicle"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the meter and the tracer.
const ScopeName = "github.com/chronicle-go/chronicle/otelchronicle"

// Options configure [New]. The zero value uses the global providers.
type Options struct {
	// MeterProvider creates the metrics. Nil means otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// TracerProvider creates the spans. Nil means otel.GetTracerProvider().
	// Pass go.opentelemetry.io/otel/trace/noop's provider for metrics only.
	TracerProvider trace.TracerProvider
	// Attributes are added to every metric and span, for instance to tell
	// apart stores that share a database and schema name in several
	// services. They must be few and of bounded values.
	Attributes []attribute.KeyValue
}

// Buckets of the histograms. Durations span 10 µs to 10 s.
var (
	durationBuckets = []float64{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
		0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	lagBuckets    = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400}
	countBuckets  = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384}
	behindBuckets = []float64{0, 1, 10, 100, 1000, 10000, 100000, 1000000, 10000000}
)

// Attribute keys of this package.
const (
	keyStream          = attribute.Key("chronicle.stream")
	keyExpect          = attribute.Key("chronicle.append.expect")
	keyExpectedVersion = attribute.Key("chronicle.append.expected_version")
	keyAppendEvents    = attribute.Key("chronicle.append.events")
	keyAppendBytes     = attribute.Key("chronicle.append.bytes")
	keyWritten         = attribute.Key("chronicle.append.written")
	keyVersion         = attribute.Key("chronicle.append.version")
	keyReadTarget      = attribute.Key("chronicle.read.target")
	keyReadWatch       = attribute.Key("chronicle.read.watch")
	keyReadFrom        = attribute.Key("chronicle.read.from")
	keyReadBackwards   = attribute.Key("chronicle.read.backwards")
	keyReadLimit       = attribute.Key("chronicle.read.limit")
	keyReadFiltered    = attribute.Key("chronicle.read.filtered")
	keyReadEvents      = attribute.Key("chronicle.read.events")
	keySnapOp          = attribute.Key("chronicle.snapshot.operation")
	keySnapName        = attribute.Key("chronicle.snapshot.name")
	keySnapVersion     = attribute.Key("chronicle.snapshot.version")
	keySnapPosition    = attribute.Key("chronicle.snapshot.position")
	keySnapBytes       = attribute.Key("chronicle.snapshot.bytes")
	keySnapFound       = attribute.Key("chronicle.snapshot.found")
	keyWatchTarget     = attribute.Key("chronicle.watch.target")
	keyWatchLive       = attribute.Key("chronicle.watch.live")
	keyCheckpointMode  = attribute.Key("chronicle.checkpoint.mode")
	keyProjName        = attribute.Key("chronicle.projection.name")
	keyProjVersion     = attribute.Key("chronicle.projection.version")
)

// instruments are the metrics and the tracer, shared by every store that
// New's hooks serve.
type instruments struct {
	tracer trace.Tracer
	attrs  []attribute.KeyValue // Options.Attributes

	appendDuration   metric.Float64Histogram
	appendEvents     metric.Int64Counter
	appendDuplicates metric.Int64Counter
	appendBytes      metric.Int64Counter
	appendErrors     metric.Int64Counter
	readDuration     metric.Float64Histogram
	readEvents       metric.Int64Counter
	snapshotDuration metric.Float64Histogram
	watchActive      metric.Int64UpDownCounter
	watchLag         metric.Float64Histogram
	watchLagEvents   metric.Int64Histogram
	groupAppends     metric.Int64Histogram
	groupEvents      metric.Int64Histogram
	groupDuration    metric.Float64Histogram
	checkpoint       metric.Float64Histogram
	checkpointHeld   metric.Float64Histogram
	walSize          metric.Int64Gauge
	frontierAge      metric.Float64Gauge
	notifyDelay      metric.Float64Histogram
	projLag          metric.Float64Gauge
	projBehind       metric.Int64Gauge
	projEvents       metric.Int64Counter
	projDuration     metric.Float64Histogram
}

// New returns hooks that report to OpenTelemetry, for the Hooks field of
// chronicle.Options, sqlite.Options or postgres.Options. One value may
// serve any number of stores: each store binds its own attributes (its
// backend and database) when it opens.
func New(opts Options) (*chronicle.Hooks, error) {
	mp, tp := opts.MeterProvider, opts.TracerProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	m := mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	in := &instruments{
		tracer: tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		attrs:  append([]attribute.KeyValue(nil), opts.Attributes...),
	}
	var errs []error
	fhist := func(name, unit, desc string, buckets []float64) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit(unit), metric.WithDescription(desc), metric.WithExplicitBucketBoundaries(buckets...))
		errs = append(errs, err)
		return h
	}
	ihist := func(name, unit, desc string, buckets []float64) metric.Int64Histogram {
		h, err := m.Int64Histogram(name, metric.WithUnit(unit), metric.WithDescription(desc), metric.WithExplicitBucketBoundaries(buckets...))
		errs = append(errs, err)
		return h
	}
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	in.appendDuration = fhist("chronicle.append.duration", "s", "Duration of appends.", durationBuckets)
	in.appendEvents = counter("chronicle.append.events", "{event}", "Events written by appends.")
	in.appendDuplicates = counter("chronicle.append.duplicates", "{event}",
		"Events of successful appends not written: in their stream already (idempotent retries) or repeating an ID of the batch.")
	in.appendBytes = counter("chronicle.append.bytes", "By", "Data plus metadata of successful appends, as passed.")
	in.appendErrors = counter("chronicle.append.errors", "{error}", "Failed appends, by error.type.")
	in.readDuration = fhist("chronicle.read.duration", "s", "Duration of page reads from storage.", durationBuckets)
	in.readEvents = counter("chronicle.read.events", "{event}", "Events read from storage.")
	in.snapshotDuration = fhist("chronicle.snapshot.duration", "s", "Duration of snapshot saves and loads.", durationBuckets)
	var err error
	in.watchActive, err = m.Int64UpDownCounter("chronicle.watch.active", metric.WithUnit("{watch}"), metric.WithDescription("Running watches."))
	errs = append(errs, err)
	in.watchLag = fhist("chronicle.watch.lag", "s", "Age of the oldest event a watch has yet to look at, when it has new events.", lagBuckets)
	in.watchLagEvents = ihist("chronicle.watch.lag.events", "{event}", "Events between a watch and the head, when it has new events and the number is known.", behindBuckets)
	in.groupAppends = ihist("chronicle.group_commit.appends", "{append}", "Appends that wrote events in one group commit.", countBuckets)
	in.groupEvents = ihist("chronicle.group_commit.events", "{event}", "Events written in one group commit.", countBuckets)
	in.groupDuration = fhist("chronicle.group_commit.duration", "s", "Duration of group commit transactions.", durationBuckets)
	in.checkpoint = fhist("chronicle.checkpoint.duration", "s", "Duration of WAL checkpoints.", durationBuckets)
	in.checkpointHeld = fhist("chronicle.checkpoint.held", "s", "Time the process's writes waited for WAL checkpoints.", durationBuckets)
	in.walSize, err = m.Int64Gauge("chronicle.wal.size", metric.WithUnit("By"), metric.WithDescription("Size of the WAL after the last commit."))
	errs = append(errs, err)
	in.frontierAge, err = m.Float64Gauge("chronicle.frontier.age", metric.WithUnit("s"),
		metric.WithDescription("How long the visibility frontier has been held by one running transaction; 0 when none runs."))
	errs = append(errs, err)
	in.notifyDelay = fhist("chronicle.notification.delay", "s", "Time from another process's commit to hearing of it.", durationBuckets)
	in.projLag, err = m.Float64Gauge("chronicle.projection.lag", metric.WithUnit("s"),
		metric.WithDescription("Age of the last event of a projection's last batch when it committed."))
	errs = append(errs, err)
	in.projBehind, err = m.Int64Gauge("chronicle.projection.lag.events", metric.WithUnit("{event}"),
		metric.WithDescription("Events of the global stream after a projection's checkpoint, up to the head its last batch was read against."))
	errs = append(errs, err)
	in.projEvents = counter("chronicle.projection.events", "{event}", "Events applied by projections.")
	in.projDuration = fhist("chronicle.projection.batch.duration", "s", "Duration of projection batches, applied and committed.", durationBuckets)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	h := in.bind(chronicle.StoreInfo{})
	h.ForStore = in.bind
	return h, nil
}

// ErrorType classifies an error for the error.type attribute by the
// chronicle sentinel it matches: "conflict", "invalid", "busy",
// "unavailable", "closed",
// "storage_full", "read_only", "version_not_reached", "canceled" and
// "deadline_exceeded" (the context's), else "other"; "" for nil.
func ErrorType(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, chronicle.ErrConflict):
		return "conflict"
	case errors.Is(err, chronicle.ErrInvalid):
		return "invalid"
	case errors.Is(err, chronicle.ErrBusy):
		return "busy"
	case errors.Is(err, chronicle.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, chronicle.ErrClosed):
		return "closed"
	case errors.Is(err, chronicle.ErrStorageFull):
		return "storage_full"
	case errors.Is(err, chronicle.ErrReadOnly):
		return "read_only"
	case errors.Is(err, chronicle.ErrVersionNotReached):
		return "version_not_reached"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	}
	return "other"
}

// store is the instruments bound to one store's attributes. The
// attribute sets of the common cases are built once, here.
type store struct {
	*instruments
	base     []attribute.KeyValue // db.system.name, db.namespace, Options.Attributes
	spanKind trace.SpanStartOption
	ok       attrs // base alone
	// Indexed by [target: stream 0, all 1][watch or live: 0, 1].
	read  [2][2]attrs
	lag   [2][2]attrs
	watch [2]attrs
	snap  [3]attrs // by chronicle.SnapshotOp
	ckpt  [2]attrs // background, inline
	errs  sync.Map // attribute list key -> attrs, for failures
	projs sync.Map // projKey -> attrs
}

// attrs is an attribute set as the options of both kinds of measurement,
// built once so that recording allocates nothing.
type attrs struct {
	rec []metric.RecordOption
	add []metric.AddOption
}

type projKey struct {
	name    string
	version int
}

// bind returns the hooks of one store.
func (in *instruments) bind(info chronicle.StoreInfo) *chronicle.Hooks {
	s := &store{instruments: in, spanKind: trace.WithSpanKind(trace.SpanKindInternal)}
	if info.System != "" {
		s.base = append(s.base, semconv.DBSystemNameKey.String(info.System))
		if info.System != "sqlite" {
			s.spanKind = trace.WithSpanKind(trace.SpanKindClient)
		}
	}
	if info.Namespace != "" {
		s.base = append(s.base, semconv.DBNamespaceKey.String(info.Namespace))
	}
	s.base = append(s.base, in.attrs...)
	s.ok = s.with()
	targets := [2]string{"stream", "all"}
	for t, target := range targets {
		s.watch[t] = s.with(keyWatchTarget.String(target))
		for b := range 2 {
			s.read[t][b] = s.with(keyReadTarget.String(target), keyReadWatch.Bool(b == 1))
			s.lag[t][b] = s.with(keyWatchTarget.String(target), keyWatchLive.Bool(b == 1))
		}
	}
	s.snap[0] = s.ok // an operation of a later version
	for _, op := range []chronicle.SnapshotOp{chronicle.SnapshotSave, chronicle.SnapshotLoad} {
		s.snap[op] = s.with(keySnapOp.String(op.String()))
	}
	s.ckpt[0] = s.with(keyCheckpointMode.String("background"))
	s.ckpt[1] = s.with(keyCheckpointMode.String("inline"))
	return &chronicle.Hooks{
		AppendStart:     s.appendStart,
		AppendDone:      s.appendDone,
		ReadStart:       s.readStart,
		ReadDone:        s.readDone,
		SnapshotStart:   s.snapshotStart,
		SnapshotDone:    s.snapshotDone,
		WatchStart:      s.watchStart,
		WatchDone:       s.watchDone,
		WatchProgress:   s.watchProgress,
		GroupCommit:     s.groupCommit,
		Checkpoint:      s.checkpointDone,
		WALSize:         s.walSizeNow,
		Frontier:        s.frontier,
		Notification:    s.notification,
		ProjectionBatch: s.projectionBatch,
	}
}

// with returns the store's attributes and kv.
func (s *store) with(kv ...attribute.KeyValue) attrs {
	all := make([]attribute.KeyValue, 0, len(s.base)+len(kv))
	o := metric.WithAttributeSet(attribute.NewSet(append(append(all, s.base...), kv...)...))
	return attrs{rec: []metric.RecordOption{o}, add: []metric.AddOption{o}}
}

// failed returns the store's attributes, kv and error.type, cached: there
// are few combinations.
func (s *store) failed(errType string, kv ...attribute.KeyValue) attrs {
	key := errType
	for _, a := range kv {
		key += "\x00" + string(a.Key) + "=" + a.Value.Emit()
	}
	if o, ok := s.errs.Load(key); ok {
		return o.(attrs)
	}
	o := s.with(append(kv, semconv.ErrorTypeKey.String(errType))...)
	s.errs.Store(key, o)
	return o
}

// start starts a span of the store when the caller's context is to have
// one: always, unless onlyChild and the context carries no span.
func (s *store) start(ctx context.Context, name, op string, onlyChild bool) (context.Context, trace.Span) {
	if onlyChild && !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, nil
	}
	ctx, span := s.tracer.Start(ctx, name, s.spanKind)
	if !span.IsRecording() {
		return ctx, nil
	}
	span.SetAttributes(s.base...)
	span.SetAttributes(semconv.DBOperationNameKey.String(op))
	return ctx, span
}

// recording returns the recording span a Start hook put in ctx, or nil.
func recording(ctx context.Context) trace.Span {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		return span
	}
	return nil
}

// end ends span with err's status.
func end(span trace.Span, err error) {
	if err != nil {
		span.SetAttributes(semconv.ErrorTypeKey.String(ErrorType(err)))
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

func expectation(e chronicle.Expectation) string {
	if _, ok := e.Version(); ok {
		return "exactly"
	}
	switch e {
	case chronicle.NoStream:
		return "no_stream"
	case chronicle.StreamExists:
		return "stream_exists"
	}
	return "any"
}

func (s *store) appendStart(ctx context.Context, info chronicle.AppendInfo) context.Context {
	ctx, span := s.start(ctx, "chronicle.append", "append", false)
	if span != nil {
		span.SetAttributes(keyStream.String(info.Stream), keyExpect.String(expectation(info.Expect)),
			keyAppendEvents.Int(info.Events), keyAppendBytes.Int(info.Bytes))
		if v, ok := info.Expect.Version(); ok {
			span.SetAttributes(keyExpectedVersion.Int64(v))
		}
	}
	return ctx
}

func (s *store) appendDone(ctx context.Context, info chronicle.AppendDoneInfo) {
	if span := recording(ctx); span != nil {
		if info.Err == nil {
			span.SetAttributes(keyWritten.Int(info.Result.Written), keyVersion.Int64(info.Result.Version))
		}
		end(span, info.Err)
	}
	if info.Err != nil {
		o := s.failed(ErrorType(info.Err))
		s.appendDuration.Record(ctx, info.Duration.Seconds(), o.rec...)
		s.appendErrors.Add(ctx, 1, o.add...)
		return
	}
	s.appendDuration.Record(ctx, info.Duration.Seconds(), s.ok.rec...)
	if info.Result.Written > 0 {
		s.appendEvents.Add(ctx, int64(info.Result.Written), s.ok.add...)
	}
	if dup := len(info.Result.Positions) - info.Result.Written; dup > 0 {
		s.appendDuplicates.Add(ctx, int64(dup), s.ok.add...)
	}
	if info.Bytes > 0 {
		s.appendBytes.Add(ctx, int64(info.Bytes), s.ok.add...)
	}
}

func target(stream string) int {
	if stream == "" {
		return 1
	}
	return 0
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *store) readStart(ctx context.Context, info chronicle.ReadInfo) context.Context {
	op := "read_stream"
	if info.Stream == "" {
		op = "read_all"
	}
	ctx, span := s.start(ctx, "chronicle.read", op, info.Watch)
	if span != nil {
		if info.Stream != "" {
			span.SetAttributes(keyStream.String(info.Stream), keyReadFrom.String(strconv.FormatInt(info.FromVersion, 10)))
		} else {
			span.SetAttributes(keyReadFrom.String(info.FromPosition.String()))
		}
		span.SetAttributes(keyReadBackwards.Bool(info.Backwards), keyReadLimit.Int(info.Limit),
			keyReadFiltered.Bool(info.Filtered), keyReadWatch.Bool(info.Watch))
	}
	return ctx
}

func (s *store) readDone(ctx context.Context, info chronicle.ReadDoneInfo) {
	if span := recording(ctx); span != nil {
		span.SetAttributes(keyReadEvents.Int(info.Events))
		end(span, info.Err)
	}
	t, w := target(info.Stream), b2i(info.Watch)
	if info.Err != nil {
		s.readDuration.Record(ctx, info.Duration.Seconds(),
			s.failed(ErrorType(info.Err), keyReadTarget.String([2]string{"stream", "all"}[t]), keyReadWatch.Bool(info.Watch)).rec...)
		return
	}
	s.readDuration.Record(ctx, info.Duration.Seconds(), s.read[t][w].rec...)
	if info.Events > 0 {
		s.readEvents.Add(ctx, int64(info.Events), s.read[t][w].add...)
	}
}

func (s *store) snapshotStart(ctx context.Context, info chronicle.SnapshotInfo) context.Context {
	ctx, span := s.start(ctx, "chronicle.snapshot."+info.Op.String(), "snapshot_"+info.Op.String(), false)
	if span != nil {
		if info.Stream != "" {
			span.SetAttributes(keyStream.String(info.Stream))
		}
		span.SetAttributes(keySnapName.String(info.Name))
		if info.Op == chronicle.SnapshotSave {
			if info.Stream != "" {
				span.SetAttributes(keySnapVersion.Int64(info.Version))
			} else {
				span.SetAttributes(keySnapPosition.String(info.Position.String()))
			}
			span.SetAttributes(keySnapBytes.Int(info.Bytes))
		}
	}
	return ctx
}

func (s *store) snapshotDone(ctx context.Context, info chronicle.SnapshotDoneInfo) {
	if span := recording(ctx); span != nil {
		if info.Op == chronicle.SnapshotLoad && info.Err == nil {
			span.SetAttributes(keySnapFound.Bool(info.Found))
			if info.Found {
				if info.Stream != "" {
					span.SetAttributes(keySnapVersion.Int64(info.LoadedVersion))
				} else {
					span.SetAttributes(keySnapPosition.String(info.LoadedPosition.String()))
				}
				span.SetAttributes(keySnapBytes.Int(info.LoadedBytes))
			}
		}
		end(span, info.Err)
	}
	op := min(int(info.Op), len(s.snap)-1)
	if info.Err != nil {
		s.snapshotDuration.Record(ctx, info.Duration.Seconds(), s.failed(ErrorType(info.Err), keySnapOp.String(info.Op.String())).rec...)
		return
	}
	s.snapshotDuration.Record(ctx, info.Duration.Seconds(), s.snap[op].rec...)
}

func (s *store) watchStart(ctx context.Context, info chronicle.WatchInfo) {
	s.watchActive.Add(ctx, 1, s.watch[target(info.Stream)].add...)
}

func (s *store) watchDone(ctx context.Context, info chronicle.WatchDoneInfo) {
	s.watchActive.Add(ctx, -1, s.watch[target(info.Stream)].add...)
}

func (s *store) watchProgress(ctx context.Context, info chronicle.WatchProgressInfo) {
	o := s.lag[target(info.Stream)][b2i(info.Live)]
	s.watchLag.Record(ctx, info.Lag.Seconds(), o.rec...)
	if info.Behind >= 0 {
		s.watchLagEvents.Record(ctx, info.Behind, o.rec...)
	}
}

func (s *store) groupCommit(info chronicle.GroupCommitInfo) {
	ctx := context.Background()
	if info.Err != nil {
		s.groupDuration.Record(ctx, info.Duration.Seconds(), s.failed(ErrorType(info.Err)).rec...)
		return
	}
	s.groupDuration.Record(ctx, info.Duration.Seconds(), s.ok.rec...)
	s.groupAppends.Record(ctx, int64(info.Appends), s.ok.rec...)
	s.groupEvents.Record(ctx, int64(info.Events), s.ok.rec...)
}

func (s *store) checkpointDone(info chronicle.CheckpointInfo) {
	mode := b2i(info.Inline)
	o := s.ckpt[mode]
	if info.Err != nil {
		o = s.failed(ErrorType(info.Err), keyCheckpointMode.String([2]string{"background", "inline"}[mode]))
	}
	s.checkpoint.Record(context.Background(), info.Duration.Seconds(), o.rec...)
	if info.Held > 0 {
		s.checkpointHeld.Record(context.Background(), info.Held.Seconds(), o.rec...)
	}
}

func (s *store) walSizeNow(info chronicle.WALInfo) {
	s.walSize.Record(context.Background(), info.Bytes, s.ok.rec...)
}

func (s *store) frontier(info chronicle.FrontierInfo) {
	s.frontierAge.Record(context.Background(), info.Age.Seconds(), s.ok.rec...)
}

func (s *store) notification(info chronicle.NotificationInfo) {
	if info.Delay >= 0 {
		s.notifyDelay.Record(context.Background(), info.Delay.Seconds(), s.ok.rec...)
	}
}

func (s *store) projectionBatch(info chronicle.ProjectionBatchInfo) {
	key := projKey{info.Name, info.Version}
	v, ok := s.projs.Load(key)
	if !ok {
		v = s.with(keyProjName.String(info.Name), keyProjVersion.Int(info.Version))
		s.projs.Store(key, v)
	}
	o := v.(attrs)
	ctx := context.Background()
	s.projLag.Record(ctx, info.Lag.Seconds(), o.rec...)
	if info.Behind >= 0 {
		s.projBehind.Record(ctx, info.Behind, o.rec...)
	}
	s.projEvents.Add(ctx, int64(info.Events), o.add...)
	s.projDuration.Record(ctx, info.Duration.Seconds(), o.rec...)
}
