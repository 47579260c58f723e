package uuidv7

import (
	"encoding/hex"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// shape is the textual form of a UUIDv7: lowercase hex, version nibble 7,
// variant bits 10 (so the 17th hex digit is 8, 9, a or b).
var shape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// checkBatch asserts that ids are well-formed and strictly increasing, and
// that each is greater than prev (when prev is not empty).
func checkBatch(t *testing.T, prev string, ids []string) {
	t.Helper()
	for i, id := range ids {
		if len(id) != 36 {
			t.Fatalf("id %d = %q has %d characters, want 36", i, id, len(id))
		}
		if !shape.MatchString(id) {
			t.Fatalf("id %d = %q is not a lowercase UUIDv7 (version nibble %q, variant %q)", i, id, id[14], id[19])
		}
		if prev != "" && id <= prev {
			t.Fatalf("id %d = %q is not greater than the one before it, %q", i, id, prev)
		}
		prev = id
	}
}

// unixMilli decodes the 48-bit timestamp of a UUIDv7.
func unixMilli(t *testing.T, id string) int64 {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
	if err != nil || len(b) != 16 {
		t.Fatalf("decode %q: %v", id, err)
	}
	var ms int64
	for _, c := range b[:6] {
		ms = ms<<8 | int64(c)
	}
	return ms
}

func TestNewShapeAndOrder(t *testing.T) {
	for _, n := range []int{0, 1, 2, 100, 4096, 10000} {
		var g Generator
		before := time.Now().UnixMilli()
		ids := g.New(n)
		after := time.Now().UnixMilli()
		if len(ids) != n {
			t.Fatalf("New(%d) returned %d ids", n, len(ids))
		}
		checkBatch(t, "", ids)
		seen := make(map[string]bool, n)
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("New(%d): duplicate %q", n, id)
			}
			seen[id] = true
		}
		if n == 0 {
			continue
		}
		// The timestamps are the time of the call, or slightly later when
		// the 12-bit counter ran out and borrowed following milliseconds:
		// at most one millisecond per 3072 ids (4096 minus a seed < 1024).
		first, last := unixMilli(t, ids[0]), unixMilli(t, ids[n-1])
		if first < before || first > after {
			t.Errorf("New(%d): first timestamp %d outside [%d, %d]", n, first, before, after)
		}
		if maxLast := after + int64(n/3072) + 1; last < first || last > maxLast {
			t.Errorf("New(%d): last timestamp %d outside [%d, %d]", n, last, first, maxLast)
		}
	}
}

func TestNewConsecutiveCalls(t *testing.T) {
	var g Generator
	prev := ""
	for _, n := range []int{1, 10000, 1, 3, 10000, 10000, 1, 4097, 2} {
		ids := g.New(n)
		checkBatch(t, prev, ids)
		prev = ids[len(ids)-1]
	}
	// Many tiny calls in a tight loop share milliseconds.
	for range 20000 {
		ids := g.New(1)
		checkBatch(t, prev, ids)
		prev = ids[0]
	}
}

// TestCounterOverflowBorrows drives the counter to its end and checks that
// the next ids move to the following milliseconds instead of wrapping.
func TestCounterOverflowBorrows(t *testing.T) {
	var g Generator
	future := time.Now().UnixMilli() + 60_000 // as if the clock had stepped back
	g.lastMs = future
	g.seq = 0xffd

	ids := g.New(5)
	checkBatch(t, "", ids)
	wantMs := []int64{future, future, future + 1, future + 1, future + 1}
	wantSeq := []string{"7ffe", "7fff", "7000", "7001", "7002"}
	for i, id := range ids {
		if ms := unixMilli(t, id); ms != wantMs[i] {
			t.Errorf("id %d = %s: timestamp %d, want %d", i, id, ms, wantMs[i])
		}
		if got := id[14:18]; got != wantSeq[i] {
			t.Errorf("id %d = %s: version and counter %s, want %s", i, id, got, wantSeq[i])
		}
	}

	// The next call, at a real time before lastMs, continues from there.
	more := g.New(2)
	checkBatch(t, ids[len(ids)-1], more)
	if ms := unixMilli(t, more[0]); ms != future+1 {
		t.Errorf("next call used timestamp %d, want %d", ms, future+1)
	}
}

func TestRandomBitsVary(t *testing.T) {
	var g Generator
	ids := g.New(64)
	tails := make(map[string]bool)
	for _, id := range ids {
		tails[id[20:]] = true // the last 48 random bits
	}
	if len(tails) < 60 {
		t.Errorf("only %d distinct random tails among 64 ids", len(tails))
	}
}

// TestConcurrent runs New from 8 goroutines on one Generator. Each batch is
// made under the lock, so besides having no duplicates the batches must not
// interleave: sorted together, each batch is one contiguous run.
func TestConcurrent(t *testing.T) {
	const (
		goroutines = 8
		calls      = 200
	)
	var g Generator
	type tagged struct {
		id    string
		batch int
	}
	results := make([][]tagged, goroutines)
	var wg sync.WaitGroup
	for w := range goroutines {
		wg.Go(func() {
			for c := range calls {
				n := 1 + (w*calls+c)%17
				if c%50 == 0 {
					n = 5000 // force counter overflow now and then
				}
				ids := g.New(n)
				batch := w*calls + c
				for _, id := range ids {
					results[w] = append(results[w], tagged{id, batch})
				}
				prev := ""
				for _, id := range ids {
					if id <= prev {
						t.Errorf("goroutine %d: batch not increasing: %q after %q", w, id, prev)
						return
					}
					prev = id
				}
			}
		})
	}
	wg.Wait()

	var all []tagged
	for _, r := range results {
		all = append(all, r...)
	}
	slices.SortFunc(all, func(a, b tagged) int { return strings.Compare(a.id, b.id) })
	done := make(map[int]bool)
	for i, x := range all {
		if !shape.MatchString(x.id) {
			t.Fatalf("malformed id %q", x.id)
		}
		if i == 0 {
			continue
		}
		if x.id == all[i-1].id {
			t.Fatalf("duplicate id %q", x.id)
		}
		if x.batch != all[i-1].batch {
			if done[x.batch] {
				t.Fatalf("batch %d interleaves with another batch", x.batch)
			}
			done[all[i-1].batch] = true
		}
	}
}
