package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	ncdriver "github.com/ncruces/go-sqlite3/driver" // registers "sqlite3"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
)

// TestNoDriverRegistered checks that the package registers no database/sql
// driver in any build, so that a program may import a SQLite driver that
// takes the usual "sqlite3" name beside it: this test binary imports one,
// and would not start if the package registered "sqlite3" too.
func TestNoDriverRegistered(t *testing.T) {
	ctx := t.Context()
	if got := sql.Drivers(); !slices.Equal(got, []string{"sqlite3"}) {
		t.Errorf("registered drivers %q, want only the imported driver's \"sqlite3\"", got)
	}
	other, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, ok := other.Driver().(*ncdriver.SQLite); !ok {
		t.Errorf("\"sqlite3\" is %T", other.Driver())
	}
	if err := other.PingContext(ctx); err != nil {
		t.Fatal(err)
	}

	s := openT(t, filepath.Join(t.TempDir(), "events.db"), nil)
	if _, err := s.Append(ctx, "s", chronicle.NoStream, chronicle.EventData{Type: "T"}); err != nil {
		t.Fatal(err)
	}
	if n := len(readAll(t, s)); n != 1 {
		t.Errorf("%d events, want 1", n)
	}
	db := dbT(t, s)
	if n := countT(t, db, "SELECT count(*) FROM sqlite_schema"); n == 0 {
		t.Error("the store's database holds no table")
	}
	t.Logf("engine %s", sqlite.Engine)
}
