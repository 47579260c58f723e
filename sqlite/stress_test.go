package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
)

// Writers (some with contexts that expire mid-write), filtered and
// unfiltered watchers, readers, then Close while all of them run. Watchers
// must see positions 1, 2, 3, ... with no gap or repeat; every goroutine must
// end (ErrClosed or its ctx); nothing may leak (goleak in TestMain).
func TestStressCloseAndHandoff(t *testing.T) {
	for round := range 6 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			path := ""
			if round%2 == 0 {
				path = filepath.Join(t.TempDir(), "e.db")
			}
			s, err := sqlite.Open(t.Context(), path, &sqlite.Options{PageSize: 3, MaxGroup: 1 + round*3})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var wg sync.WaitGroup
			var committed atomic.Int64
			for i := range 8 {
				wg.Go(func() {
					for j := 0; ; j++ {
						c, cancel := context.WithTimeout(ctx, time.Duration(rand.IntN(300))*time.Microsecond)
						if i%2 == 0 {
							cancel()
							c, cancel = context.WithCancel(ctx)
						}
						n := 1 + rand.IntN(5)
						evs := make([]chronicle.EventData, n)
						for k := range evs {
							evs[k] = chronicle.EventData{Type: "E", Metadata: []byte(fmt.Sprintf(`{"w":%d}`, i))}
							if rand.IntN(3) == 0 {
								evs[k].ID = fmt.Sprintf("k%d-%d", i, rand.IntN(50))
							}
						}
						res, err := s.Append(c, fmt.Sprintf("s-%d", rand.IntN(4)), chronicle.Any, evs...)
						cancel()
						if errors.Is(err, chronicle.ErrClosed) {
							return
						}
						if err == nil {
							committed.Add(int64(res.Written))
						} else if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
							t.Errorf("append: %v", err)
							return
						}
					}
				})
			}
			watch := func(name string, seq func(func(chronicle.Event, error) bool), check func(prev, ev chronicle.Event) error) {
				wg.Go(func() {
					var prev chronicle.Event
					for ev, err := range seq {
						if err != nil {
							if !errors.Is(err, chronicle.ErrClosed) {
								t.Errorf("%s: %v", name, err)
							}
							return
						}
						if err := check(prev, ev); err != nil {
							t.Errorf("%s: %v", name, err)
							return
						}
						prev = ev
					}
					t.Errorf("%s ended without error", name)
				})
			}
			for range 3 {
				watch("WatchAll", s.WatchAll(ctx, chronicle.Position{}, nil), func(p, e chronicle.Event) error {
					if e.Position.Commit != p.Position.Commit+1 {
						return fmt.Errorf("position %v after %v", e.Position, p.Position)
					}
					return nil
				})
				watch("WatchAll filtered", s.WatchAll(ctx, chronicle.Position{}, &chronicle.WatchOptions{Filter: chronicle.Filter{chronicle.MetadataIn("w", 1, 3)}}), func(p, e chronicle.Event) error {
					if !p.Position.Before(e.Position) {
						return fmt.Errorf("position %v after %v", e.Position, p.Position)
					}
					return nil
				})
				watch("Watch", s.Watch(ctx, "s-1", 0, nil), func(p, e chronicle.Event) error {
					if e.Version != p.Version+1 {
						return fmt.Errorf("version %d after %d", e.Version, p.Version)
					}
					return nil
				})
			}
			for range 3 {
				wg.Go(func() {
					for {
						for _, err := range s.ReadAll(ctx, chronicle.Position{}, &chronicle.ReadOptions{Limit: 50, Backwards: rand.IntN(2) == 0}) {
							if errors.Is(err, chronicle.ErrClosed) {
								return
							}
							if err != nil {
								t.Errorf("read: %v", err)
								return
							}
						}
					}
				})
			}
			time.Sleep(time.Duration(100+rand.IntN(200)) * time.Millisecond)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			doneC := make(chan struct{})
			go func() { wg.Wait(); close(doneC) }()
			select {
			case <-doneC:
			case <-time.After(20 * time.Second):
				t.Fatal("goroutines did not end after Close")
			}
			t.Logf("committed %d events", committed.Load())
		})
	}
}
