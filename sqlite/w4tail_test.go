package sqlite_test

import (
	"crypto/rand"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
)

// BenchmarkW4Tail runs the bench's W4 (16 writers, a stream each, one
// event per append with a random caller-set ID, an exact expectation, a
// fresh file) for b.N appends in all and explains its tail from the
// store's hooks. Besides the appends' p50 and p99 it reports:
//
//   - slow-%: the share of appends slower than 2 ms (the W4 p99 target);
//   - slow-in-ckpt-%: of those, the share that spent at least half their
//     time held by a WAL checkpoint ([chronicle.CheckpointInfo].Held), and
//     slow-by-ckpt-%, the share held by one for any part of their time;
//   - held-ms/s: the time checkpoints held the writes, per second of the
//     run;
//   - group: the mean number of appends per group commit.
//
// The other slow appends waited while groups kept committing; -cpu 2,8
// compares GOMAXPROCS 2 and 8.
//
//	go test -run '^$' -bench W4Tail -benchtime 100000x -count 5 -cpu 2,8 ./sqlite/
func BenchmarkW4Tail(b *testing.B) {
	const writers = 16
	if b.N < writers {
		return // the probing call with b.N == 1
	}
	bk, err := sqlite.OpenBackend(b.Context(), filepath.Join(b.TempDir(), "w4.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	type span struct{ from, to time.Time }
	var mu sync.Mutex
	var held []span
	var heldFor time.Duration
	var groups, grouped int
	hooks := &chronicle.Hooks{
		GroupCommit: func(i chronicle.GroupCommitInfo) {
			mu.Lock()
			groups++
			grouped += i.Appends
			mu.Unlock()
		},
		Checkpoint: func(i chronicle.CheckpointInfo) {
			if i.Held > 0 {
				now := time.Now()
				mu.Lock()
				held = append(held, span{now.Add(-i.Held), now})
				heldFor += i.Held
				mu.Unlock()
			}
		},
	}
	st, err := chronicle.New(bk, &chronicle.Options{Hooks: hooks})
	if err != nil {
		b.Fatal(err)
	}
	type sample struct {
		start time.Time
		d     time.Duration
	}
	samples := make([][]sample, writers)
	data := make([]byte, 100)
	for i := range data {
		data[i] = 'x'
	}
	b.ResetTimer()
	t0 := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("account-%d", w)
			for v := range int64(b.N / writers) {
				start := time.Now()
				if _, err := st.Append(b.Context(), stream, chronicle.Exactly(v),
					chronicle.EventData{ID: rand.Text(), Type: "Deposit", Data: data}); err != nil {
					b.Error(err)
					return
				}
				samples[w] = append(samples[w], sample{start, time.Since(start)})
			}
		})
	}
	wg.Wait()
	wall := time.Since(t0)
	b.StopTimer()
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}

	var all []time.Duration
	slow, inCkpt, byCkpt := 0, 0, 0
	for _, ws := range samples {
		for _, s := range ws {
			all = append(all, s.d)
			if s.d < 2*time.Millisecond {
				continue
			}
			slow++
			end := s.start.Add(s.d)
			// Was it held by checkpoints for half its time or more?
			var overlap time.Duration
			for _, st := range held {
				from, to := s.start, end
				if st.from.After(from) {
					from = st.from
				}
				if st.to.Before(to) {
					to = st.to
				}
				overlap += max(0, to.Sub(from))
			}
			if overlap >= s.d/2 {
				inCkpt++
			}
			if overlap > 0 {
				byCkpt++
			}
		}
	}
	slices.Sort(all)
	n := len(all)
	b.ReportMetric(float64(n)/wall.Seconds(), "appends/s")
	b.ReportMetric(float64(all[n/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[n*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(100*float64(slow)/float64(n), "slow-%")
	if slow > 0 {
		b.ReportMetric(100*float64(inCkpt)/float64(slow), "slow-in-ckpt-%")
		b.ReportMetric(100*float64(byCkpt)/float64(slow), "slow-by-ckpt-%")
	}
	b.ReportMetric(float64(heldFor.Milliseconds())/wall.Seconds(), "held-ms/s")
	b.ReportMetric(float64(grouped)/float64(groups), "group")
	b.ReportMetric(0, "ns/op")
}
