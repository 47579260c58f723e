package sqlite_test

import (
	"context"
	"fmt"
	"iter"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
)

func benchStore(b *testing.B) *chronicle.Store { return benchStoreWith(b, nil) }

func benchStoreWith(b *testing.B, opts *sqlite.Options) *chronicle.Store {
	b.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkAppendBatch appends batches of 1,000 events with idempotency
// keys and 100-byte payloads to one of 10 streams (a small W1 in blocks
// layout); one op is one batch.
func BenchmarkAppendBatch(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	data := make([]byte, 100)
	const batch = 1000
	evs := make([]chronicle.EventData, batch)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		b.StopTimer()
		for i := range evs {
			evs[i] = chronicle.EventData{ID: fmt.Sprintf("event-%d", n+i), Type: "Increment", Data: data}
		}
		b.StartTimer()
		if _, err := s.Append(ctx, fmt.Sprintf("s-%d", (n/batch)%10), chronicle.Any, evs...); err != nil {
			b.Fatal(err)
		}
		n += batch
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendOne appends one event at a time with an exact expectation
// (W3); one op is one append.
func BenchmarkAppendOne(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	data := make([]byte, 100)
	v := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Append(ctx, "one", chronicle.Exactly(v), chronicle.EventData{Type: "Increment", Data: data}); err != nil {
			b.Fatal(err)
		}
		v++
	}
}

func fill(b *testing.B, s *chronicle.Store, streams, perStream int) {
	b.Helper()
	data := make([]byte, 100)
	evs := make([]chronicle.EventData, perStream)
	for i := range evs {
		evs[i] = chronicle.EventData{Type: "Increment", Data: data}
	}
	for i := range streams {
		if _, err := s.Append(context.Background(), fmt.Sprintf("s-%04d", i), chronicle.Any, evs...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadAll replays the global stream (W2); one op is one event.
func BenchmarkReadAll(b *testing.B) {
	benchRead(b, func(s *chronicle.Store) iter.Seq2[chronicle.Event, error] {
		return s.ReadAll(context.Background(), chronicle.Position{}, nil)
	})
}

// BenchmarkReadStream replays one stream; one op is one event.
func BenchmarkReadStream(b *testing.B) {
	benchRead(b, func(s *chronicle.Store) iter.Seq2[chronicle.Event, error] {
		return s.Read(context.Background(), "s-0003", 0, nil)
	})
}

// benchRead fills a store with 10 streams of 10,000 events and ranges over
// read until b.N events have been read.
func benchRead(b *testing.B, read func(*chronicle.Store) iter.Seq2[chronicle.Event, error]) {
	s := benchStore(b)
	fill(b, s, 10, 10_000)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for n < b.N {
		for _, err := range read(s) {
			if err != nil {
				b.Fatal(err)
			}
			if n++; n == b.N {
				break
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendConcurrent has 16 goroutines append one event at a time,
// each to its own stream with an exact expectation (W4); one op is one
// append. "group" is the default (concurrent appends share transactions),
// "tx-per-append" sets MaxGroup 1 for comparison; the "full" variants sync
// every commit to disk (SyncFull).
func BenchmarkAppendConcurrent(b *testing.B) {
	for _, bc := range []struct {
		name     string
		maxGroup int
		sync     sqlite.Synchronous
	}{
		{"group", 0, sqlite.SyncNormal},
		{"tx-per-append", 1, sqlite.SyncNormal},
		{"group-full", 0, sqlite.SyncFull},
		{"tx-per-append-full", 1, sqlite.SyncFull},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			s := benchStoreWith(b, &sqlite.Options{MaxGroup: bc.maxGroup, Synchronous: bc.sync})
			data := make([]byte, 100)
			var next atomic.Int64
			b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				stream := fmt.Sprintf("w-%d", next.Add(1))
				v := int64(0)
				for pb.Next() {
					if _, err := s.Append(ctx, stream, chronicle.Exactly(v), chronicle.EventData{Type: "Increment", Data: data}); err != nil {
						b.Error(err)
						return
					}
					v++
				}
			})
		})
	}
}

// BenchmarkAppendWatched appends batches of 10 events while n watchers
// follow the global stream, one of which has stopped reading; one op is
// one append. Compare its ns/op with n=0 for the writers' loss to the
// watchers.
func BenchmarkAppendWatched(b *testing.B) {
	for _, n := range []int{0, 100, 1000} {
		b.Run(fmt.Sprintf("watchers=%d", n), func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			s := benchStore(b)
			var wg sync.WaitGroup
			var caughtUp sync.WaitGroup
			caughtUp.Add(n)
			resume := make(chan struct{})
			for w := range n {
				wg.Go(func() {
					opts := &chronicle.WatchOptions{CaughtUp: caughtUp.Done}
					for _, err := range s.WatchAll(ctx, chronicle.Position{}, opts) {
						if err != nil {
							return
						}
						if w == 0 {
							<-resume // the stuck one
						}
					}
				})
			}
			caughtUp.Wait()
			data := make([]byte, 100)
			evs := make([]chronicle.EventData, 10)
			for i := range evs {
				evs[i] = chronicle.EventData{Type: "Tick", Data: data}
			}
			i := 0
			for b.Loop() {
				if _, err := s.Append(ctx, fmt.Sprint("s-", i%10), chronicle.Any, evs...); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.StopTimer()
			close(resume)
			cancel()
			wg.Wait()
		})
	}
}
