package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
)

// envReadOnlyDB makes the test binary a child that opens the store at that
// path, which the parent has put on a read-only mount (see
// TestReadOnlyMount), and reports what happened.
const envReadOnlyDB = "CHRONICLE_TEST_READONLY_DB"

func readOnlyChild(path string) error {
	s, err := sqlite.Open(context.Background(), path, nil)
	if err == nil {
		_ = s.Close()
		return errors.New("opened a store on a read-only mount")
	}
	if !errors.Is(err, chronicle.ErrReadOnly) {
		return fmt.Errorf("open on a read-only mount: %v, want ErrReadOnly", err)
	}
	fmt.Println("refused:", err)
	return nil
}

// TestReadOnlyMount opens a store whose directory is a read-only mount (a
// bind mount in a private mount namespace of a child process, which needs
// root and unshare): Open fails with ErrReadOnly and changes nothing; the
// same file opens and works normally where it is writable.
func TestReadOnlyMount(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process in its own mount namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and unshare(1) to make a read-only mount")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "events.db")
	s := openT(t, path, nil)
	appendN(t, s, "a", 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	script := `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2" -test.run='^$'`
	cmd := exec.Command(unshare, "-m", "sh", "-c", script, "sh", dir, os.Args[0])
	cmd.Env = append(os.Environ(), envReadOnlyDB+"="+path)
	expectRefused(t, cmd, path, before, "cannot make a read-only mount here")
	s2 := openT(t, path, nil)
	appendN(t, s2, "a", 1) // no expectation: a fourth event
	if got := len(readAll(t, s2)); got != 4 {
		t.Fatalf("after the read-only episode the store holds %d events, want 4", got)
	}
}

// TestReadOnlyDirectory opens, as an unprivileged user, a store whose file
// that user may write but whose directory it may not, so SQLite cannot
// create the WAL beside it: Open fails with ErrReadOnly and changes nothing.
// It needs root (to run the child as nobody with setpriv).
func TestReadOnlyDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process as another user")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and setpriv(1) to run a child as an unprivileged user")
	}
	const nobody = 65534
	// A directory tree the child can reach: the store's directory is
	// read-only to it, the file in it writable.
	base := t.TempDir()
	dir := filepath.Join(base, "store")
	path := filepath.Join(dir, "events.db")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := openT(t, path, nil)
	appendN(t, s, "a", 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "child.test")
	exe, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(path, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(setpriv, "--reuid", fmt.Sprint(nobody), "--regid", fmt.Sprint(nobody), "--clear-groups", bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), envReadOnlyDB+"="+path, "HOME="+base, "GOCOVERDIR=")
	expectRefused(t, cmd, path, before, "cannot run a child as nobody here")
}

// expectRefused runs cmd, a read-only child (readOnlyChild) set up by the
// caller, and checks that its open was refused and that the file at path
// still holds before. When the child never got to run (the mount or the
// user switch failed), the test is skipped with skipWhy.
func expectRefused(t *testing.T, cmd *exec.Cmd, path string, before []byte, skipWhy string) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		if !strings.Contains(string(out), "read-only child") {
			t.Skipf("%s: %v: %s", skipWhy, err, out)
		}
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child: %s", strings.TrimSpace(string(out)))
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("the refused open changed the file")
	}
}
