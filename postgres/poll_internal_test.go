package postgres

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	for _, tc := range []struct {
		name     string
		wait     time.Duration
		doneAt   int   // the run that reports done; 0: never
		failAt   int   // the run that fails; 0: never
		runs     int   // want this many runs (0: at least 2)
		timedOut bool  // want
		err      error // want
	}{
		{name: "done at once", wait: time.Second, doneAt: 1, runs: 1},
		{name: "done later", wait: time.Second, doneAt: 4, runs: 4},
		{name: "fails", wait: time.Second, failAt: 3, runs: 3, err: boom},
		{name: "times out", wait: 20 * time.Millisecond, timedOut: true},
		{name: "no wait: one run", wait: 0, timedOut: true, runs: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs := 0
			timedOut, err := poll(ctx, tc.wait, time.Millisecond, 4*time.Millisecond, func() (bool, error) {
				runs++
				if runs == tc.failAt {
					return false, boom
				}
				return runs == tc.doneAt, nil
			})
			if timedOut != tc.timedOut || !errors.Is(err, tc.err) || err != nil && tc.err == nil {
				t.Errorf("poll = %v, %v; want %v, %v", timedOut, err, tc.timedOut, tc.err)
			}
			if tc.runs > 0 && runs != tc.runs || tc.runs == 0 && runs < 2 {
				t.Errorf("%d runs, want %d", runs, tc.runs)
			}
		})
	}
	t.Run("context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		runs := 0
		_, err := poll(ctx, time.Hour, time.Millisecond, time.Millisecond, func() (bool, error) {
			if runs++; runs == 3 {
				cancel()
			}
			return false, nil
		})
		if !errors.Is(err, context.Canceled) || runs != 3 {
			t.Errorf("poll = %v after %d runs; want context.Canceled after 3", err, runs)
		}
	})
}
