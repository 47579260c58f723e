package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
)

// An Append that returns an error wrote nothing; one that returns nil wrote
// everything, also when its context expires at random points.
func TestCancelledAppendIsDefinite(t *testing.T) {
	for _, mg := range []int{1, 8} {
		t.Run(fmt.Sprint("MaxGroup", mg), func(t *testing.T) {
			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "e.db"), &sqlite.Options{MaxGroup: mg})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var mu sync.Mutex
			ok := map[string]bool{}
			var wg sync.WaitGroup
			for w := range 6 {
				wg.Go(func() {
					for j := range 300 {
						ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(2000))*time.Microsecond)
						evs := make([]chronicle.EventData, 150) // 2 INSERT chunks
						for k := range evs {
							evs[k] = chronicle.EventData{Type: "E", Data: make([]byte, 200)}
						}
						id := fmt.Sprintf("w%d-%d", w, j)
						evs[0].ID = id
						_, err := s.Append(ctx, fmt.Sprint("s", rand.IntN(3)), chronicle.Any, evs...)
						cancel()
						if err != nil && !errors.Is(err, context.DeadlineExceeded) {
							t.Errorf("append: %v", err)
						}
						mu.Lock()
						ok[id] = err == nil
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			seen := map[string]int{}
			for ev, err := range s.ReadAll(t.Context(), chronicle.Position{}, nil) {
				if err != nil {
					t.Fatal(err)
				}
				if ev.ID[0] == 'w' {
					seen[ev.ID]++
				}
			}
			nok := 0
			for id, good := range ok {
				if good {
					nok++
				}
				if good != (seen[id] == 1) {
					t.Errorf("%s: append ok=%v, stored %d times", id, good, seen[id])
				}
			}
			t.Logf("%d of %d appends succeeded", nok, len(ok))
		})
	}
}
