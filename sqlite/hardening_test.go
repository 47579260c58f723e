package sqlite_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
)

// The -wal and -shm files must not be more permissive than the database
// file (Options.FileMode, README: "New files are created with mode 0600").
func TestWALAndSHMFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := openT(t, path, nil)
	if _, err := s.Append(t.Context(), "s", chronicle.Any, chronicle.EventData{Type: "Secret", Data: []byte("card=4111")}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s mode = %v, want 0600", filepath.Base(p), perm)
		}
	}
}

// A file marked as a Chronicle store with a negative user_version must be
// refused with ErrIncompatible, not panic (ms[userVersion:] in checkAndMigrate).
func TestNegativeUserVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	rawExec(t, path, "PRAGMA application_id = 1130918449; PRAGMA user_version = -1;")
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("Open panicked: %v", r)
			}
		}()
		var s *chronicle.Store
		s, err = sqlite.Open(t.Context(), path, nil)
		if err == nil {
			s.Close()
		}
	}()
	if !errors.Is(err, chronicle.ErrIncompatible) {
		t.Fatalf("Open = %v, want ErrIncompatible", err)
	}
}

// Metadata nested deeper than MaxMetadataDepth is refused before it is
// written (Go's JSON parser allows 10,000 levels, SQLite's only 1,000, and a
// row SQLite cannot parse would make every metadata filter that scans it
// fail); metadata at the limit is stored and filters keep working.
func TestDeepMetadataRefused(t *testing.T) {
	s := openT(t, "", nil)
	ctx := t.Context()
	nest := func(n int) json.RawMessage {
		return json.RawMessage(`{"tenant":"acme","x":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`)
	}
	_, err := s.Append(ctx, "a", chronicle.Any, chronicle.EventData{Type: "E", Metadata: nest(1100)})
	if !errors.Is(err, chronicle.ErrInvalid) {
		t.Fatalf("Append with metadata nested 1100 deep: %v, want ErrInvalid", err)
	}
	if _, err := s.Append(ctx, "a", chronicle.Any, chronicle.EventData{Type: "E", Metadata: nest(chronicle.MaxMetadataDepth)}); err != nil {
		t.Fatalf("Append with metadata nested %d deep: %v", chronicle.MaxMetadataDepth, err)
	}
	if _, err := s.Append(ctx, "b", chronicle.Any, chronicle.EventData{Type: "E", Metadata: json.RawMessage(`{"tenant":"acme"}`)}); err != nil {
		t.Fatal(err)
	}
	f := chronicle.Filter{chronicle.MetadataIs("tenant", "acme")}
	n := 0
	for _, err := range s.ReadAll(ctx, chronicle.Position{}, &chronicle.ReadOptions{Filter: f}) {
		if err != nil {
			t.Fatalf("ReadAll with metadata filter after %d events: %v", n, err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("got %d events, want 2", n)
	}
}

// Close called from inside loop bodies must not deadlock, and the iterator
// must then end with ErrClosed.
func TestCloseInsideLoops(t *testing.T) {
	type iterFn func(s *chronicle.Store, ctx context.Context) func(func(chronicle.Event, error) bool)
	cases := map[string]iterFn{
		"Read": func(s *chronicle.Store, ctx context.Context) func(func(chronicle.Event, error) bool) {
			return s.Read(ctx, "a", 0, nil)
		},
		"ReadAll": func(s *chronicle.Store, ctx context.Context) func(func(chronicle.Event, error) bool) {
			return s.ReadAll(ctx, chronicle.Position{}, nil)
		},
		"Watch": func(s *chronicle.Store, ctx context.Context) func(func(chronicle.Event, error) bool) {
			return s.Watch(ctx, "a", 0, nil)
		},
		"WatchAll": func(s *chronicle.Store, ctx context.Context) func(func(chronicle.Event, error) bool) {
			return s.WatchAll(ctx, chronicle.Position{}, nil)
		},
	}
	for name, it := range cases {
		for _, file := range []bool{false, true} {
			t.Run(name+map[bool]string{false: "/mem", true: "/file"}[file], func(t *testing.T) {
				path := ""
				if file {
					path = filepath.Join(t.TempDir(), "e.db")
				}
				s := openT(t, path, &sqlite.Options{PageSize: 2})
				ctx := t.Context()
				for range 5 {
					if _, err := s.Append(ctx, "a", chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
						t.Fatal(err)
					}
				}
				done := make(chan error, 1)
				go func() {
					var last error
					n := 0
					for _, err := range it(s, ctx) {
						if err != nil {
							last = err
							break
						}
						n++
						if n == 1 {
							if err := s.Close(); err != nil {
								done <- err
								return
							}
						}
					}
					done <- last
				}()
				select {
				case err := <-done:
					if strings.HasPrefix(name, "Watch") && !errors.Is(err, chronicle.ErrClosed) {
						t.Fatalf("final error %v, want ErrClosed", err)
					}
					if strings.HasPrefix(name, "Read") && !errors.Is(err, chronicle.ErrClosed) {
						t.Fatalf("final error %v, want ErrClosed", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("deadlock: Close inside loop body")
				}
			})
		}
	}
}
