package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// run runs the command with args and no input, without CHRONICLE_DB.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runIn(t, "", args...)
}

// runIn runs the command with stdin holding input.
func runIn(t *testing.T, input string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCtx(t.Context(), strings.NewReader(input), args...)
}

func runCtx(ctx context.Context, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	return runTuned(ctx, tuning{}, stdin, args...)
}

// runTuned runs the command with internals changed as tune says.
func runTuned(ctx context.Context, tune tuning, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(ctx, args, Env{Stdin: stdin, Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, tune: tune})
	return code, out.String(), errb.String()
}

// update rewrites the golden files: go test ./cmd/chronicle/internal/cli -run Golden -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or writes it there with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// pgStore returns the URL of the test PostgreSQL database and a fresh
// schema name, dropped when the test ends; it skips the test when
// CHRONICLE_TEST_POSTGRES_URL is not set.
func pgStore(t *testing.T) (url, schema string) {
	t.Helper()
	url = os.Getenv("CHRONICLE_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("CHRONICLE_TEST_POSTGRES_URL is not set: no PostgreSQL to test against " +
			"(e.g. CHRONICLE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test)")
	}
	schema = "cli_" + strings.ToLower(rand.Text()[:10])
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return url, schema
}

// waitGlobal waits until the global stream of the store that db names
// shows n events. On PostgreSQL it shows events written by another store
// once every transaction that started before them has ended, in the whole
// cluster, other tests' too.
func waitGlobal(t *testing.T, db []string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, out, errOut := run(t, append(slices.Clone(db), "read", "--all", "--json")...)
		if code != 0 {
			t.Fatalf("read --all: exit %d: %s", code, errOut)
		}
		if got := strings.Count(out, "\n"); got == n {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("the global stream shows %d events after 10s, want %d", got, n)
		}
	}
}
