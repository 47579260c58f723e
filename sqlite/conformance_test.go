package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
	"github.com/chronicle-go/chronicle/storetest"
)

// opener returns a storetest open function for a file store (file true) or
// an in-memory store with opts.
func opener(file bool, opts *sqlite.Options) func(t *testing.T) *chronicle.Store {
	return func(t *testing.T) *chronicle.Store {
		path := ""
		if file {
			path = filepath.Join(t.TempDir(), "events.db")
		}
		s, err := sqlite.Open(t.Context(), path, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
}

func TestConformanceFile(t *testing.T) { storetest.Run(t, opener(true, nil)) }

func TestConformanceMemory(t *testing.T) { storetest.Run(t, opener(false, nil)) }

// TestConformanceSmallPages runs the suite with pages of 3 events and one
// read connection, so every read crosses page boundaries and every reader
// waits for the pool.
func TestConformanceSmallPages(t *testing.T) {
	storetest.Run(t, opener(true, &sqlite.Options{PageSize: 3, ReadConns: 1}))
}

// TestReopenInvariants checks the whole store again after closing and
// reopening its file.
func TestReopenInvariants(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := openT(t, path, nil)
	appendN(t, s, "a", 700)
	appendN(t, s, "b", 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	storetest.CheckInvariants(t, openT(t, path, nil))
}
