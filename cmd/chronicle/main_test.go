package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinary builds the chronicle binary and runs it as a user would:
// exit codes, messages on stderr, output through pipes, and Ctrl-C.
func TestBinary(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "chronicle")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	db := filepath.Join(dir, "events.db")
	env := append(os.Environ(), "CHRONICLE_DB=")

	// chronicle runs the binary and returns its exit code and output.
	chronicle := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("run %v: %v", args, err)
		}
		return cmd.ProcessState.ExitCode(), out.String(), errb.String()
	}

	t.Run("help", func(t *testing.T) {
		code, out, _ := chronicle("", "--help")
		for _, c := range []string{"streams", "read", "tail", "append", "info", "snapshots", "bench", "completion", "version"} {
			if code != 0 || !strings.Contains(out, "\n  "+c+" ") {
				t.Errorf("--help: exit %d, %q missing:\n%s", code, c, out)
			}
		}
	})
	t.Run("usage errors exit 2", func(t *testing.T) {
		for _, args := range [][]string{{"streams", "--nope"}, {"frobnicate"}, {"read"}, {"streams"}} {
			code, out, errOut := chronicle("", append([]string{"--db", db}, args...)...)
			if args[0] == "streams" && len(args) == 1 {
				code, out, errOut = chronicle("", args...) // no --db, no CHRONICLE_DB
			}
			if code != 2 || out != "" || !strings.Contains(errOut, "--help' for usage") {
				t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
			}
		}
	})
	t.Run("missing store exits 1", func(t *testing.T) {
		missing := filepath.Join(dir, "missing.db")
		code, _, errOut := chronicle("", "--db", missing, "streams")
		if code != 1 || !strings.Contains(errOut, "chronicle streams: no store at "+missing) {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
		if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("streams created %s", missing)
		}
	})
	t.Run("piped JSON", func(t *testing.T) {
		var input strings.Builder
		for i := range 500 {
			fmt.Fprintf(&input, "{\"type\":\"Tick\",\"data\":{\"n\":%d}}\n", i)
		}
		if code, _, errOut := chronicle(input.String(), "--db", db, "append", "ticks", "-", "--batch", "100"); code != 0 {
			t.Fatalf("append: exit %d: %s", code, errOut)
		}
		code, out, errOut := chronicle("", "--db", db, "read", "--all", "--json")
		if code != 0 || errOut != "" {
			t.Fatalf("read: exit %d, stderr %q", code, errOut)
		}
		if strings.ContainsAny(out, "\r\x1b") {
			t.Error("piped output holds terminal control bytes")
		}
		n := 0
		for line := range strings.Lines(out) {
			var e map[string]any
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("not JSON: %v: %q", err, line)
			}
			n++
		}
		if n != 500 {
			t.Errorf("%d lines, want 500", n)
		}
		// export and import, through pipes and a file: no progress bar
		// bytes on either stream.
		file := filepath.Join(dir, "export.jsonl")
		for _, args := range [][]string{
			{"--db", db, "export", "--all"},
			{"--db", db, "export", "--all", "-o", file},
			{"--db", filepath.Join(dir, "imported.db"), "import", file},
			{"--db", db, "verify"},
		} {
			code, out, errOut := chronicle("", args...)
			if code != 0 || strings.ContainsAny(out+errOut, "\r\x1b") {
				t.Errorf("%v: exit %d, stdout %.200q, stderr %q", args, code, out, errOut)
			}
		}
	})
	t.Run("tail ends on SIGINT with exit 0", func(t *testing.T) {
		cmd := exec.Command(bin, "--db", db, "tail", "--all", "--json")
		cmd.Env = env
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Append until tail (which starts at the end) shows an event.
		deadline := time.After(30 * time.Second)
		for i := 0; ; i++ {
			if code, _, errOut := chronicle("", "--db", db, "append", "live", "Ping"); code != 0 {
				t.Fatalf("append: %s", errOut)
			}
			select {
			case l := <-lines:
				if !strings.Contains(l, `"stream":"live"`) {
					t.Fatalf("tail printed %q", l)
				}
			case <-time.After(500 * time.Millisecond):
				continue
			case <-deadline:
				t.Fatal("tail printed nothing")
			}
			break
		}
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		for range lines { // drain what else it printed
		}
		err = cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("tail after SIGINT: exit %d (%v), stderr %q", code, err, errb.String())
		}
		if errb.Len() > 0 {
			t.Errorf("tail wrote to stderr: %q", errb.String())
		}
	})
}
