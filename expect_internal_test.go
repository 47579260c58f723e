package chronicle

import (
	"errors"
	"testing"
)

// An Expectation of a kind outside the exported constructors is rejected.
func TestExpectationValidateUnknownKind(t *testing.T) {
	for _, k := range []expectKind{expectExact + 1, 255} {
		err := Expectation{kind: k}.Validate()
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Expectation{kind: %d}.Validate() = %v, want ErrInvalid", k, err)
		}
	}
}
