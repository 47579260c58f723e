package sqlite_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/chronicle-go/chronicle"
)

// TestLargestFilterRuns: the largest filter Filter.Validate accepts runs as
// one query; one condition or one value more is refused with ErrInvalid
// before any query.
func TestLargestFilterRuns(t *testing.T) {
	s := openT(t, "", nil)
	if _, err := s.Append(t.Context(), "a", chronicle.Any, chronicle.EventData{Type: "E", Metadata: []byte(`{"k":1}`)}); err != nil {
		t.Fatal(err)
	}
	per := chronicle.MaxFilterTotalValues / chronicle.MaxFilterConditions
	vals := make([]string, per)
	nums := make([]any, per)
	for i := range vals {
		vals[i] = fmt.Sprint("T", i)
		nums[i] = i
	}
	vals[0] = "E"
	f := make(chronicle.Filter, chronicle.MaxFilterConditions)
	for i := range f {
		if i%2 == 0 {
			f[i] = chronicle.TypeIn(vals...)
		} else {
			f[i] = chronicle.MetadataIn("k", nums...)
		}
	}
	n := 0
	for _, err := range s.ReadAll(t.Context(), chronicle.Position{}, &chronicle.ReadOptions{Filter: f}) {
		if err != nil {
			t.Fatalf("largest valid filter: %v", err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("largest valid filter matched %d events, want 1", n)
	}
	tooMany := append(f, chronicle.TypeIs("E"))
	tooBig := append(chronicle.Filter{}, f...)
	tooBig[0] = chronicle.TypeIn(append(vals, "extra")...)
	for name, bad := range map[string]chronicle.Filter{"conditions": tooMany, "values": tooBig} {
		for _, err := range s.ReadAll(t.Context(), chronicle.Position{}, &chronicle.ReadOptions{Filter: bad}) {
			if !errors.Is(err, chronicle.ErrInvalid) {
				t.Errorf("one too many %s: %v, want ErrInvalid", name, err)
			}
			break
		}
	}
}
