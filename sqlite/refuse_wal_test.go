package sqlite_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
	sqlite3 "github.com/ncruces/go-sqlite3"
)

// A foreign WAL-mode database whose writer crashed (db + -wal on disk) is
// refused and left as it was: Open does not checkpoint its WAL into it. (Its
// user_version, set by its own tool, is why it is refused.)
func TestRefusedFileWithWALUntouched(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	c, err := sqlite3.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Exec("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE users(x); INSERT INTO users VALUES (1); PRAGMA user_version = 4;"); err != nil {
		t.Fatal(err)
	}
	// Copy the files while the writer still has them open: a crash image.
	dst := filepath.Join(dir, "crashed.db")
	for _, suf := range []string{"", "-wal"} {
		b, err := os.ReadFile(src + suf)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+suf, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	read := func() (db, wal []byte) {
		db, _ = os.ReadFile(dst)
		wal, _ = os.ReadFile(dst + "-wal")
		return
	}
	db0, wal0 := read()
	_, err = sqlite.Open(t.Context(), dst, nil)
	if !errors.Is(err, chronicle.ErrIncompatible) {
		t.Fatalf("Open = %v, want ErrIncompatible", err)
	}
	db1, wal1 := read()
	if !bytes.Equal(db0, db1) || !bytes.Equal(wal0, wal1) {
		t.Errorf("refused file changed: db %d->%d bytes, wal %d->%d bytes", len(db0), len(db1), len(wal0), len(wal1))
	}
}
