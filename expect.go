package chronicle

import "strconv"

// Expectation is what an append expects of its stream's version before it
// writes: [Any], [NoStream], [StreamExists] or [Exactly] n. The zero value
// is [Any]. A mismatch fails the append with a [*ConflictError] and writes
// nothing.
type Expectation struct {
	kind    expectKind
	version int64
}

type expectKind uint8

const (
	expectAny expectKind = iota
	expectNoStream
	expectExists
	expectExact
)

// Expectations that need no version.
var (
	// Any accepts every stream version (the default).
	Any = Expectation{kind: expectAny}
	// NoStream requires the stream to be empty (version 0).
	NoStream = Expectation{kind: expectNoStream}
	// StreamExists requires the stream to hold at least one event.
	StreamExists = Expectation{kind: expectExists}
)

// Exactly requires the stream to be at version n (0 is the same as
// [NoStream]). A negative n is rejected with [ErrInvalid].
func Exactly(n int64) Expectation { return Expectation{kind: expectExact, version: n} }

// Version returns the version an [Exactly] expectation names, and whether e
// is one.
func (e Expectation) Version() (int64, bool) { return e.version, e.kind == expectExact }

// String describes e, e.g. "version 3" or "no stream".
func (e Expectation) String() string {
	switch e.kind {
	case expectNoStream:
		return "no stream"
	case expectExists:
		return "stream exists"
	case expectExact:
		return "version " + strconv.FormatInt(e.version, 10)
	}
	return "any version"
}

// Validate reports an expectation that can never hold, such as a negative
// exact version.
func (e Expectation) Validate() error {
	if e.kind > expectExact {
		return invalid("expectation", "unknown kind %d", e.kind)
	}
	if e.kind == expectExact && e.version < 0 {
		return invalid("expectation", "negative expected version %d", e.version)
	}
	return nil
}

// Check returns a [*ConflictError] when a stream at version actual does not
// meet e, and nil when it does. Backends call it inside their write
// transaction.
func (e Expectation) Check(stream string, actual int64) error {
	ok := true
	switch e.kind {
	case expectNoStream:
		ok = actual == 0
	case expectExists:
		ok = actual > 0
	case expectExact:
		ok = actual == e.version
	}
	if ok {
		return nil
	}
	return &ConflictError{Stream: stream, Expected: e, Actual: actual}
}
