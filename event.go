package chronicle

import (
	"bytes"
	"encoding/json"
	"math"
	"time"
	"unicode/utf8"
)

// Limits on names. They keep keys small and printable in every backend.
const (
	// MaxStreamNameLen is the longest stream name, in bytes.
	MaxStreamNameLen = 256
	// MaxTypeLen is the longest event type, in bytes.
	MaxTypeLen = 256
	// MaxIDLen is the longest event ID, in bytes.
	MaxIDLen = 256
	// DefaultSnapshotName is the snapshot name used when none is given.
	DefaultSnapshotName = "default"
)

// The range of event times: nanoseconds since 1970 in an int64, which every
// backend stores exactly.
var (
	MinTime = time.Unix(0, math.MinInt64).UTC() // 1677-09-21 00:12:43.145224192
	MaxTime = time.Unix(0, math.MaxInt64).UTC() // 2262-04-11
)

// EventData is an event as a caller writes it.
type EventData struct {
	// ID is an optional idempotency key: an event whose ID a caller already
	// appended to the stream is not written again (see [Store.Append]).
	// When empty, the store assigns a time-ordered UUIDv7.
	ID string
	// Type names what happened, e.g. "OrderPlaced". Required.
	Type string
	// Data is the event's payload; any bytes, often JSON.
	Data []byte
	// Metadata is optional: a JSON object (e.g. {"tenant":{"id":"t1"}}),
	// which filters can match on. Anything else is rejected.
	Metadata json.RawMessage
	// Time is when the event happened. When zero, the store uses the time of
	// the append. It is stored and returned in UTC, to the nanosecond, and
	// must lie between [MinTime] and [MaxTime].
	Time time.Time
}

// Event is an event as the store returns it.
//
// Events are immutable, and so are their bytes. The events that reads
// return are the caller's own; the events that [Store.Watch] and
// [Store.WatchAll] yield may share Data and Metadata with the store's other
// watches (one copy in memory serves them all), so a watch must treat them
// as read-only: keep them as long as needed, but copy them (bytes.Clone)
// before changing them.
type Event struct {
	Stream   string          // the stream it belongs to
	Version  int64           // its place in the stream: 1, 2, 3, … without gaps
	Position Position        // its place in the global stream
	ID       string          // the caller's ID, or the UUIDv7 the store assigned
	Type     string          // as written
	Data     []byte          // as written (nil when written empty)
	Metadata json.RawMessage // as written, or nil
	Time     time.Time       // in UTC
}

// ValidateStreamName reports whether name can name a stream: 1 to
// [MaxStreamNameLen] bytes of valid UTF-8 without control characters, not
// starting with '@'. Names starting with '@' are reserved: "@all" named the
// global stream in the Python original, and here an append, read or watch
// of it fails with [ErrInvalid] instead of using an ordinary stream of that
// name (the global stream is [Store.ReadAll] and [Store.WatchAll]).
func ValidateStreamName(name string) error {
	if err := validateName("stream", name, MaxStreamNameLen); err != nil {
		return err
	}
	if name[0] == '@' {
		return invalid("stream", "%q: names starting with @ are reserved (the global stream of every event is read with ReadAll and followed with WatchAll)", name)
	}
	return nil
}

// ValidateEventType reports whether name can be an event's type: 1 to
// [MaxTypeLen] bytes of valid UTF-8 without control characters.
func ValidateEventType(name string) error {
	return validateName("type", name, MaxTypeLen)
}

func validateName(field, s string, max int) error {
	if s == "" {
		return invalid(field, "empty")
	}
	if len(s) > max {
		return invalid(field, "%d bytes, longer than %d", len(s), max)
	}
	if !utf8.ValidString(s) {
		return invalid(field, "not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) || r == 0x2028 || r == 0x2029 {
			return invalid(field, "control character %U", r)
		}
	}
	return nil
}

// MaxMetadataDepth is the deepest nesting of objects and arrays that event
// metadata may have (databases' JSON functions have limits of their own).
const MaxMetadataDepth = 64

// validateMetadata accepts nothing or a JSON object nested at most
// MaxMetadataDepth deep.
func validateMetadata(field string, m json.RawMessage) error {
	if len(m) == 0 {
		return nil
	}
	t := bytes.TrimLeft(m, " \t\r\n")
	if len(t) == 0 || t[0] != '{' || !json.Valid(m) {
		return invalid(field, "metadata must be a JSON object")
	}
	if jsonDepth(m) > MaxMetadataDepth {
		return invalid(field, "metadata nested deeper than %d", MaxMetadataDepth)
	}
	return nil
}

// jsonDepth returns the deepest nesting of objects and arrays in valid JSON.
func jsonDepth(b []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > deepest {
				deepest = depth
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}
