package chronicle

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Match reports whether ev passes f, evaluated in Go with the semantics the
// backends implement in their queries: strings equal strings, booleans
// equal booleans, numbers equal integers and floats numerically. It assumes
// f is valid (see [Filter.Validate]); an invalid condition matches nothing.
func (f Filter) Match(ev *Event) bool {
	if len(f) == 0 {
		return true
	}
	return newMatcher(f.normalized()).match(ev)
}

// matcher applies a validated filter to events.
type matcher struct {
	f     Filter
	paths [][]string // parsed metadata paths, by condition
}

func newMatcher(f Filter) *matcher {
	m := &matcher{f: f, paths: make([][]string, len(f))}
	for i, c := range f {
		if c.Field == FieldMetadata {
			m.paths[i], _ = ParseMetadataPath(c.Path) // validated by the Store
		}
	}
	return m
}

func (m *matcher) match(ev *Event) bool {
	var meta any
	parsed := false
	for i, c := range m.f {
		switch c.Field {
		case FieldStream:
			if !matchString(c, ev.Stream) {
				return false
			}
		case FieldType:
			if !matchString(c, ev.Type) {
				return false
			}
		case FieldMetadata:
			if !parsed {
				meta, parsed = decode(ev.Metadata), true
			}
			v, ok := lookup(meta, m.paths[i])
			if !ok || !matchJSON(c.Values, v) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func matchString(c Condition, s string) bool {
	if c.Op == OpPrefix {
		p, _ := c.Values[0].(string)
		return strings.HasPrefix(s, p)
	}
	for _, v := range c.Values {
		if w, ok := v.(string); ok && w == s {
			return true
		}
	}
	return false
}

// decode parses metadata, keeping numbers as json.Number; nil when absent.
func decode(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil
	}
	return v
}

// lookup follows path through nested JSON objects.
func lookup(v any, path []string) (any, bool) {
	for _, seg := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[seg]; !ok {
			return nil, false
		}
	}
	return v, true
}

// matchJSON reports whether the JSON value j equals one of the filter
// values: strings with strings, booleans with booleans, numbers with
// integers and floats, numerically.
func matchJSON(values []any, j any) bool {
	for _, v := range values {
		switch w := NormalizeMetadataValue(v).(type) {
		case string:
			if s, ok := j.(string); ok && s == w {
				return true
			}
		case bool:
			if b, ok := j.(bool); ok && b == w {
				return true
			}
		case int64:
			n, ok := j.(json.Number)
			if !ok {
				continue
			}
			if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
				if i == w {
					return true
				}
			} else if f, err := n.Float64(); err == nil && f == float64(w) {
				return true
			}
		case float64:
			if n, ok := j.(json.Number); ok {
				if f, err := n.Float64(); err == nil && f == w {
					return true
				}
			}
		}
	}
	return false
}
