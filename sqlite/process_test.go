package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
	"go.uber.org/goleak"
)

// The test binary re-executes itself as a child writer process when these
// variables are set (see TestCrossProcessWatch).
const (
	envChildDB = "CHRONICLE_TEST_CHILD_DB"
	envChildID = "CHRONICLE_TEST_CHILD_ID"
)

// children are the roles the test binary plays as a child process: the
// first whose variable is set runs with its value, and the process exits.
var children = []struct {
	env  string
	name string
	run  func(path string) error
}{
	{envReadOnlyDB, "read-only child", readOnlyChild},
	{envContendDB, "contention child", func(p string) error { return contentionChild(p, os.Getenv(envContendID)) }},
	{envCrashDB, "crash child", func(p string) error { return crashChild(p, os.Getenv(envCrashRun)) }},
	{envChildDB, "child", func(p string) error { return childWriter(p, os.Getenv(envChildID)) }},
}

func TestMain(m *testing.M) {
	for _, c := range children {
		if path := os.Getenv(c.env); path != "" {
			if err := c.run(path); err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", c.name, err)
				os.Exit(1)
			}
			os.Exit(0)
		}
	}
	goleak.VerifyTestMain(m)
}

const (
	ownPerProcess    = 200 // events each process appends to a stream of its own
	sharedPerProcess = 50  // events each process appends to the shared stream
)

// writeLoad appends ownPerProcess events to "own-<id>" in batches of random
// size and sharedPerProcess events one by one to "shared" with an exact
// expectation, retrying on conflict.
func writeLoad(ctx context.Context, s *chronicle.Store, id string) error {
	rng := rand.New(rand.NewPCG(uint64(len(id)), uint64(time.Now().UnixNano())))
	for n := 0; n < ownPerProcess; {
		k := min(1+rng.IntN(10), ownPerProcess-n)
		batch := make([]chronicle.EventData, k)
		for i := range batch {
			batch[i] = chronicle.EventData{Type: "Own", Data: []byte(id + "-" + strconv.Itoa(n+i))}
		}
		if _, err := s.Append(ctx, "own-"+id, chronicle.Exactly(int64(n)), batch...); err != nil {
			return err
		}
		n += k
	}
	for n := 0; n < sharedPerProcess; {
		info, err := s.StreamInfo(ctx, "shared")
		if err != nil {
			return err
		}
		_, err = s.Append(ctx, "shared", chronicle.Exactly(info.Version), chronicle.EventData{Type: "Shared", Data: []byte(id)})
		if errors.Is(err, chronicle.ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		n++
	}
	return nil
}

func childWriter(path, id string) error {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	return writeLoad(ctx, s, id)
}

// TestCrossProcessWatch: two child processes and the parent append to one
// file at once (own streams and a shared stream with exact expectations);
// a watcher in the parent sees every event exactly once, in order.
func TestCrossProcessWatch(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	crossProcess(t, os.Args[0])
}

// crossProcess runs TestCrossProcessWatch's load with children that run
// the test binary child.
func crossProcess(t *testing.T, child string) {
	path := filepath.Join(t.TempDir(), "shared.db")
	s := openT(t, path, &sqlite.Options{PollInterval: 5 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	const children = 2
	total := (children + 1) * (ownPerProcess + sharedPerProcess)
	caughtUp := make(chan struct{})
	seen := make(chan []chronicle.Event, 1)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		var got []chronicle.Event
		defer func() { seen <- got }()
		opts := &chronicle.WatchOptions{CaughtUp: func() { close(caughtUp) }}
		for ev, err := range s.WatchAll(watchCtx, chronicle.Position{}, opts) {
			if err != nil {
				return
			}
			if got = append(got, ev); len(got) == total {
				return
			}
		}
	}()
	<-caughtUp

	var wg sync.WaitGroup
	errs := make(chan error, children+1)
	for i := range children {
		cmd := exec.CommandContext(ctx, child, "-test.run=^$")
		cmd.Env = append(os.Environ(), envChildDB+"="+path, envChildID+"="+strconv.Itoa(i))
		wg.Go(func() {
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("child %d: %v\n%s", i, err, out)
			}
		})
	}
	wg.Go(func() {
		if err := writeLoad(ctx, s, "parent"); err != nil {
			errs <- fmt.Errorf("parent: %w", err)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	var got []chronicle.Event
	select {
	case got = <-seen:
	case <-time.After(30 * time.Second):
		stopWatch()
		got = <-seen
	}
	if len(got) != total {
		t.Fatalf("watcher saw %d events, want %d", len(got), total)
	}
	all := readAll(t, s)
	if len(all) != total {
		t.Fatalf("store holds %d events, want %d", len(all), total)
	}
	for i := range all {
		if !eventsEqual(all[i], got[i]) {
			t.Fatalf("watched event %d differs from stored:\n%+v\n%+v", i, got[i], all[i])
		}
		if i > 0 && !all[i-1].Position.Before(all[i].Position) {
			t.Fatalf("positions not increasing at %d", i)
		}
	}
	var shared int64
	for ev, err := range s.Read(ctx, "shared", 0, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if shared++; ev.Version != shared {
			t.Fatalf("shared stream version %d at index %d", ev.Version, shared)
		}
	}
	if shared != (children+1)*sharedPerProcess {
		t.Fatalf("shared stream has %d events, want %d", shared, (children+1)*sharedPerProcess)
	}
}
