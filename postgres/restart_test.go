package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/jackc/pgx/v5"
)

// restartTarget returns a PostgreSQL server that the test may stop and
// start, and the command that does it (run with "stop" or "start"
// appended), from CHRONICLE_TEST_POSTGRES_RESTART_URL and
// CHRONICLE_TEST_POSTGRES_RESTART_CTL, or skips the test.
func restartTarget(t *testing.T) (url, ctl string) {
	t.Helper()
	url, ctl = os.Getenv("CHRONICLE_TEST_POSTGRES_RESTART_URL"), os.Getenv("CHRONICLE_TEST_POSTGRES_RESTART_CTL")
	if url == "" || ctl == "" {
		t.Skip("CHRONICLE_TEST_POSTGRES_RESTART_URL and _CTL are not set: no PostgreSQL server to restart " +
			"(as root: out=$(.ci/throwaway); dir=${out% *}; " +
			"CHRONICLE_TEST_POSTGRES_RESTART_URL=postgres://postgres@127.0.0.1:${out#* }/postgres " +
			"CHRONICLE_TEST_POSTGRES_RESTART_CTL=\".ci/throwaway $dir\"; afterwards .ci/throwaway $dir remove)")
	}
	return url, ctl
}

// Under load, the server restarts (a fast shutdown, 2 s down, a start):
// writers that retry their appends with the same event IDs after errors
// matching ErrUnavailable store every event once, and watches ride out the
// outage by themselves, delivering every event once, in order, without an
// error reaching their loop bodies.
func TestRidesOutServerRestart(t *testing.T) {
	url, ctl := restartTarget(t)
	if testing.Short() {
		t.Skip("restarts a server: not in -short")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	schema := fmt.Sprintf("restart_%d", time.Now().UnixNano())
	// Counts the watches' page reads that failed as unavailable: proof
	// that the watches met the outage rather than slept through it.
	var watchFailures atomic.Int64
	hooks := &chronicle.Hooks{ReadDone: func(_ context.Context, info chronicle.ReadDoneInfo) {
		if info.Watch && errors.Is(info.Err, chronicle.ErrUnavailable) {
			watchFailures.Add(1)
		}
	}}
	st, err := postgres.Open(ctx, url, &postgres.Options{Schema: schema, MaxConns: 12, PollInterval: 50 * time.Millisecond, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if conn, err := pgx.Connect(context.Background(), url); err == nil {
			_, _ = conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			conn.Close(context.Background())
		}
	})
	defer st.Close()

	const writers = 8
	var (
		mu          sync.Mutex
		acked       = map[string]bool{} // event IDs whose append succeeded
		unavailable int                 // append errors matching ErrUnavailable
		other       []error             // append errors of any other kind
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("w%d", w)
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("%s-%d", stream, n)
				for {
					_, err := st.Append(ctx, stream, chronicle.Any, chronicle.EventData{ID: id, Type: "E"})
					if err == nil {
						mu.Lock()
						acked[id] = true
						mu.Unlock()
						break
					}
					mu.Lock()
					switch {
					case errors.Is(err, chronicle.ErrUnavailable), errors.Is(err, chronicle.ErrBusy):
						unavailable++
					case ctx.Err() != nil:
						mu.Unlock()
						return
					default:
						other = append(other, err)
					}
					mu.Unlock()
					time.Sleep(20 * time.Millisecond) // then the same event again
				}
			}
		})
	}

	// Two watches from the start: the global stream and one writer's; a
	// third of the global stream starts while the server is down.
	type delivery struct {
		ev  chronicle.Event
		err error
	}
	all, w0, late := make(chan delivery, 1<<16), make(chan delivery, 1<<16), make(chan delivery, 1<<16)
	var watches sync.WaitGroup
	watchCtx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	watches.Go(func() {
		for ev, err := range st.WatchAll(watchCtx, chronicle.Position{}, nil) {
			all <- delivery{ev, err}
		}
		close(all)
	})
	watches.Go(func() {
		for ev, err := range st.Watch(watchCtx, "w0", 0, nil) {
			w0 <- delivery{ev, err}
		}
		close(w0)
	})

	run := func(verb string) {
		t.Helper()
		out, err := exec.CommandContext(ctx, "sh", "-c", ctl+" "+verb).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", ctl, verb, err, out)
		}
	}
	time.Sleep(700 * time.Millisecond)
	run("stop")
	t.Log("server stopped")
	watches.Go(func() {
		for ev, err := range st.WatchAll(watchCtx, chronicle.Position{}, nil) {
			late <- delivery{ev, err}
		}
		close(late)
	})
	time.Sleep(2 * time.Second)
	run("start")
	t.Log("server started")
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	for _, err := range other[:min(len(other), 5)] {
		t.Errorf("append failed with an error that is neither ErrUnavailable nor ErrBusy: %v", err)
	}
	if unavailable == 0 {
		t.Fatal("no append failed during the restart: the server was not restarted under load")
	}
	t.Logf("%d events acknowledged; %d append errors matching ErrUnavailable or ErrBusy, retried", len(acked), unavailable)

	// Every acknowledged event is stored once, and nothing else is.
	stored := map[string]int{}
	for ev, err := range st.ReadAll(ctx, chronicle.Position{}, nil) {
		if err != nil {
			t.Fatal(err)
		}
		stored[ev.ID]++
	}
	for id, n := range stored {
		if n != 1 || !acked[id] {
			t.Errorf("event %s stored %d times (acknowledged: %v)", id, n, acked[id])
		}
	}
	if len(stored) != len(acked) {
		t.Errorf("%d events stored, %d acknowledged", len(stored), len(acked))
	}

	// Each watch delivers its events once each, in order, with no error.
	wantW0 := 0
	for id := range acked {
		if id[:3] == "w0-" {
			wantW0++
		}
	}
	check := func(name string, ch chan delivery, want int, inOrder func(prev, ev *chronicle.Event) bool) {
		t.Helper()
		seen := map[string]bool{}
		var prev chronicle.Event
		deadline := time.After(30 * time.Second)
		for len(seen) < want {
			select {
			case d := <-ch:
				if d.err != nil {
					t.Fatalf("%s: the watch ended with %v after %d of %d events", name, d.err, len(seen), want)
				}
				if seen[d.ev.ID] {
					t.Fatalf("%s: event %s delivered twice", name, d.ev.ID)
				}
				if len(seen) > 0 && !inOrder(&prev, &d.ev) {
					t.Fatalf("%s: event %s (%v, version %d) delivered after %s (%v, version %d)", name, d.ev.ID, d.ev.Position, d.ev.Version, prev.ID, prev.Position, prev.Version)
				}
				if !acked[d.ev.ID] {
					t.Fatalf("%s: delivered event %s was never acknowledged", name, d.ev.ID)
				}
				seen[d.ev.ID], prev = true, d.ev
			case <-deadline:
				t.Fatalf("%s: %d of %d events delivered", name, len(seen), want)
			}
		}
	}
	check("WatchAll", all, len(acked), func(prev, ev *chronicle.Event) bool { return prev.Position.Before(ev.Position) })
	check("Watch w0", w0, wantW0, func(prev, ev *chronicle.Event) bool { return ev.Version == prev.Version+1 })
	check("WatchAll started during the outage", late, len(acked), func(prev, ev *chronicle.Event) bool { return prev.Position.Before(ev.Position) })
	if watchFailures.Load() == 0 {
		t.Error("no watch read failed as unavailable: the watches did not meet the outage")
	}
	t.Logf("%d watch page reads failed as unavailable and were retried", watchFailures.Load())
	stopWatches()
	watches.Wait()
	for _, ch := range []chan delivery{all, w0, late} {
		for d := range ch {
			if d.err == nil {
				t.Errorf("an event delivered beyond the acknowledged ones: %s", d.ev.ID)
			} else if !errors.Is(d.err, context.Canceled) {
				t.Errorf("watch ended with %v, want context.Canceled", d.err)
			}
		}
	}
}
