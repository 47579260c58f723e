package chronicle_test

import (
	"context"
	"testing"

	"github.com/chronicle-go/chronicle"
)

// nopBackend stores nothing: Append only numbers the events, so that a
// benchmark on it measures the store's own work.
type nopBackend struct {
	chronicle.Backend // the other methods are not called
	head              uint64
}

func (b *nopBackend) Append(_ context.Context, p *chronicle.AppendParams) (chronicle.AppendResult, error) {
	res := chronicle.AppendResult{Positions: make([]chronicle.Position, len(p.Events)), Written: len(p.Events)}
	for i := range res.Positions {
		b.head++
		res.Positions[i] = chronicle.At(b.head)
	}
	return res, nil
}

func (b *nopBackend) WatchChanges(ctx context.Context, _ func()) { <-ctx.Done() }
func (b *nopBackend) Close() error                               { return nil }

// BenchmarkAppendHooks measures what hooks cost an append on a backend
// that does nothing: off (no hooks: one nil check), hooks set without
// append hooks, and append hooks that do nothing (the cost of calling
// them, measuring the duration and summing the batch's bytes).
//
//	go test -run '^$' -bench AppendHooks -benchtime 200000x -count 3 .
func BenchmarkAppendHooks(b *testing.B) {
	for _, bc := range []struct {
		name  string
		hooks *chronicle.Hooks
	}{
		{"off", nil},
		{"other hooks", &chronicle.Hooks{ReadDone: func(context.Context, chronicle.ReadDoneInfo) {}}},
		{"nop hooks", &chronicle.Hooks{
			AppendStart: func(ctx context.Context, _ chronicle.AppendInfo) context.Context { return ctx },
			AppendDone:  func(context.Context, chronicle.AppendDoneInfo) {},
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := chronicle.New(&nopBackend{}, &chronicle.Options{Hooks: bc.hooks})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			ev := chronicle.EventData{ID: "id", Type: "T", Data: []byte(`{"n":1}`)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Append(ctx, "s", chronicle.Any, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
