package chronicle_test

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle"
)

// manyValues returns n distinct stream names as filter values.
func manyValues(n int) []any {
	vs := make([]any, n)
	for i := range vs {
		vs[i] = fmt.Sprintf("s-%d", i)
	}
	return vs
}

func manyStrings(n int) []string {
	ss := make([]string, n)
	for i := range ss {
		ss[i] = fmt.Sprintf("s-%d", i)
	}
	return ss
}

func segments(n int) string {
	segs := make([]string, n)
	for i := range segs {
		segs[i] = fmt.Sprintf("s%d", i)
	}
	return strings.Join(segs, ".")
}

func TestFilterValidateValid(t *testing.T) {
	tests := []struct {
		name string
		f    chronicle.Filter
	}{
		{"nil filter", nil},
		{"empty filter", chronicle.Filter{}},
		{"StreamIs", chronicle.Filter{chronicle.StreamIs("orders-1")}},
		{"StreamIs unicode", chronicle.Filter{chronicle.StreamIs("订单-ü-🚀")}},
		{"StreamIn one", chronicle.Filter{chronicle.StreamIn("a")}},
		{"StreamIn many", chronicle.Filter{chronicle.StreamIn("a", "b", "c")}},
		{"StreamIn MaxFilterValues", chronicle.Filter{chronicle.StreamIn(manyStrings(chronicle.MaxFilterValues)...)}},
		{"StreamPrefix", chronicle.Filter{chronicle.StreamPrefix("orders-")}},
		{"TypeIs", chronicle.Filter{chronicle.TypeIs("OrderPlaced")}},
		{"TypeIn", chronicle.Filter{chronicle.TypeIn("OrderPlaced", "OrderShipped")}},
		{"TypeIn MaxFilterValues", chronicle.Filter{chronicle.TypeIn(manyStrings(chronicle.MaxFilterValues)...)}},
		{"MetadataIs string", chronicle.Filter{chronicle.MetadataIs("tenant.id", "t1")}},
		{"MetadataIs empty string", chronicle.Filter{chronicle.MetadataIs("tenant", "")}},
		{"MetadataIs bool", chronicle.Filter{chronicle.MetadataIs("flag", true)}},
		{"MetadataIs int", chronicle.Filter{chronicle.MetadataIs("n", -5)}},
		{"MetadataIs int8", chronicle.Filter{chronicle.MetadataIs("n", int8(math.MinInt8))}},
		{"MetadataIs int16", chronicle.Filter{chronicle.MetadataIs("n", int16(math.MaxInt16))}},
		{"MetadataIs int32", chronicle.Filter{chronicle.MetadataIs("n", int32(math.MinInt32))}},
		{"MetadataIs int64", chronicle.Filter{chronicle.MetadataIs("n", int64(math.MinInt64))}},
		{"MetadataIs uint8", chronicle.Filter{chronicle.MetadataIs("n", uint8(255))}},
		{"MetadataIs uint16", chronicle.Filter{chronicle.MetadataIs("n", uint16(65535))}},
		{"MetadataIs uint32", chronicle.Filter{chronicle.MetadataIs("n", uint32(math.MaxUint32))}},
		{"MetadataIs uint MaxInt64", chronicle.Filter{chronicle.MetadataIs("n", uint(math.MaxInt64))}},
		{"MetadataIs uint64 MaxInt64", chronicle.Filter{chronicle.MetadataIs("n", uint64(math.MaxInt64))}},
		{"MetadataIs float32", chronicle.Filter{chronicle.MetadataIs("x", float32(1.5))}},
		{"MetadataIs float64", chronicle.Filter{chronicle.MetadataIs("x", -2.25)}},
		{"MetadataIs float64 max", chronicle.Filter{chronicle.MetadataIs("x", math.MaxFloat64)}},
		{"MetadataIs negative zero", chronicle.Filter{chronicle.MetadataIs("x", math.Copysign(0, -1))}},
		{"MetadataIn mixed kinds", chronicle.Filter{chronicle.MetadataIn("a.b", "x", 1, true, 2.5)}},
		{"MetadataIn MaxFilterValues", chronicle.Filter{chronicle.MetadataIn("a", manyValues(chronicle.MaxFilterValues)...)}},
		{"metadata path with every allowed character", chronicle.Filter{chronicle.MetadataIs("AZaz09_-.x", "v")}},
		{"metadata path of 16 segments", chronicle.Filter{chronicle.MetadataIs(segments(chronicle.MaxMetadataPathDepth), "v")}},
		{"metadata path segment of 64 bytes", chronicle.Filter{chronicle.MetadataIs(strings.Repeat("a", 64), "v")}},
		{"stream value of 256 bytes", chronicle.Filter{chronicle.StreamIs(strings.Repeat("s", 256))}},
		{"several conditions", chronicle.Filter{
			chronicle.StreamPrefix("orders-"),
			chronicle.TypeIn("A", "B"),
			chronicle.MetadataIs("tenant.id", "t1"),
			chronicle.MetadataIn("region", "eu", "us"),
		}},
		{"hand-built condition", chronicle.Filter{{Field: chronicle.FieldStream, Op: chronicle.OpIn, Values: []any{"a", "b"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.f.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestFilterValidateInvalid(t *testing.T) {
	type C = chronicle.Condition
	const (
		fs = chronicle.FieldStream
		ft = chronicle.FieldType
		fm = chronicle.FieldMetadata
	)
	tests := []struct {
		name   string
		f      chronicle.Filter
		index  int    // the index of the bad condition
		reason string // a substring of the reason
	}{
		// Empty and oversized value sets.
		{"StreamIn empty", chronicle.Filter{chronicle.StreamIn()}, 0, "empty value set"},
		{"TypeIn empty", chronicle.Filter{chronicle.TypeIn()}, 0, "empty value set"},
		{"MetadataIn empty", chronicle.Filter{chronicle.MetadataIn("a")}, 0, "empty value set"},
		{"StreamIn non-nil empty", chronicle.Filter{C{Field: fs, Op: chronicle.OpIn, Values: []any{}}}, 0, "empty value set"},
		{"StreamIn too many", chronicle.Filter{chronicle.StreamIn(manyStrings(chronicle.MaxFilterValues + 1)...)}, 0, "more than"},
		{"TypeIn too many", chronicle.Filter{chronicle.TypeIn(manyStrings(chronicle.MaxFilterValues + 1)...)}, 0, "more than"},
		{"MetadataIn too many", chronicle.Filter{chronicle.MetadataIn("a", manyValues(chronicle.MaxFilterValues+1)...)}, 0, "more than"},
		{"equals without a value", chronicle.Filter{C{Field: fs, Op: chronicle.OpEquals}}, 0, "exactly one value"},
		{"equals with two values", chronicle.Filter{C{Field: fs, Op: chronicle.OpEquals, Values: []any{"a", "b"}}}, 0, "exactly one value"},
		{"prefix with two values", chronicle.Filter{C{Field: fs, Op: chronicle.OpPrefix, Values: []any{"a", "b"}}}, 0, "exactly one value"},

		// Wrong value types or bad names.
		{"stream value int", chronicle.Filter{C{Field: fs, Op: chronicle.OpEquals, Values: []any{1}}}, 0, "not a string"},
		{"stream value nil", chronicle.Filter{C{Field: fs, Op: chronicle.OpEquals, Values: []any{nil}}}, 0, "not a string"},
		{"stream value []byte", chronicle.Filter{C{Field: fs, Op: chronicle.OpEquals, Values: []any{[]byte("a")}}}, 0, "not a string"},
		{"stream In with one int", chronicle.Filter{C{Field: fs, Op: chronicle.OpIn, Values: []any{"a", 2}}}, 0, "not a string"},
		{"type value bool", chronicle.Filter{C{Field: ft, Op: chronicle.OpEquals, Values: []any{true}}}, 0, "not a string"},
		{"stream value empty", chronicle.Filter{chronicle.StreamIs("")}, 0, "empty"},
		{"stream prefix empty", chronicle.Filter{chronicle.StreamPrefix("")}, 0, "empty"},
		{"stream value 257 bytes", chronicle.Filter{chronicle.StreamIs(strings.Repeat("s", 257))}, 0, "longer than"},
		{"stream value control char", chronicle.Filter{chronicle.StreamIn("ok", "a\nb")}, 0, "control character"},
		{"type value invalid UTF-8", chronicle.Filter{chronicle.TypeIs("\xff")}, 0, "UTF-8"},
		{"type value empty", chronicle.Filter{chronicle.TypeIn("A", "")}, 0, "empty"},
		{"metadata value nil", chronicle.Filter{chronicle.MetadataIs("a", nil)}, 0, "unsupported type"},
		{"metadata value slice", chronicle.Filter{chronicle.MetadataIs("a", []int{1})}, 0, "unsupported type"},
		{"metadata value []any", chronicle.Filter{chronicle.MetadataIs("a", []any{"x"})}, 0, "unsupported type"},
		{"metadata value map", chronicle.Filter{chronicle.MetadataIs("a", map[string]any{"b": 1})}, 0, "unsupported type"},
		{"metadata value struct", chronicle.Filter{chronicle.MetadataIs("a", struct{}{})}, 0, "unsupported type"},
		{"metadata value pointer", chronicle.Filter{chronicle.MetadataIs("a", new(int))}, 0, "unsupported type"},
		{"metadata value uintptr", chronicle.Filter{chronicle.MetadataIs("a", uintptr(1))}, 0, "unsupported type"},
		{"metadata value complex", chronicle.Filter{chronicle.MetadataIs("a", complex(1, 2))}, 0, "unsupported type"},
		{"metadata In with one bad value", chronicle.Filter{chronicle.MetadataIn("a", "x", 1, []byte("y"))}, 0, "unsupported type"},
		{"metadata NaN", chronicle.Filter{chronicle.MetadataIs("a", math.NaN())}, 0, "not a finite number"},
		{"metadata +Inf", chronicle.Filter{chronicle.MetadataIs("a", math.Inf(1))}, 0, "not a finite number"},
		{"metadata -Inf", chronicle.Filter{chronicle.MetadataIs("a", math.Inf(-1))}, 0, "not a finite number"},
		{"metadata float32 NaN", chronicle.Filter{chronicle.MetadataIs("a", float32(math.NaN()))}, 0, "not a finite number"},
		{"metadata float32 +Inf", chronicle.Filter{chronicle.MetadataIs("a", float32(math.Inf(1)))}, 0, "not a finite number"},
		{"metadata In with NaN", chronicle.Filter{chronicle.MetadataIn("a", 1.0, math.NaN())}, 0, "not a finite number"},
		{"metadata uint64 MaxInt64+1", chronicle.Filter{chronicle.MetadataIs("a", uint64(math.MaxInt64)+1)}, 0, "out of range"},
		{"metadata uint64 MaxUint64", chronicle.Filter{chronicle.MetadataIs("a", uint64(math.MaxUint64))}, 0, "out of range"},
		{"metadata uint MaxInt64+1", chronicle.Filter{chronicle.MetadataIs("a", uint(math.MaxInt64)+1)}, 0, "out of range"},

		// Prefix on fields other than streams.
		{"prefix on type", chronicle.Filter{C{Field: ft, Op: chronicle.OpPrefix, Values: []any{"Order"}}}, 0, "streams only"},
		{"prefix on metadata", chronicle.Filter{C{Field: fm, Op: chronicle.OpPrefix, Path: "a", Values: []any{"x"}}}, 0, "streams only"},

		// Unknown fields and operators.
		{"zero field", chronicle.Filter{C{Op: chronicle.OpEquals, Values: []any{"x"}}}, 0, "unknown field"},
		{"field 4", chronicle.Filter{C{Field: 4, Op: chronicle.OpEquals, Values: []any{"x"}}}, 0, "unknown field Field(4)"},
		{"field 255", chronicle.Filter{C{Field: 255, Op: chronicle.OpIn, Values: []any{"x"}}}, 0, "unknown field"},
		{"zero op", chronicle.Filter{C{Field: fs, Values: []any{"x"}}}, 0, "unknown operator"},
		{"op 4", chronicle.Filter{C{Field: fs, Op: 4, Values: []any{"x"}}}, 0, "unknown operator Op(4)"},
		{"op 255", chronicle.Filter{C{Field: fm, Op: 255, Path: "a", Values: []any{"x"}}}, 0, "unknown operator"},
		{"zero condition", chronicle.Filter{C{}}, 0, "unknown"},

		// Paths.
		{"path on stream", chronicle.Filter{C{Field: fs, Op: chronicle.OpEquals, Path: "a", Values: []any{"x"}}}, 0, "takes no path"},
		{"path on type", chronicle.Filter{C{Field: ft, Op: chronicle.OpIn, Path: "a", Values: []any{"x"}}}, 0, "takes no path"},
		{"metadata empty path", chronicle.Filter{chronicle.MetadataIs("", "x")}, 0, "empty metadata path"},
		{"metadata path a..b", chronicle.Filter{chronicle.MetadataIs("a..b", "x")}, 0, "empty or overlong"},
		{"metadata path .a", chronicle.Filter{chronicle.MetadataIs(".a", "x")}, 0, "empty or overlong"},
		{"metadata path a.", chronicle.Filter{chronicle.MetadataIs("a.", "x")}, 0, "empty or overlong"},
		{"metadata path .", chronicle.Filter{chronicle.MetadataIs(".", "x")}, 0, "empty or overlong"},
		{"metadata path with space", chronicle.Filter{chronicle.MetadataIs("a b", "x")}, 0, "character"},
		{"metadata path with quote", chronicle.Filter{chronicle.MetadataIs("a\"b", "x")}, 0, "character"},
		{"metadata path with $", chronicle.Filter{chronicle.MetadataIs("$.a", "x")}, 0, "character"},
		{"metadata path with brackets", chronicle.Filter{chronicle.MetadataIs("a[0]", "x")}, 0, "character"},
		{"metadata path with non-ASCII", chronicle.Filter{chronicle.MetadataIs("ü", "x")}, 0, "character"},
		{"metadata path of 17 segments", chronicle.Filter{chronicle.MetadataIs(segments(chronicle.MaxMetadataPathDepth+1), "x")}, 0, "deeper than"},
		{"metadata path segment of 65 bytes", chronicle.Filter{chronicle.MetadataIs("a."+strings.Repeat("b", 65), "x")}, 0, "empty or overlong"},

		// The index of the first bad condition is reported.
		{"second condition bad", chronicle.Filter{chronicle.StreamIs("ok"), chronicle.TypeIn()}, 1, "empty value set"},
		{"third condition bad", chronicle.Filter{chronicle.StreamIs("ok"), chronicle.TypeIs("T"), chronicle.MetadataIs("a..b", 1)}, 2, "metadata path"},
		{"first of two bad", chronicle.Filter{chronicle.StreamIs(""), chronicle.TypeIn()}, 0, "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want an error")
			}
			checkInvalid(t, err, fmt.Sprintf("filter[%d]", tc.index))
			var ve *chronicle.ValidationError
			if errors.As(err, &ve) && !strings.Contains(ve.Reason, tc.reason) {
				t.Errorf("Reason = %q, want it to contain %q", ve.Reason, tc.reason)
			}
		})
	}
}

func TestFieldAndOpString(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{chronicle.FieldStream.String(), "stream"},
		{chronicle.FieldType.String(), "type"},
		{chronicle.FieldMetadata.String(), "metadata"},
		{chronicle.Field(0).String(), "Field(0)"},
		{chronicle.Field(200).String(), "Field(200)"},
		{chronicle.OpEquals.String(), "equals"},
		{chronicle.OpIn.String(), "in"},
		{chronicle.OpPrefix.String(), "prefix"},
		{chronicle.Op(0).String(), "Op(0)"},
		{chronicle.Op(9).String(), "Op(9)"},
	} {
		if tc.got != tc.want {
			t.Errorf("String() = %q, want %q", tc.got, tc.want)
		}
	}
}

func TestConstructors(t *testing.T) {
	tests := []struct {
		got, want chronicle.Condition
	}{
		{chronicle.StreamIs("s"), chronicle.Condition{Field: chronicle.FieldStream, Op: chronicle.OpEquals, Values: []any{"s"}}},
		{chronicle.StreamIn("a", "b"), chronicle.Condition{Field: chronicle.FieldStream, Op: chronicle.OpIn, Values: []any{"a", "b"}}},
		{chronicle.StreamPrefix("p-"), chronicle.Condition{Field: chronicle.FieldStream, Op: chronicle.OpPrefix, Values: []any{"p-"}}},
		{chronicle.TypeIs("T"), chronicle.Condition{Field: chronicle.FieldType, Op: chronicle.OpEquals, Values: []any{"T"}}},
		{chronicle.TypeIn("T", "U"), chronicle.Condition{Field: chronicle.FieldType, Op: chronicle.OpIn, Values: []any{"T", "U"}}},
		{chronicle.MetadataIs("a.b", 1), chronicle.Condition{Field: chronicle.FieldMetadata, Op: chronicle.OpEquals, Path: "a.b", Values: []any{1}}},
		{chronicle.MetadataIn("a", "x", true), chronicle.Condition{Field: chronicle.FieldMetadata, Op: chronicle.OpIn, Path: "a", Values: []any{"x", true}}},
	}
	for _, tc := range tests {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("constructor gave %#v, want %#v", tc.got, tc.want)
		}
	}
}

func TestParseMetadataPath(t *testing.T) {
	valid := []struct {
		in   string
		want []string
	}{
		{"a", []string{"a"}},
		{"tenant.id", []string{"tenant", "id"}},
		{"A_b-9.x", []string{"A_b-9", "x"}},
		{"_", []string{"_"}},
		{"-", []string{"-"}},
		{"0.1.2", []string{"0", "1", "2"}},
		{strings.Repeat("z", 64), []string{strings.Repeat("z", 64)}},
		{segments(16), strings.Split(segments(16), ".")},
	}
	for _, tc := range valid {
		got, err := chronicle.ParseMetadataPath(tc.in)
		if err != nil {
			t.Errorf("ParseMetadataPath(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseMetadataPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}

	invalid := []string{
		"",
		".",
		"..",
		"a..b",
		".a",
		"a.",
		"a b",
		" a",
		"a\"b",
		"a'b",
		"a\\b",
		"a/b",
		"a[0]",
		"$.a",
		"a\x00",
		"a\n",
		"ü",
		"\xff",
		segments(17),
		strings.Repeat("a", 65),
		"ok." + strings.Repeat("a", 65),
	}
	for _, in := range invalid {
		got, err := chronicle.ParseMetadataPath(in)
		if err == nil {
			t.Errorf("ParseMetadataPath(%q) = %q, want an error", in, got)
			continue
		}
		if got != nil {
			t.Errorf("ParseMetadataPath(%q) returned %q with its error", in, got)
		}
	}
}

func TestNormalizeMetadataValue(t *testing.T) {
	tests := []struct {
		in, want any
	}{
		{int(-5), int64(-5)},
		{int8(math.MinInt8), int64(math.MinInt8)},
		{int16(math.MaxInt16), int64(math.MaxInt16)},
		{int32(math.MinInt32), int64(math.MinInt32)},
		{int64(math.MaxInt64), int64(math.MaxInt64)},
		{int64(math.MinInt64), int64(math.MinInt64)},
		{uint8(255), int64(255)},
		{uint16(65535), int64(65535)},
		{uint32(math.MaxUint32), int64(math.MaxUint32)},
		{uint(math.MaxInt64), int64(math.MaxInt64)},
		{uint64(math.MaxInt64), int64(math.MaxInt64)},
		{uint64(0), int64(0)},
		{float32(1.5), float64(1.5)},
		{float32(-0.25), float64(-0.25)},
		{float64(2.5), float64(2.5)},
		{"s", "s"},
		{"", ""},
		{true, true},
		{false, false},
	}
	for _, tc := range tests {
		got := chronicle.NormalizeMetadataValue(tc.in)
		if got != tc.want { // compares dynamic type and value
			t.Errorf("NormalizeMetadataValue(%T(%v)) = %T(%v), want %T(%v)", tc.in, tc.in, got, got, tc.want, tc.want)
		}
	}

	// Every value Validate accepts normalizes to string, bool, int64 or float64.
	for _, v := range []any{1, int8(1), int16(1), int32(1), int64(1), uint8(1), uint16(1), uint32(1), uint(1), uint64(1), float32(1), 1.0, "x", true} {
		if err := (chronicle.Filter{chronicle.MetadataIs("a", v)}).Validate(); err != nil {
			t.Fatalf("MetadataIs(%T) rejected: %v", v, err)
		}
		switch chronicle.NormalizeMetadataValue(v).(type) {
		case string, bool, int64, float64:
		default:
			t.Errorf("NormalizeMetadataValue(%T) = %T", v, chronicle.NormalizeMetadataValue(v))
		}
	}
}

var metadataSegment = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func FuzzFilterValidate(f *testing.F) {
	f.Add(byte(chronicle.FieldMetadata), byte(chronicle.OpEquals), "tenant.id", "t1", int64(0), true)
	f.Add(byte(chronicle.FieldStream), byte(chronicle.OpPrefix), "", "orders-", int64(0), true)
	f.Add(byte(chronicle.FieldMetadata), byte(chronicle.OpIn), "a..b", "x", int64(-1), false)
	f.Fuzz(func(t *testing.T, fieldB, opB byte, path, s string, n int64, useString bool) {
		c := chronicle.Condition{
			Field: chronicle.Field(fieldB % 5), // 0 and 4 are unknown
			Op:    chronicle.Op(opB % 5),       // 0 and 4 are unknown
			Path:  path,
		}
		var v any = n
		if useString {
			v = s
		}
		c.Values = []any{v}
		if c.Op == chronicle.OpIn && fieldB&0x80 != 0 {
			// Sometimes list both values, so In sees mixed kinds.
			c.Values = []any{s, n}
		}

		err := chronicle.Filter{c}.Validate()
		if err != nil {
			checkInvalid(t, err, "filter[0]")
			return
		}

		// Accepted: the field and operator are known.
		switch c.Field {
		case chronicle.FieldStream, chronicle.FieldType:
			if c.Path != "" {
				t.Fatalf("accepted %v with path %q", c.Field, c.Path)
			}
			if c.Op == chronicle.OpPrefix && c.Field != chronicle.FieldStream {
				t.Fatalf("accepted prefix on %v", c.Field)
			}
			for _, v := range c.Values {
				str, ok := v.(string)
				if !ok {
					t.Fatalf("accepted non-string %T for %v", v, c.Field)
				}
				check := chronicle.ValidateEventType // the rules of every name
				if c.Field == chronicle.FieldStream && c.Op != chronicle.OpPrefix {
					check = chronicle.ValidateStreamName // and no reserved '@' name
				}
				if err := check(str); err != nil {
					t.Fatalf("accepted %v value %q that is not a valid name: %v", c.Field, str, err)
				}
			}
		case chronicle.FieldMetadata:
			if c.Op == chronicle.OpPrefix {
				t.Fatal("accepted prefix on metadata")
			}
			segs, err := chronicle.ParseMetadataPath(c.Path)
			if err != nil {
				t.Fatalf("Validate accepted path %q that ParseMetadataPath rejects: %v", c.Path, err)
			}
			if len(segs) < 1 || len(segs) > chronicle.MaxMetadataPathDepth {
				t.Fatalf("path %q has %d segments", c.Path, len(segs))
			}
			for _, seg := range segs {
				if !metadataSegment.MatchString(seg) {
					t.Fatalf("path %q has bad segment %q", c.Path, seg)
				}
			}
			if j := strings.Join(segs, "."); j != c.Path {
				t.Fatalf("segments of %q join to %q", c.Path, j)
			}
			for _, v := range c.Values {
				switch chronicle.NormalizeMetadataValue(v).(type) {
				case string, int64:
				default:
					t.Fatalf("NormalizeMetadataValue(%T) = %T", v, chronicle.NormalizeMetadataValue(v))
				}
			}
		default:
			t.Fatalf("accepted unknown field %v", c.Field)
		}
		switch c.Op {
		case chronicle.OpEquals, chronicle.OpPrefix, chronicle.OpIn:
		default:
			t.Fatalf("accepted unknown operator %v", c.Op)
		}
	})
}
