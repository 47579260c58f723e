package chronicle_test

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/chronicle-go/chronicle"
)

func TestExpectationCheck(t *testing.T) {
	versions := []int64{0, 1, 5}
	tests := []struct {
		name string
		e    chronicle.Expectation
		ok   []bool // per version 0, 1, 5
	}{
		{"Any", chronicle.Any, []bool{true, true, true}},
		{"zero value", chronicle.Expectation{}, []bool{true, true, true}},
		{"NoStream", chronicle.NoStream, []bool{true, false, false}},
		{"StreamExists", chronicle.StreamExists, []bool{false, true, true}},
		{"Exactly(0)", chronicle.Exactly(0), []bool{true, false, false}},
		{"Exactly(1)", chronicle.Exactly(1), []bool{false, true, false}},
		{"Exactly(5)", chronicle.Exactly(5), []bool{false, false, true}},
		{"Exactly(4)", chronicle.Exactly(4), []bool{false, false, false}},
		{"Exactly(-1)", chronicle.Exactly(-1), []bool{false, false, false}},
		{"Exactly(MaxInt64)", chronicle.Exactly(math.MaxInt64), []bool{false, false, false}},
	}
	for _, tc := range tests {
		for i, v := range versions {
			t.Run(fmt.Sprintf("%s/at%d", tc.name, v), func(t *testing.T) {
				err := tc.e.Check("orders-1", v)
				if tc.ok[i] {
					if err != nil {
						t.Fatalf("Check(%d) = %v, want nil", v, err)
					}
					return
				}
				if err == nil {
					t.Fatalf("Check(%d) = nil, want a conflict", v)
				}
				var ce *chronicle.ConflictError
				if !errors.As(err, &ce) {
					t.Fatalf("Check(%d) = %v (%T), want *ConflictError", v, err, err)
				}
				if ce.Stream != "orders-1" || ce.Expected != tc.e || ce.Actual != v {
					t.Errorf("ConflictError = %+v, want {orders-1 %v %d}", *ce, tc.e, v)
				}
				if !errors.Is(err, chronicle.ErrConflict) {
					t.Errorf("%v does not match ErrConflict", err)
				}
				if errors.Is(err, chronicle.ErrInvalid) {
					t.Errorf("%v matches ErrInvalid", err)
				}
			})
		}
	}
}

func TestConflictError(t *testing.T) {
	err := chronicle.NoStream.Check("orders-1", 3)
	want := `chronicle: version conflict on stream "orders-1": expected no stream, actual version 3`
	if err == nil || err.Error() != want {
		t.Fatalf("Error() = %v, want %q", err, want)
	}

	err = chronicle.Exactly(2).Check("a\"b", 0)
	want = `chronicle: version conflict on stream "a\"b": expected version 2, actual version 0`
	if err == nil || err.Error() != want {
		t.Fatalf("Error() = %v, want %q", err, want)
	}

	// Wrapped conflicts still match.
	wrapped := fmt.Errorf("append: %w", err)
	if !errors.Is(wrapped, chronicle.ErrConflict) {
		t.Error("wrapped conflict does not match ErrConflict")
	}
	var ce *chronicle.ConflictError
	if !errors.As(wrapped, &ce) || ce.Actual != 0 || ce.Stream != "a\"b" {
		t.Errorf("errors.As on wrapped conflict = %+v", ce)
	}
	if v, ok := ce.Expected.Version(); !ok || v != 2 {
		t.Errorf("Expected.Version() = %d, %v, want 2, true", v, ok)
	}

	// A hand-made ConflictError matches ErrConflict and nothing else.
	ce = &chronicle.ConflictError{Stream: "s", Expected: chronicle.StreamExists, Actual: 0}
	if !errors.Is(ce, chronicle.ErrConflict) {
		t.Error("ConflictError does not match ErrConflict")
	}
	for _, other := range []error{chronicle.ErrInvalid, chronicle.ErrClosed, chronicle.ErrBusy, chronicle.ErrVersionNotReached, chronicle.ErrIncompatible} {
		if errors.Is(ce, other) {
			t.Errorf("ConflictError matches %v", other)
		}
	}
}

func TestExpectationValidate(t *testing.T) {
	for _, e := range []chronicle.Expectation{
		chronicle.Any, chronicle.Expectation{}, chronicle.NoStream, chronicle.StreamExists,
		chronicle.Exactly(0), chronicle.Exactly(1), chronicle.Exactly(math.MaxInt64),
	} {
		if err := e.Validate(); err != nil {
			t.Errorf("%v.Validate() = %v", e, err)
		}
	}
	for _, n := range []int64{-1, -5, math.MinInt64} {
		err := chronicle.Exactly(n).Validate()
		if err == nil {
			t.Fatalf("Exactly(%d).Validate() = nil", n)
		}
		checkInvalid(t, err, "expectation")
	}
}

func TestExpectationString(t *testing.T) {
	tests := []struct {
		e    chronicle.Expectation
		want string
	}{
		{chronicle.Any, "any version"},
		{chronicle.Expectation{}, "any version"},
		{chronicle.NoStream, "no stream"},
		{chronicle.StreamExists, "stream exists"},
		{chronicle.Exactly(0), "version 0"},
		{chronicle.Exactly(5), "version 5"},
		{chronicle.Exactly(-1), "version -1"},
		{chronicle.Exactly(math.MaxInt64), "version 9223372036854775807"},
	}
	for _, tc := range tests {
		if got := tc.e.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
		if got := fmt.Sprint(tc.e); got != tc.want {
			t.Errorf("fmt.Sprint = %q, want %q", got, tc.want)
		}
	}
}

func TestExpectationVersion(t *testing.T) {
	tests := []struct {
		e      chronicle.Expectation
		v      int64
		exactN bool
	}{
		{chronicle.Any, 0, false},
		{chronicle.NoStream, 0, false},
		{chronicle.StreamExists, 0, false},
		{chronicle.Exactly(0), 0, true},
		{chronicle.Exactly(7), 7, true},
		{chronicle.Exactly(-1), -1, true},
	}
	for _, tc := range tests {
		v, ok := tc.e.Version()
		if v != tc.v || ok != tc.exactN {
			t.Errorf("%v.Version() = %d, %v, want %d, %v", tc.e, v, ok, tc.v, tc.exactN)
		}
	}
	if chronicle.Any != (chronicle.Expectation{}) {
		t.Error("Any is not the zero Expectation")
	}
}
