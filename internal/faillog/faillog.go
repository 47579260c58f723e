// Package faillog logs the failures of a task that a background loop
// retries (a poll, a notification) once per run of failures instead of at
// every attempt: the first failure at Warn, the repeats at Debug, and the
// first success after them at Info.
package faillog

import (
	"context"
	"log/slog"
)

// State is one task's run of failures. The zero value is a task that has
// not failed. It is not safe for concurrent use: one loop owns it.
type State struct {
	failures int // in a row, since the last success
}

// Failed logs a failure of the task: msg at Warn when it is the first
// since a success, at Debug otherwise, with args and the count.
func (s *State) Failed(log *slog.Logger, msg string, args ...any) {
	s.failures++
	level := slog.LevelWarn
	if s.failures > 1 {
		level = slog.LevelDebug
	}
	log.Log(context.Background(), level, msg, append(args, "failures", s.failures)...)
}

// OK records a success, and logs msg at Info when it ends a run of
// failures.
func (s *State) OK(log *slog.Logger, msg string, args ...any) {
	if s.failures == 0 {
		return
	}
	log.Info(msg, append(args, "failures", s.failures)...)
	s.failures = 0
}
