package faillog_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle/internal/faillog"
)

func TestState(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var s faillog.State
	s.OK(log, "recovered") // no failure yet: nothing
	for range 3 {
		s.Failed(log, "check failed", "err", errors.New("down"))
	}
	s.OK(log, "recovered")
	s.OK(log, "recovered")
	s.Failed(log, "check failed", "err", errors.New("down again"))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		`level=WARN msg="check failed" err=down failures=1`,
		`level=INFO msg=recovered failures=3`,
		`level=WARN msg="check failed" err="down again" failures=1`,
	}
	if len(lines) != len(want) {
		t.Fatalf("logged %q, want %d lines", lines, len(want))
	}
	for i, w := range want {
		if !strings.HasSuffix(lines[i], w) {
			t.Errorf("line %d: %q, want it to end with %q", i, lines[i], w)
		}
	}
}
