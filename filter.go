package chronicle

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// Field is what a [Condition] looks at.
type Field uint8

// The fields a filter can match.
const (
	FieldStream   Field = iota + 1 // the event's stream name
	FieldType                      // the event's type
	FieldMetadata                  // a value inside the event's metadata, at Condition.Path
)

// String returns the field's name: "stream", "type" or "metadata".
func (f Field) String() string {
	switch f {
	case FieldStream:
		return "stream"
	case FieldType:
		return "type"
	case FieldMetadata:
		return "metadata"
	}
	return fmt.Sprintf("Field(%d)", uint8(f))
}

// Op is how a [Condition] compares.
type Op uint8

// The comparisons a filter can make.
const (
	OpEquals Op = iota + 1 // the field equals Values[0]
	OpIn                   // the field equals one of Values
	OpPrefix               // the field starts with Values[0] (streams only)
)

// String returns the operator's name: "equals", "in" or "prefix".
func (o Op) String() string {
	switch o {
	case OpEquals:
		return "equals"
	case OpIn:
		return "in"
	case OpPrefix:
		return "prefix"
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Limits on filters, so that a filter always becomes a bounded query.
const (
	// MaxFilterValues is the largest number of values one condition may list.
	MaxFilterValues = 1000
	// MaxFilterTotalValues is the largest number of values a whole filter
	// may list.
	MaxFilterTotalValues = 4096
	// MaxFilterConditions is the largest number of conditions in a filter.
	MaxFilterConditions = 32
	// MaxMetadataPathDepth is the largest number of segments in a metadata path.
	MaxMetadataPathDepth = 16
)

// Condition is one test of a [Filter], as plain data. Build one with
// [StreamIs], [StreamIn], [StreamPrefix], [TypeIs], [TypeIn], [MetadataIs] or
// [MetadataIn], or fill the fields directly and let the store validate them.
type Condition struct {
	Field Field
	Op    Op
	// Path is the dotted path inside the metadata object for
	// [FieldMetadata], e.g. "tenant.id". Each segment is 1 to 64 of
	// A–Z, a–z, 0–9, '_' and '-'. It must be empty for other fields.
	Path string
	// Values are compared with the field. Stream and type values are
	// non-empty strings; metadata values are strings, booleans, integers or
	// floats, and match JSON values of the same kind.
	Values []any
}

// Filter selects events: an event passes when it meets every condition
// (AND). An empty filter passes every event. Filters run inside the
// database; values are always bound as query parameters.
type Filter []Condition

// StreamIs matches events of the stream name.
func StreamIs(name string) Condition {
	return Condition{Field: FieldStream, Op: OpEquals, Values: []any{name}}
}

// StreamIn matches events of any of the streams names.
func StreamIn(names ...string) Condition {
	return Condition{Field: FieldStream, Op: OpIn, Values: strs(names)}
}

// StreamPrefix matches events of streams whose names start with prefix.
func StreamPrefix(prefix string) Condition {
	return Condition{Field: FieldStream, Op: OpPrefix, Values: []any{prefix}}
}

// TypeIs matches events of type t.
func TypeIs(t string) Condition {
	return Condition{Field: FieldType, Op: OpEquals, Values: []any{t}}
}

// TypeIn matches events of any of the types.
func TypeIn(types ...string) Condition {
	return Condition{Field: FieldType, Op: OpIn, Values: strs(types)}
}

// MetadataIs matches events whose metadata holds v at the dotted path.
func MetadataIs(path string, v any) Condition {
	return Condition{Field: FieldMetadata, Op: OpEquals, Path: path, Values: []any{v}}
}

// MetadataIn matches events whose metadata holds one of values at the
// dotted path.
func MetadataIn(path string, values ...any) Condition {
	return Condition{Field: FieldMetadata, Op: OpIn, Path: path, Values: values}
}

func strs(s []string) []any {
	if s == nil {
		return nil
	}
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// Validate reports the first malformed condition: an unknown field or
// operator, an empty value set, a value of the wrong kind, or a bad path;
// or a filter beyond [MaxFilterConditions] or [MaxFilterTotalValues].
// Errors match [ErrInvalid]. Stores validate every filter before querying.
func (f Filter) Validate() error {
	if len(f) > MaxFilterConditions {
		return invalid("filter", "%d conditions, more than %d", len(f), MaxFilterConditions)
	}
	total := 0
	for _, c := range f {
		total += len(c.Values)
	}
	if total > MaxFilterTotalValues {
		return invalid("filter", "%d values in all, more than %d", total, MaxFilterTotalValues)
	}
	for i, c := range f {
		if err := c.validate(); err != nil {
			return invalid(fmt.Sprintf("filter[%d]", i), "%v", err)
		}
	}
	return nil
}

func (c Condition) validate() error {
	switch c.Op {
	case OpEquals, OpPrefix:
		if len(c.Values) != 1 {
			return fmt.Errorf("%s %s needs exactly one value, got %d", c.Field, c.Op, len(c.Values))
		}
	case OpIn:
		if len(c.Values) == 0 {
			return fmt.Errorf("%s in: empty value set", c.Field)
		}
		if len(c.Values) > MaxFilterValues {
			return fmt.Errorf("%s in: %d values, more than %d", c.Field, len(c.Values), MaxFilterValues)
		}
	default:
		return fmt.Errorf("unknown operator %s", c.Op)
	}
	switch c.Field {
	case FieldStream, FieldType:
		if c.Path != "" {
			return fmt.Errorf("%s takes no path", c.Field)
		}
		if c.Op == OpPrefix && c.Field != FieldStream {
			return fmt.Errorf("prefix applies to streams only")
		}
		for _, v := range c.Values {
			s, ok := NormalizeMetadataValue(v).(string)
			if !ok {
				return fmt.Errorf("%s value %v (%T) is not a string", c.Field, v, v)
			}
			err := validateName(c.Field.String(), s, MaxStreamNameLen)
			if err == nil && c.Field == FieldStream && c.Op != OpPrefix {
				err = ValidateStreamName(s) // a reserved name is no stream's
			}
			if err != nil {
				return fmt.Errorf("%s value %q: %v", c.Field, s, err.(*ValidationError).Reason)
			}
		}
	case FieldMetadata:
		if c.Op == OpPrefix {
			return fmt.Errorf("prefix applies to streams only")
		}
		if _, err := ParseMetadataPath(c.Path); err != nil {
			return err
		}
		for _, v := range c.Values {
			if err := checkMetadataValue(v); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown field %s", c.Field)
	}
	return nil
}

func checkMetadataValue(v any) error {
	switch x := NormalizeMetadataValue(v).(type) {
	case string, bool, int64:
		return nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("metadata value %v is not a finite number", x)
		}
		return nil
	}
	if k := reflect.ValueOf(v).Kind(); k >= reflect.Uint && k <= reflect.Uint64 {
		return fmt.Errorf("metadata value %v is out of range", v)
	}
	return fmt.Errorf("metadata value %v has unsupported type %T (want string, bool, integer or float)", v, v)
}

// ParseMetadataPath splits a dotted metadata path ("tenant.id") into its
// segments, checking each: 1 to 64 bytes of A–Z, a–z, 0–9, '_' and '-', at
// most [MaxMetadataPathDepth] segments.
func ParseMetadataPath(path string) ([]string, error) {
	if path == "" {
		return nil, fmt.Errorf("empty metadata path")
	}
	segs := strings.Split(path, ".")
	if len(segs) > MaxMetadataPathDepth {
		return nil, fmt.Errorf("metadata path %q is deeper than %d", path, MaxMetadataPathDepth)
	}
	for _, s := range segs {
		if s == "" || len(s) > 64 {
			return nil, fmt.Errorf("metadata path %q has an empty or overlong segment", path)
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return nil, fmt.Errorf("metadata path %q: segment %q has character %q", path, s, c)
			}
		}
	}
	return segs, nil
}

// NormalizeMetadataValue converts a filter value to one of the four kinds
// backends bind: string, bool, int64 or float64. Named types (type TenantID
// string) convert by their underlying kind. Values of other kinds, and
// unsigned integers above math.MaxInt64, are returned unchanged, and
// [Filter.Validate] rejects them.
func NormalizeMetadataValue(v any) any {
	switch v.(type) {
	case string, bool, int64, float64:
		return v
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return rv.String()
	case reflect.Bool:
		return rv.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if u := rv.Uint(); u <= math.MaxInt64 {
			return int64(u)
		}
	case reflect.Float32:
		// Through the shortest decimal form, so float32(0.1) matches 0.1.
		f, _ := strconv.ParseFloat(strconv.FormatFloat(rv.Float(), 'g', -1, 32), 64)
		return f
	case reflect.Float64:
		return rv.Float()
	}
	return v
}

// normalized returns a copy of a validated filter whose values are all
// string, bool, int64 or float64, as backends receive them.
func (f Filter) normalized() Filter {
	if len(f) == 0 {
		return nil
	}
	out := make(Filter, len(f))
	for i, c := range f {
		vals := make([]any, len(c.Values))
		for j, v := range c.Values {
			vals[j] = NormalizeMetadataValue(v)
		}
		c.Values = vals
		out[i] = c
	}
	return out
}
