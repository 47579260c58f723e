package chronicle

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// Position is an event's place in the global stream. Positions totally order
// all events of a store in commit order: an event committed later always has
// a greater position.
//
// A position has two parts, like KurrentDB's commit and prepare positions.
// Backends with a single log (SQLite) use the same number for both; backends
// whose order is a pair (PostgreSQL: transaction, sequence) use both parts.
// Positions compare by Commit, then by Prepare.
//
// The zero Position is before every event: reading the global stream from it
// returns everything. Positions print with [Position.String] and parse back
// with [ParsePosition], so they can be stored as checkpoints.
type Position struct {
	Commit  uint64
	Prepare uint64
}

// At returns the single-log position n, as the SQLite backend assigns it.
func At(n uint64) Position { return Position{Commit: n, Prepare: n} }

// EndPosition returns the greatest position. Passed as the start of
// [Store.WatchAll] it means "the head when the iteration starts": only
// events committed afterwards are delivered. Reading forwards from it
// returns nothing; reading backwards from it returns everything.
func EndPosition() Position { return Position{Commit: math.MaxUint64, Prepare: math.MaxUint64} }

// IsZero reports whether p is the zero position (the start of the store).
func (p Position) IsZero() bool { return p == Position{} }

// Compare returns -1, 0 or +1 when p is before, equal to or after q.
func (p Position) Compare(q Position) int {
	switch {
	case p.Commit < q.Commit:
		return -1
	case p.Commit > q.Commit:
		return 1
	case p.Prepare < q.Prepare:
		return -1
	case p.Prepare > q.Prepare:
		return 1
	}
	return 0
}

// Before reports whether p comes before q.
func (p Position) Before(q Position) bool { return p.Compare(q) < 0 }

// String formats p as "N" when both parts are equal (every SQLite position)
// and as "C/P" otherwise. [ParsePosition] reads both forms.
func (p Position) String() string {
	if p.Commit == p.Prepare {
		return strconv.FormatUint(p.Commit, 10)
	}
	return strconv.FormatUint(p.Commit, 10) + "/" + strconv.FormatUint(p.Prepare, 10)
}

// MarshalText implements [encoding.TextMarshaler] with [Position.String].
func (p Position) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements [encoding.TextUnmarshaler] with [ParsePosition].
func (p *Position) UnmarshalText(b []byte) error {
	q, err := ParsePosition(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

var errPositionSyntax = errors.New("want N or C/P with unsigned decimal integers")

// ParsePosition parses the output of [Position.String]. Errors match
// [ErrInvalid].
func ParsePosition(s string) (Position, error) {
	c, p, pair := strings.Cut(s, "/")
	commit, err := parseUint(c)
	if err != nil {
		return Position{}, invalid("position", "%q: %v", s, err)
	}
	if !pair {
		return Position{Commit: commit, Prepare: commit}, nil
	}
	prepare, err := parseUint(p)
	if err != nil {
		return Position{}, invalid("position", "%q: %v", s, err)
	}
	return Position{Commit: commit, Prepare: prepare}, nil
}

func parseUint(s string) (uint64, error) {
	// strconv accepts "+1" and "0x" forms only with other bases; keep to digits.
	if s == "" || len(s) > 20 {
		return 0, errPositionSyntax
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errPositionSyntax
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errPositionSyntax
	}
	return n, nil
}
