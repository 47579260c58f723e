package chronicle_test

import (
	"context"
	"slices"
	"testing"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/internal/memback"
)

// seenBackend records the events each Append hands the backend, and can
// drop the last position of its results (a backend that breaks the
// contract).
type seenBackend struct {
	*memback.Backend
	seen     [][]string // the IDs of each append's events
	truncate bool
}

func (b *seenBackend) Append(ctx context.Context, p *chronicle.AppendParams) (chronicle.AppendResult, error) {
	var ids []string
	for _, e := range p.Events {
		ids = append(ids, e.ID)
	}
	b.seen = append(b.seen, ids)
	res, err := b.Backend.Append(ctx, p)
	if b.truncate && len(res.Positions) > 0 {
		res.Positions = res.Positions[:len(res.Positions)-1]
	}
	return res, err
}

// The backend gets each ID of a batch once; the Store gives every event the
// caller passed its position, repeats included.
func TestAppendPositionsOfRepeats(t *testing.T) {
	b := &seenBackend{Backend: memback.New()}
	s, err := chronicle.New(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	a, x, c := chronicle.EventData{ID: "a", Type: "A"}, chronicle.EventData{Type: "X"}, chronicle.EventData{ID: "c", Type: "C"}

	for _, tc := range []struct {
		name    string
		batch   []chronicle.EventData
		sent    int // events handed to the backend
		want    []chronicle.Position
		written int
	}{
		{"Fresh", []chronicle.EventData{a, x, a, c, a}, 3, []chronicle.Position{chronicle.At(1), chronicle.At(2), chronicle.At(1), chronicle.At(3), chronicle.At(1)}, 3},
		{"Retry", []chronicle.EventData{c, c, a}, 2, []chronicle.Position{chronicle.At(3), chronicle.At(3), chronicle.At(1)}, 0},
		{"Partial", []chronicle.EventData{x, c, x}, 3, []chronicle.Position{chronicle.At(4), chronicle.At(3), chronicle.At(5)}, 2},
	} {
		res, err := s.Append(ctx, "s", chronicle.Any, tc.batch...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := b.seen[len(b.seen)-1]; len(got) != tc.sent {
			t.Errorf("%s: the backend got IDs %v, want %d events", tc.name, got, tc.sent)
		}
		if !slices.Equal(res.Positions, tc.want) || res.Written != tc.written {
			t.Errorf("%s: %+v, want positions %v and %d written", tc.name, res, tc.want, tc.written)
		}
	}
}

// A backend that returns fewer positions than events fails the append
// instead of handing the caller a short or misaligned result.
func TestAppendShortBackendResult(t *testing.T) {
	s, err := chronicle.New(&seenBackend{Backend: memback.New(), truncate: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Append(t.Context(), "s", chronicle.Any, chronicle.EventData{Type: "A"}, chronicle.EventData{Type: "B"})
	if err == nil || len(res.Positions) != 0 {
		t.Fatalf("Append = %+v, %v; want an error and no positions", res, err)
	}
}
