package postgres

import (
	"context"
	"time"
)

// poll runs check until it reports done or fails, or until wait has
// passed since the first run, pausing between runs from first, doubling up
// to most. It reports whether the time ran out before check was done; it
// fails with check's error, or with ctx's when ctx ends during a pause.
// The waits for a standby's replay, for the visibility frontier and for a
// standby's schema all go through it.
func poll(ctx context.Context, wait, first, most time.Duration, check func() (done bool, err error)) (timedOut bool, err error) {
	deadline := time.Now().Add(wait)
	pause := first
	for {
		done, err := check()
		if err != nil || done {
			return false, err
		}
		if time.Now().After(deadline) {
			return true, nil
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, most)
	}
}
