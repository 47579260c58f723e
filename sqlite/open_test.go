package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
	sqlite3 "github.com/ncruces/go-sqlite3"
)

func openT(t *testing.T, path string, opts *sqlite.Options) *chronicle.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func appendN(t *testing.T, s *chronicle.Store, stream string, n int) {
	t.Helper()
	evs := make([]chronicle.EventData, n)
	for i := range evs {
		evs[i] = chronicle.EventData{Type: "Added", Data: []byte{byte(i)}}
	}
	if _, err := s.Append(t.Context(), stream, chronicle.Any, evs...); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func readAll(t *testing.T, s *chronicle.Store) []chronicle.Event {
	t.Helper()
	var out []chronicle.Event
	for ev, err := range s.ReadAll(t.Context(), chronicle.Position{}, nil) {
		if err != nil {
			t.Fatalf("ReadAll: %v", err)
		}
		out = append(out, ev)
	}
	return out
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	ctx := t.Context()
	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, "a", 3)
	appendN(t, s, "b", 2)
	if err := s.SaveSnapshot(ctx, "a", "counter", 3, []byte("state")); err != nil {
		t.Fatal(err)
	}
	before := readAll(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openT(t, path, nil)
	after := readAll(t, s)
	if len(after) != 5 || len(before) != 5 {
		t.Fatalf("events before/after reopen: %d/%d, want 5/5", len(before), len(after))
	}
	for i := range before {
		if !eventsEqual(before[i], after[i]) {
			t.Fatalf("event %d changed across reopen:\n%+v\n%+v", i, before[i], after[i])
		}
	}
	snap, ok, err := s.LoadSnapshot(ctx, "a", "counter")
	if err != nil || !ok || snap.Version != 3 || string(snap.State) != "state" {
		t.Fatalf("LoadSnapshot after reopen = %+v, %v, %v", snap, ok, err)
	}
	res, err := s.Append(ctx, "a", chronicle.Exactly(3), chronicle.EventData{Type: "Added"})
	if err != nil || res.Version != 4 || res.Positions[0] != chronicle.At(6) {
		t.Fatalf("Append after reopen = %+v, %v; want version 4 at position 6", res, err)
	}
}

func eventsEqual(a, b chronicle.Event) bool {
	return a.Stream == b.Stream && a.Version == b.Version && a.Position == b.Position && a.ID == b.ID &&
		a.Type == b.Type && bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Metadata, b.Metadata) && a.Time.Equal(b.Time)
}

func TestMemoryStoresArePrivate(t *testing.T) {
	for _, path := range []string{"", ":memory:"} {
		a := openT(t, path, nil)
		b := openT(t, path, nil)
		appendN(t, a, "only-in-a", 2)
		if evs := readAll(t, b); len(evs) != 0 {
			t.Fatalf("path %q: second in-memory store sees %d events of the first", path, len(evs))
		}
		if evs := readAll(t, a); len(evs) != 2 {
			t.Fatalf("path %q: first store has %d events, want 2", path, len(evs))
		}
	}
}

func TestNewFileIsOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	openT(t, path, nil)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("new database file mode = %v, want 0600", perm)
	}
	path2 := filepath.Join(t.TempDir(), "shared.db")
	openT(t, path2, &sqlite.Options{FileMode: 0o640})
	if fi, _ := os.Stat(path2); fi.Mode().Perm() != 0o640 {
		t.Fatalf("FileMode 0640 gave %v", fi.Mode().Perm())
	}
}

// rawExec runs SQL on a file with the driver directly, bypassing Chronicle.
func rawExec(t *testing.T, path, sql string) {
	t.Helper()
	c, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Exec(sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestRefusesForeignAndNewerFiles(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		setup   func(t *testing.T, path string)
		mention string // a part of the error message
	}{
		{"other application id", func(t *testing.T, path string) {
			rawExec(t, path, "PRAGMA application_id = 1234; CREATE TABLE t (x);")
		}, "application_id 0x4d2"},
		{"user_version of another tool", func(t *testing.T, path string) {
			rawExec(t, path, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES (1, 'ann'); PRAGMA user_version = 3;")
		}, "user_version is 3"},
		{"user_version of another tool, no tables", func(t *testing.T, path string) {
			rawExec(t, path, "PRAGMA user_version = 1")
		}, "another tool"},
		{"table named as Chronicle's", func(t *testing.T, path string) {
			rawExec(t, path, "CREATE TABLE users (id INTEGER PRIMARY KEY); CREATE TABLE chronicle_events (x); INSERT INTO chronicle_events VALUES (1);")
		}, `"chronicle_events"`},
		{"index with Chronicle's prefix in other case", func(t *testing.T, path string) {
			rawExec(t, path, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); CREATE INDEX Chronicle_Users_Name ON users (name);")
		}, `"Chronicle_Users_Name"`},
		{"not a database", func(t *testing.T, path string) {
			if err := os.WriteFile(path, bytes.Repeat([]byte("this is not a SQLite file\n"), 200), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a SQLite database"},
		{"newer schema", func(t *testing.T, path string) {
			s, err := sqlite.Open(t.Context(), path, nil)
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, s, "a", 1)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			rawExec(t, path, "PRAGMA user_version = 99")
		}, "newer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".db")
			tc.setup(t, path)
			before := snapshotFiles(t, path)
			s, err := sqlite.Open(t.Context(), path, nil)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want ErrIncompatible")
			}
			if !errors.Is(err, chronicle.ErrIncompatible) {
				t.Fatalf("Open error = %v, want ErrIncompatible", err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("Open error = %v, want it to mention %s", err, tc.mention)
			}
			if after := snapshotFiles(t, path); !slices.Equal(before, after) {
				t.Fatalf("Open changed the refused file(s)")
			}
		})
	}
}

// snapshotFiles returns the bytes of the database and any -wal/-shm file.
func snapshotFiles(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			out = append(out, "")
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func TestSchemaIsMarked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := openT(t, path, nil)
	appendN(t, s, "a", 1)
	// Closed first: the pure-Go driver used here and the native one of the
	// chronicle_cgo build do not share one file inside one process.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := sqlite3.OpenFlags(path, sqlite3.OPEN_READONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for pragma, want := range map[string]int64{
		"PRAGMA application_id": sqlite.ApplicationID,
		"PRAGMA user_version":   int64(sqlite.SchemaVersion()),
	} {
		st, _, err := c.Prepare(pragma)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Step() || st.ColumnInt64(0) != want {
			t.Errorf("%s = %d, want %d", pragma, st.ColumnInt64(0), want)
		}
		st.Close()
	}
	st, _, _ := c.Prepare("PRAGMA journal_mode")
	if st.Step(); st.ColumnText(0) != "wal" {
		t.Errorf("journal_mode = %q, want wal", st.ColumnText(0))
	}
	st.Close()
}

func TestInvalidOptions(t *testing.T) {
	for _, o := range []sqlite.Options{
		{ReadConns: -1}, {ReadConns: 1000}, {CacheSizeKiB: -5}, {BusyTimeout: -1},
		{PollInterval: -1}, {PollInterval: 1}, {FileMode: os.ModeDir | 0o600}, {PageSize: -1},
		{Synchronous: -1}, {Synchronous: sqlite.SyncFull + 1},
	} {
		s, err := sqlite.Open(context.Background(), "", &o)
		if err == nil {
			s.Close()
			t.Errorf("Open with %+v succeeded, want ErrInvalid", o)
		} else if !errors.Is(err, chronicle.ErrInvalid) {
			t.Errorf("Open with %+v: %v, want ErrInvalid", o, err)
		}
	}
}

func TestOpenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sqlite.Open(ctx, "", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with cancelled ctx: %v, want context.Canceled", err)
	}
}

// TestNoCreate: with Options.NoCreate, Open refuses every path that does
// not hold a Chronicle store yet with ErrNoStore and leaves it as it was,
// and opens one that does.
func TestNoCreate(t *testing.T) {
	dir := t.TempDir()
	noCreate := &sqlite.Options{NoCreate: true}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, path string)
	}{
		{"missing file", func(*testing.T, string) {}},
		{"empty file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"application tables only", func(t *testing.T, path string) {
			rawExec(t, path, "CREATE TABLE users (id INTEGER PRIMARY KEY); INSERT INTO users VALUES (1);")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".db")
			tc.setup(t, path)
			before := snapshotFiles(t, path)
			s, err := sqlite.Open(t.Context(), path, noCreate)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want ErrNoStore")
			}
			if !errors.Is(err, chronicle.ErrNoStore) {
				t.Fatalf("Open error = %v, want ErrNoStore", err)
			}
			if after := snapshotFiles(t, path); !slices.Equal(before, after) {
				t.Fatal("Open changed or created files")
			}
		})
	}
	t.Run("memory", func(t *testing.T) {
		if s, err := sqlite.Open(t.Context(), "", noCreate); !errors.Is(err, chronicle.ErrNoStore) {
			if s != nil {
				s.Close()
			}
			t.Fatalf("Open in memory = %v, want ErrNoStore", err)
		}
	})
	t.Run("existing store", func(t *testing.T) {
		path := filepath.Join(dir, "store.db")
		s := openT(t, path, nil)
		appendN(t, s, "a", 3)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openT(t, path, noCreate)
		if info, err := s.StreamInfo(t.Context(), "a"); err != nil || info.Version != 3 {
			t.Fatalf("StreamInfo = %+v, %v; want version 3", info, err)
		}
	})
}
