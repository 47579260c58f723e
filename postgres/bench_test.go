package postgres_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
)

// The benchmarks measure the PostgreSQL store against its targets:
//
//	BenchmarkAppend/events=1          one writer, 1 event per append     >= 2,000 appends/s
//	BenchmarkAppendConcurrent         16 and 32 writers, own streams     >= 5,000 appends/s in all
//	  writers=4, 8 / events=10, 100   batches from several writers       >= 30,000 and >= 60,000 events/s
//	BenchmarkAppend/events=10, =100   the same batches from one writer
//	BenchmarkReadAll                  catch-up read of 100,000 events    >= 100,000 events/s
//	BenchmarkDeliveryLatency          Append to WatchAll delivery        p99 < 50 ms
//
// They need CHRONICLE_TEST_POSTGRES_URL, e.g.
//
//	CHRONICLE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//		go test -run '^$' -bench . -benchtime 2s ./postgres/
//
// Besides ns/op they report appends/s or events/s, and latency percentiles
// (p50-ms, p99-ms, max-ms): of each Append in the append benchmarks, of
// each delivery in BenchmarkDeliveryLatency.
//
// Every benchmark uses b.N (the concurrent writers and the delivery check
// need the count up front), so the framework calls each one several times
// while it sizes b.N, and each call works on a fresh schema; only
// BenchmarkReadAll shares one prepared schema between its calls, which only
// read it.

// benchDataSize is every benchmark event's payload size, as in the
// SQLite benchmarks.
const benchDataSize = 100

// reportLatency reports the 50th and 99th percentiles and the maximum of
// lat, in milliseconds.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	lat = slices.Clone(lat)
	slices.Sort(lat)
	at := func(p float64) time.Duration {
		i := int(p*float64(len(lat))+0.5) - 1
		return lat[min(max(i, 0), len(lat)-1)]
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(at(0.50)), "p50-ms")
	b.ReportMetric(ms(at(0.99)), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}

// BenchmarkAppend has one writer append batches of 1, 10 and 100 events
// with an exact expectation to one stream; one op is one append.
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("events=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			s := openT(b, &postgres.Options{MaxConns: 4})
			evs := make([]chronicle.EventData, batch)
			for i := range evs {
				evs[i] = chronicle.EventData{Type: "Increment", Data: make([]byte, benchDataSize)}
			}
			// Open the writer's connection before the clock starts.
			if _, err := s.Append(ctx, "warm", chronicle.Any, chronicle.EventData{Type: "Warm"}); err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			v := int64(0)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if _, err := s.Append(ctx, "one", chronicle.Exactly(v), evs...); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
				v += int64(batch)
			}
			b.StopTimer()
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N)/sec, "appends/s")
			b.ReportMetric(float64(b.N*batch)/sec, "events/s")
			reportLatency(b, lat)
		})
	}
}

// BenchmarkAppendConcurrent has a fixed number of goroutines append
// batches of a fixed size, each to its own stream with an exact
// expectation, until b.N appends are done in all; one op is one append.
func BenchmarkAppendConcurrent(b *testing.B) {
	for _, c := range []struct{ writers, events int }{{16, 1}, {32, 1}, {4, 10}, {8, 10}, {4, 100}, {8, 100}} {
		writers := c.writers
		b.Run(fmt.Sprintf("writers=%d/events=%d", writers, c.events), func(b *testing.B) {
			ctx := context.Background()
			s := openT(b, &postgres.Options{MaxConns: writers + 8})
			// Open the writers' connections before the clock starts.
			var ready sync.WaitGroup
			for w := range writers {
				ready.Go(func() {
					if _, err := s.Append(ctx, fmt.Sprintf("warm-%d", w), chronicle.Any, chronicle.EventData{Type: "Warm"}); err != nil {
						b.Error(err)
					}
				})
			}
			ready.Wait()
			if b.Failed() {
				b.FailNow()
			}
			var left atomic.Int64
			left.Store(int64(b.N))
			lats := make([][]time.Duration, writers)
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			for w := range writers {
				wg.Go(func() {
					stream := fmt.Sprintf("w-%d", w)
					evs := make([]chronicle.EventData, c.events)
					for i := range evs {
						evs[i] = chronicle.EventData{Type: "Increment", Data: make([]byte, benchDataSize)}
					}
					v := int64(0)
					for left.Add(-1) >= 0 {
						start := time.Now()
						if _, err := s.Append(ctx, stream, chronicle.Exactly(v), evs...); err != nil {
							b.Errorf("writer %d: %v", w, err)
							left.Store(-1 << 40) // stop every writer
							return
						}
						lats[w] = append(lats[w], time.Since(start))
						v += int64(c.events)
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N)/sec, "appends/s")
			b.ReportMetric(float64(b.N*c.events)/sec, "events/s")
			reportLatency(b, slices.Concat(lats...))
		})
	}
}

// BenchmarkReadAll reads the global stream of a store of 100,000 events
// (10 streams, 100-byte payloads, written in appends of 1,000 events)
// from the start, as a catching-up projection does, over and over until
// b.N events have been read; one op is one event. The store is prepared
// once, outside the timer, and shared by the framework's calls.
func BenchmarkReadAll(b *testing.B) {
	const total, batch, streams = 100_000, 1_000, 10
	ctx := context.Background()
	s := openT(b, &postgres.Options{MaxConns: 4})
	evs := make([]chronicle.EventData, batch)
	for i := range evs {
		evs[i] = chronicle.EventData{Type: "Increment", Data: make([]byte, benchDataSize)}
	}
	for i := range total / batch {
		if _, err := s.Append(ctx, fmt.Sprintf("s-%02d", i%streams), chronicle.Any, evs...); err != nil {
			b.Fatal(err)
		}
	}
	b.Run(fmt.Sprintf("events=%d", total), func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		n := 0
		for n < b.N {
			pass := 0
			for _, err := range s.ReadAll(ctx, chronicle.Position{}, nil) {
				if err != nil {
					b.Fatal(err)
				}
				pass++
				if n++; n == b.N {
					break
				}
			}
			if pass == 0 || (n < b.N && pass != total) {
				b.Fatalf("a pass read %d events, want %d", pass, total)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkDeliveryLatency measures the time from just before Append to the
// delivery of the event by a live WatchAll (started from EndPosition): on a
// second store opened on the same schema (another process's view, woken by
// LISTEN/NOTIFY), or on the writing store itself (woken by its own commit).
// One writer appends one event per op, back to back, or one at a time,
// waiting for each delivery before the next append. The payload carries
// the event's number and its append's start time, so the watcher also checks
// that it sees every event once, in order. One op is one append; the
// p50-ms, p99-ms and max-ms metrics are of the delivery latency.
//
// The watcher "standby" is another store that reads from a hot standby
// (Options.ReplicaURL, from CHRONICLE_TEST_POSTGRES_REPLICA_URL; skipped
// without it): notified through the primary, it waits for the standby to
// replay each event.
func BenchmarkDeliveryLatency(b *testing.B) {
	for _, watcher := range []string{"other-store", "same-store", "standby"} {
		for _, mode := range []string{"back-to-back", "one-at-a-time"} {
			b.Run("watcher="+watcher+"/appends="+mode, func(b *testing.B) {
				benchDelivery(b, watcher, mode == "one-at-a-time")
			})
		}
	}
}

func benchDelivery(b *testing.B, watcher string, oneAtATime bool) {
	ctx := context.Background()
	var replica string
	if watcher == "standby" {
		replica = testReplicaURL(b)
	}
	schema := testSchema(b)
	writer := openT(b, &postgres.Options{Schema: schema, MaxConns: 4})
	watched := writer
	listeners := 1
	if watcher != "same-store" {
		watched = openT(b, &postgres.Options{Schema: schema, MaxConns: 4, ReplicaURL: replica})
		listeners = 2
	}
	waitListening(b, schema, listeners)
	// Open the writer's connection before the clock starts. Events of
	// other types are not counted by the watcher.
	if _, err := writer.Append(ctx, "warm", chronicle.Any, chronicle.EventData{Type: "Warm"}); err != nil {
		b.Fatal(err)
	}

	t0 := time.Now() // payload times are monotonic offsets from t0
	lat := make([]time.Duration, 0, b.N)
	delivered := make(chan struct{}, 1) // one per event, when oneAtATime
	all := make(chan struct{})          // closed once b.N events arrived
	live := make(chan struct{})
	wctx, cancel := context.WithCancel(ctx)
	var werr error
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }() // also when the benchmark fails
	wg.Go(func() {
		defer cancel() // the writer stops waiting when the watcher ends
		next := uint64(0)
		opts := &chronicle.WatchOptions{CaughtUp: func() { close(live) }}
		for ev, err := range watched.WatchAll(wctx, chronicle.EndPosition(), opts) {
			if err != nil {
				if wctx.Err() == nil {
					werr = err
				}
				return
			}
			now := time.Since(t0)
			if ev.Type != "Tick" {
				continue
			}
			seq := binary.BigEndian.Uint64(ev.Data[0:8])
			if seq != next {
				werr = fmt.Errorf("watcher got event %d (position %s), want %d", seq, ev.Position, next)
				return
			}
			next++
			lat = append(lat, now-time.Duration(binary.BigEndian.Uint64(ev.Data[8:16])))
			if next == uint64(b.N) {
				close(all)
				return
			}
			if oneAtATime {
				select {
				case delivered <- struct{}{}:
				case <-wctx.Done():
					return
				}
			}
		}
	})
	select {
	case <-live:
	case <-wctx.Done():
		wg.Wait()
		b.Fatalf("watch ended before it went live: %v", werr)
	}

	const deliveryTimeout = 30 * time.Second
	timeout := time.NewTimer(deliveryTimeout)
	defer timeout.Stop()
	data := make([]byte, benchDataSize) // Append does not keep it
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		binary.BigEndian.PutUint64(data[0:8], uint64(i))
		binary.BigEndian.PutUint64(data[8:16], uint64(time.Since(t0)))
		if _, err := writer.Append(ctx, "ticks", chronicle.Exactly(int64(i)), chronicle.EventData{Type: "Tick", Data: data}); err != nil {
			b.Fatal(err)
		}
		if oneAtATime && i < b.N-1 {
			timeout.Reset(deliveryTimeout)
			select {
			case <-delivered:
			case <-wctx.Done():
				wg.Wait()
				b.Fatalf("watch ended after %d of %d events: %v", i, b.N, werr)
			case <-timeout.C:
				b.Fatalf("event %d not delivered within %v", i, deliveryTimeout)
			}
		}
	}
	appended := b.Elapsed()
	b.StopTimer()
	timeout.Reset(deliveryTimeout)
	select {
	case <-all:
	case <-wctx.Done():
	case <-timeout.C:
	}
	cancel()
	wg.Wait()
	if werr != nil {
		b.Fatal(werr)
	}
	if len(lat) != b.N {
		b.Fatalf("watcher got %d of %d events", len(lat), b.N)
	}
	b.ReportMetric(float64(b.N)/appended.Seconds(), "appends/s")
	reportLatency(b, lat)
}

// waitListening waits until n LISTEN connections on schema's channel are
// established, so that the first appends are not left to the poll.
func waitListening(b *testing.B, schema string, n int) {
	b.Helper()
	pool := testPool(b)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got int
		err := pool.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE state = 'idle' AND query = $1",
			`LISTEN "chronicle_`+schema+`"`).Scan(&got)
		if err != nil {
			b.Fatal(err)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d LISTEN connections after 10s", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}
