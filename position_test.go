package chronicle_test

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle"
)

const maxU64 = math.MaxUint64

func TestParsePosition(t *testing.T) {
	valid := []struct {
		in   string
		want chronicle.Position
	}{
		{"0", chronicle.Position{}},
		{"1", chronicle.At(1)},
		{"42", chronicle.Position{Commit: 42, Prepare: 42}},
		{"18446744073709551615", chronicle.EndPosition()},
		{"3/7", chronicle.Position{Commit: 3, Prepare: 7}},
		{"7/3", chronicle.Position{Commit: 7, Prepare: 3}},
		{"3/3", chronicle.At(3)}, // the pair form of an equal pair is accepted too
		{"0/18446744073709551615", chronicle.Position{Commit: 0, Prepare: maxU64}},
		{"18446744073709551615/0", chronicle.Position{Commit: maxU64, Prepare: 0}},
	}
	for _, tc := range valid {
		t.Run("ok/"+tc.in, func(t *testing.T) {
			got, err := chronicle.ParsePosition(tc.in)
			if err != nil {
				t.Fatalf("ParsePosition(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParsePosition(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
			// Parsing what String prints gives the same position back.
			again, err := chronicle.ParsePosition(got.String())
			if err != nil || again != got {
				t.Fatalf("ParsePosition(%q.String() = %q) = %#v, %v", tc.in, got.String(), again, err)
			}
		})
	}

	invalid := []string{
		"",
		"-1",
		"+1",
		"0x10",
		"0b1",
		"1/",
		"/1",
		"/",
		"1/2/3",
		" 1",
		"1 ",
		"1\n",
		"1_000",
		"1e3",
		"1.0",
		"18446744073709551616",   // MaxUint64 + 1
		"99999999999999999999",   // 20 digits, overflows
		"3/18446744073709551616", // overflow in the second part
		"184467440737095516150",  // 21 digits
		"１",                      // full-width digit one
		"٣",                      // Arabic-Indic digit three
		"1\x00",
		"abc",
	}
	for _, in := range invalid {
		t.Run("bad/"+in, func(t *testing.T) {
			got, err := chronicle.ParsePosition(in)
			if err == nil {
				t.Fatalf("ParsePosition(%q) = %#v, want an error", in, got)
			}
			if got != (chronicle.Position{}) {
				t.Errorf("ParsePosition(%q) returned %#v alongside its error, want the zero Position", in, got)
			}
			checkInvalid(t, err, "position")
		})
	}
}

// checkInvalid asserts that err is a *ValidationError for field that matches
// ErrInvalid and nothing else.
func checkInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if !errors.Is(err, chronicle.ErrInvalid) {
		t.Errorf("error %v does not match ErrInvalid", err)
	}
	if errors.Is(err, chronicle.ErrConflict) {
		t.Errorf("error %v matches ErrConflict", err)
	}
	var ve *chronicle.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	if field != "" && ve.Field != field {
		t.Errorf("ValidationError.Field = %q, want %q", ve.Field, field)
	}
	if ve.Reason == "" {
		t.Errorf("ValidationError.Reason is empty")
	}
	if !strings.HasPrefix(err.Error(), "chronicle: invalid ") {
		t.Errorf("Error() = %q, want prefix %q", err.Error(), "chronicle: invalid ")
	}
}

func TestPositionString(t *testing.T) {
	tests := []struct {
		p    chronicle.Position
		want string
	}{
		{chronicle.Position{}, "0"},
		{chronicle.At(42), "42"},
		{chronicle.EndPosition(), "18446744073709551615"},
		{chronicle.Position{Commit: 3, Prepare: 7}, "3/7"},
		{chronicle.Position{Commit: 7, Prepare: 3}, "7/3"},
		{chronicle.Position{Commit: 0, Prepare: 1}, "0/1"},
		{chronicle.Position{Commit: maxU64, Prepare: 0}, "18446744073709551615/0"},
	}
	for _, tc := range tests {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.p, got, tc.want)
		}
		back, err := chronicle.ParsePosition(tc.want)
		if err != nil || back != tc.p {
			t.Errorf("ParsePosition(%q) = %#v, %v, want %#v", tc.want, back, err, tc.p)
		}
	}
}

func TestAtAndEndPosition(t *testing.T) {
	for _, n := range []uint64{0, 1, 42, maxU64} {
		if p := chronicle.At(n); p.Commit != n || p.Prepare != n {
			t.Errorf("At(%d) = %#v", n, p)
		}
	}
	if !chronicle.At(0).IsZero() || !(chronicle.Position{}).IsZero() {
		t.Error("At(0) / Position{} is not IsZero")
	}
	for _, p := range []chronicle.Position{chronicle.At(1), {Commit: 0, Prepare: 1}, {Commit: 1}, chronicle.EndPosition()} {
		if p.IsZero() {
			t.Errorf("%#v.IsZero() = true", p)
		}
	}

	end := chronicle.EndPosition()
	if end != (chronicle.Position{Commit: maxU64, Prepare: maxU64}) {
		t.Fatalf("EndPosition() = %#v", end)
	}
	if end != chronicle.At(maxU64) {
		t.Errorf("EndPosition() != At(MaxUint64)")
	}
	for _, p := range positionsAscending {
		if end.Before(p) {
			t.Errorf("EndPosition().Before(%v)", p)
		}
		if p != end && !p.Before(end) {
			t.Errorf("%v is not before EndPosition()", p)
		}
		if p.Before(chronicle.Position{}) {
			t.Errorf("%v is before the zero position", p)
		}
	}
}

// positionsAscending is strictly increasing under Position.Compare.
var positionsAscending = []chronicle.Position{
	{Commit: 0, Prepare: 0},
	{Commit: 0, Prepare: 1},
	{Commit: 0, Prepare: maxU64},
	{Commit: 1, Prepare: 0},
	{Commit: 1, Prepare: 1},
	{Commit: 1, Prepare: 2},
	{Commit: 2, Prepare: 1},
	{Commit: 3, Prepare: 7},
	{Commit: 7, Prepare: 3},
	{Commit: maxU64 - 1, Prepare: maxU64},
	{Commit: maxU64, Prepare: 0},
	{Commit: maxU64, Prepare: maxU64 - 1},
	{Commit: maxU64, Prepare: maxU64},
}

func TestPositionCompare(t *testing.T) {
	for i, p := range positionsAscending {
		for j, q := range positionsAscending {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := p.Compare(q); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", p, q, got, want)
			}
			if got := p.Before(q); got != (i < j) {
				t.Errorf("%v.Before(%v) = %v, want %v", p, q, got, i < j)
			}
		}
	}
}

func TestPositionText(t *testing.T) {
	for _, p := range positionsAscending {
		b, err := p.MarshalText()
		if err != nil {
			t.Fatalf("%#v.MarshalText: %v", p, err)
		}
		if string(b) != p.String() {
			t.Errorf("%#v.MarshalText() = %q, want %q", p, b, p.String())
		}
		var q chronicle.Position
		if err := q.UnmarshalText(b); err != nil {
			t.Fatalf("UnmarshalText(%q): %v", b, err)
		}
		if q != p {
			t.Errorf("UnmarshalText(%q) = %#v, want %#v", b, q, p)
		}
	}

	// A failed UnmarshalText leaves the position as it was.
	p := chronicle.Position{Commit: 3, Prepare: 7}
	for _, bad := range []string{"", "x", "1/", "-1", "18446744073709551616"} {
		err := p.UnmarshalText([]byte(bad))
		if err == nil {
			t.Fatalf("UnmarshalText(%q) succeeded", bad)
		}
		checkInvalid(t, err, "position")
		if p != (chronicle.Position{Commit: 3, Prepare: 7}) {
			t.Fatalf("failed UnmarshalText(%q) changed the position to %#v", bad, p)
		}
	}
}

func TestPositionJSON(t *testing.T) {
	type checkpoint struct {
		Name string              `json:"name"`
		At   chronicle.Position  `json:"at"`
		Ptr  *chronicle.Position `json:"ptr,omitempty"`
	}
	pair := chronicle.Position{Commit: 3, Prepare: 7}
	in := checkpoint{Name: "proj", At: chronicle.At(42), Ptr: &pair}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"name":"proj","at":"42","ptr":"3/7"}`; string(b) != want {
		t.Fatalf("json.Marshal = %s, want %s", b, want)
	}
	var out checkpoint
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Name != in.Name || out.At != in.At || out.Ptr == nil || *out.Ptr != pair {
		t.Fatalf("json round trip = %+v, want %+v", out, in)
	}

	end := checkpoint{At: chronicle.EndPosition()}
	b, err = json.Marshal(end)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"name":"","at":"18446744073709551615"}`; string(b) != want {
		t.Fatalf("json.Marshal = %s, want %s", b, want)
	}

	// Positions work as map keys too (TextMarshaler keys).
	m := map[chronicle.Position]string{chronicle.At(1): "a", pair: "b"}
	b, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var m2 map[chronicle.Position]string
	if err := json.Unmarshal(b, &m2); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	if len(m2) != 2 || m2[chronicle.At(1)] != "a" || m2[pair] != "b" {
		t.Fatalf("map round trip via %s = %v", b, m2)
	}

	// Malformed text is rejected with ErrInvalid; a number is not a position.
	var bad checkpoint
	err = json.Unmarshal([]byte(`{"at":"1/2/3"}`), &bad)
	if err == nil {
		t.Fatal(`json.Unmarshal of "1/2/3" succeeded`)
	}
	if !errors.Is(err, chronicle.ErrInvalid) {
		t.Errorf("json.Unmarshal error %v does not match ErrInvalid", err)
	}
	if err := json.Unmarshal([]byte(`{"at":42}`), &bad); err == nil {
		t.Error("json.Unmarshal of a JSON number into a Position succeeded")
	}
}

// positionSyntax is the shape every accepted position must have.
var positionSyntax = regexp.MustCompile(`^([0-9]+)(?:/([0-9]+))?$`)

// canonicalPosition is the shape Position.String produces (no leading zeros).
var canonicalPosition = regexp.MustCompile(`^(0|[1-9][0-9]*)(?:/(0|[1-9][0-9]*))?$`)

func fitsUint64(s string) (uint64, bool) {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Sign() < 0 || !n.IsUint64() {
		return 0, false
	}
	return n.Uint64(), true
}

func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{"0", "42", "3/7", "1/2/3", "18446744073709551616", "１", "+1", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := chronicle.ParsePosition(s)
		if err != nil {
			if !errors.Is(err, chronicle.ErrInvalid) {
				t.Fatalf("ParsePosition(%q) error %v does not match ErrInvalid", s, err)
			}
			var ve *chronicle.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("ParsePosition(%q) error %T is not a *ValidationError", s, err)
			}
			if p != (chronicle.Position{}) {
				t.Fatalf("ParsePosition(%q) = %#v with error", s, p)
			}
			// Everything Position.String can print must parse.
			if m := canonicalPosition.FindStringSubmatch(s); m != nil {
				_, ok1 := fitsUint64(m[1])
				ok2 := true
				if m[2] != "" {
					_, ok2 = fitsUint64(m[2])
				}
				if ok1 && ok2 {
					t.Fatalf("ParsePosition(%q) rejected a canonical position: %v", s, err)
				}
			}
			return
		}

		// Accepted input is unsigned decimal, and the parts parse exactly.
		m := positionSyntax.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("ParsePosition(%q) accepted non-decimal input as %#v", s, p)
		}
		c, ok := fitsUint64(m[1])
		if !ok || c != p.Commit {
			t.Fatalf("ParsePosition(%q).Commit = %d, want %s", s, p.Commit, m[1])
		}
		wantPrepare := c
		if m[2] != "" {
			wantPrepare, ok = fitsUint64(m[2])
			if !ok {
				t.Fatalf("ParsePosition(%q) accepted an overflowing prepare part", s)
			}
		}
		if p.Prepare != wantPrepare {
			t.Fatalf("ParsePosition(%q).Prepare = %d, want %d", s, p.Prepare, wantPrepare)
		}

		q, err := chronicle.ParsePosition(p.String())
		if err != nil {
			t.Fatalf("ParsePosition(%q) = %#v, but its String %q does not parse: %v", s, p, p.String(), err)
		}
		if q != p {
			t.Fatalf("ParsePosition(%q) = %#v, ParsePosition(String()) = %#v", s, p, q)
		}
	})
}

func FuzzPositionRoundTrip(f *testing.F) {
	f.Add(uint64(0), uint64(0), uint64(1), uint64(1))
	f.Add(uint64(3), uint64(7), uint64(7), uint64(3))
	f.Add(uint64(maxU64), uint64(maxU64), uint64(maxU64), uint64(0))
	f.Fuzz(func(t *testing.T, c1, p1, c2, p2 uint64) {
		a := chronicle.Position{Commit: c1, Prepare: p1}
		b := chronicle.Position{Commit: c2, Prepare: p2}
		for _, p := range []chronicle.Position{a, b} {
			s := p.String()
			if wantSlash := p.Commit != p.Prepare; strings.Contains(s, "/") != wantSlash {
				t.Fatalf("%#v.String() = %q", p, s)
			}
			q, err := chronicle.ParsePosition(s)
			if err != nil {
				t.Fatalf("ParsePosition(%q): %v", s, err)
			}
			if q != p {
				t.Fatalf("ParsePosition(%#v.String() = %q) = %#v", p, s, q)
			}
			txt, err := p.MarshalText()
			if err != nil {
				t.Fatal(err)
			}
			var r chronicle.Position
			if err := r.UnmarshalText(txt); err != nil || r != p {
				t.Fatalf("UnmarshalText(%q) = %#v, %v, want %#v", txt, r, err, p)
			}
		}

		want := 0
		switch {
		case c1 < c2 || c1 == c2 && p1 < p2:
			want = -1
		case c1 > c2 || c1 == c2 && p1 > p2:
			want = 1
		}
		if got := a.Compare(b); got != want {
			t.Fatalf("%v.Compare(%v) = %d, want %d", a, b, got, want)
		}
		if got := b.Compare(a); got != -want {
			t.Fatalf("%v.Compare(%v) = %d, want %d", b, a, got, -want)
		}
		if a.Before(b) != (want < 0) || b.Before(a) != (want > 0) {
			t.Fatalf("Before disagrees with Compare for %v, %v", a, b)
		}
		if (want == 0) != (a == b) {
			t.Fatalf("Compare(%v, %v) = 0 but the positions differ, or vice versa", a, b)
		}
	})
}
