package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
)

// TestSoak runs a mixed load (appends with exact expectations, reads,
// filtered reads, watches of streams and of the global stream, snapshots)
// for soakDuration (30 s; 10 minutes with -tags chronicle_soak). Every
// operation must succeed, every watch must see its events in order without
// gaps, and the goroutine count and live heap must stay flat.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	s := openT(t, filepath.Join(t.TempDir(), "soak.db"), nil)
	ctx, cancel := context.WithTimeout(t.Context(), soakDuration)
	defer cancel()

	var (
		wg      sync.WaitGroup
		ops     atomic.Int64
		errOnce sync.Once
		firstEr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstEr = err; cancel() })
	}
	done := func(err error) bool { // reports whether the loop must stop
		switch {
		case err == nil:
			ops.Add(1)
			return false
		case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
			return true
		}
		fail(err)
		return true
	}

	const writers, streamsPerWriter = 4, 5
	acked := make([][]int64, writers) // each writer's versions, read after wg.Wait
	for w := range writers {
		acked[w] = make([]int64, streamsPerWriter)
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			versions := acked[w]
			for ctx.Err() == nil {
				time.Sleep(time.Millisecond) // a steady load, not a flood
				k := rng.IntN(streamsPerWriter)
				evs := make([]chronicle.EventData, 1+rng.IntN(20))
				for i := range evs {
					evs[i] = chronicle.EventData{Type: []string{"Opened", "Moved", "Closed"}[rng.IntN(3)],
						Data: []byte(`{"w":` + fmt.Sprint(w) + `}`), Metadata: []byte(`{"tenant":"t` + fmt.Sprint(k) + `"}`)}
				}
				res, err := s.Append(ctx, fmt.Sprintf("w%d-s%d", w, k), chronicle.Exactly(versions[k]), evs...)
				if done(err) {
					return
				}
				versions[k] = res.Version
				if rng.IntN(10) == 0 {
					err := s.SaveSnapshot(ctx, fmt.Sprintf("w%d-s%d", w, k), "state", res.Version, []byte("snapshot"))
					if done(err) {
						return
					}
				}
			}
		})
	}
	// Readers: the global stream from a random point, filtered; one stream
	// backwards; snapshots.
	for r := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 2))
			for ctx.Err() == nil {
				from := chronicle.At(uint64(rng.IntN(1000)))
				f := chronicle.Filter{chronicle.TypeIn("Opened", "Closed"), chronicle.MetadataIs("tenant", "t1")}
				var last chronicle.Position
				for ev, err := range s.ReadAll(ctx, from, &chronicle.ReadOptions{Filter: f, Limit: 2000}) {
					if err != nil {
						if done(err) {
							return
						}
						break
					}
					if !last.Before(ev.Position) || ev.Type == "Moved" {
						fail(fmt.Errorf("filtered ReadAll: %v after %v, type %s", ev.Position, last, ev.Type))
						return
					}
					last = ev.Position
				}
				stream := fmt.Sprintf("w%d-s%d", rng.IntN(writers), rng.IntN(streamsPerWriter))
				for _, err := range s.Read(ctx, stream, 0, &chronicle.ReadOptions{Backwards: true, Limit: 100}) {
					if err != nil {
						if done(err) {
							return
						}
						break
					}
				}
				if _, _, err := s.LoadSnapshot(ctx, stream, "state"); done(err) {
					return
				}
			}
		})
	}
	// Watchers: the global stream, filtered and not; single streams.
	watch := func(name string, seq func() func(yield func(chronicle.Event, error) bool), check func(prev, ev chronicle.Event) bool) {
		wg.Go(func() {
			var prev chronicle.Event
			for ev, err := range seq() {
				if err != nil {
					done(err)
					return
				}
				if prev.Position != (chronicle.Position{}) && !check(prev, ev) {
					fail(fmt.Errorf("%s: %v (v%d) after %v (v%d)", name, ev.Position, ev.Version, prev.Position, prev.Version))
					return
				}
				prev = ev
				ops.Add(1)
			}
		})
	}
	increasing := func(prev, ev chronicle.Event) bool { return prev.Position.Before(ev.Position) }
	contiguous := func(prev, ev chronicle.Event) bool { return ev.Version == prev.Version+1 }
	watch("WatchAll", func() func(func(chronicle.Event, error) bool) {
		return s.WatchAll(ctx, chronicle.Position{}, nil)
	}, increasing)
	watch("WatchAll filtered", func() func(func(chronicle.Event, error) bool) {
		return s.WatchAll(ctx, chronicle.Position{}, &chronicle.WatchOptions{Filter: chronicle.Filter{chronicle.StreamPrefix("w1-")}})
	}, increasing)
	for w := range 2 {
		stream := fmt.Sprintf("w%d-s0", w)
		watch("Watch "+stream, func() func(func(chronicle.Event, error) bool) {
			return s.Watch(ctx, stream, 0, nil)
		}, contiguous)
	}

	// Sample goroutines and live heap once a second.
	type sample struct {
		goroutines int
		heap       uint64
	}
	var samples []sample
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
sampling:
	for {
		select {
		case <-ctx.Done():
			break sampling
		case <-tick.C:
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			samples = append(samples, sample{runtime.NumGoroutine(), m.HeapInuse})
		}
	}
	wg.Wait()
	if firstEr != nil {
		t.Fatalf("after %d operations: %v", ops.Load(), firstEr)
	}
	// Every acknowledged append is there, and nothing else; positions
	// increase and versions are contiguous across the whole store.
	for w := range writers {
		for k, v := range acked[w] {
			info, err := s.StreamInfo(t.Context(), fmt.Sprintf("w%d-s%d", w, k))
			if err != nil || info.Version != v {
				t.Errorf("stream w%d-s%d: %+v, %v; acknowledged up to version %d", w, k, info, err, v)
			}
		}
	}
	var last chronicle.Position
	seen := map[string]int64{}
	for ev, err := range s.ReadAll(t.Context(), chronicle.Position{}, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if seen[ev.Stream]++; !last.Before(ev.Position) || ev.Version != seen[ev.Stream] {
			t.Fatalf("store at %v: stream %s version %d, want %d", ev.Position, ev.Stream, ev.Version, seen[ev.Stream])
		}
		last = ev.Position
	}
	if len(samples) < 4 {
		t.Fatalf("only %d samples", len(samples))
	}
	// Flat: the second half's maximum against the first quarter's.
	early, late := samples[len(samples)/4], samples[len(samples)/2:]
	maxG, maxH := 0, uint64(0)
	for _, sm := range late {
		maxG, maxH = max(maxG, sm.goroutines), max(maxH, sm.heap)
	}
	if maxG > early.goroutines+2 {
		t.Errorf("goroutines grew from %d to %d", early.goroutines, maxG)
	}
	if maxH > 2*early.heap+16<<20 {
		t.Errorf("live heap grew from %d MiB to %d MiB", early.heap>>20, maxH>>20)
	}
	stats, err := s.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v: %d operations, %d events in %d streams; goroutines %d → %d, live heap %d → %d MiB",
		soakDuration, ops.Load(), stats.Events, stats.Streams, early.goroutines, maxG, early.heap>>20, maxH>>20)
}
