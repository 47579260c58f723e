package sqlite_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
	"github.com/chronicle-go/chronicle/storetest"
)

// The test binary runs as a contention child (see contentionChild) when
// envContendDB is set.
const (
	envContendDB = "CHRONICLE_TEST_CONTEND_DB"
	envContendID = "CHRONICLE_TEST_CONTEND_ID"
)

const (
	contendProcs      = 4
	contendGoroutines = 4
	contendStreams    = 3
	contendFor        = 2 * time.Second
)

// contentionChild runs contendGoroutines goroutines that append one event
// at a time to shared streams with exact expectations for contendFor,
// printing "ack <id> <stream> <version>" per success and "conflicts <n>" at
// the end, then "done". A watcher follows the global stream meanwhile. When
// stdin closes (every process is done), it waits until the watcher has seen
// the whole store and prints "seen <count> <hash of the IDs in order>".
func contentionChild(path, id string) error {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, &sqlite.Options{PollInterval: 5 * time.Millisecond})
	if err != nil {
		return err
	}
	defer s.Close()

	var seenMu sync.Mutex
	var seen []string
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchDone := make(chan error, 1)
	go func() {
		for ev, err := range s.WatchAll(wctx, chronicle.Position{}, nil) {
			if err != nil {
				if wctx.Err() == nil {
					watchDone <- err
				}
				break
			}
			seenMu.Lock()
			seen = append(seen, ev.ID)
			seenMu.Unlock()
		}
		close(watchDone)
	}()

	var outMu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
	}
	var wg sync.WaitGroup
	errs := make(chan error, contendGoroutines)
	var conflicts, busy sync.Map
	deadline := time.Now().Add(contendFor)
	for g := range contendGoroutines {
		wg.Go(func() {
			nc, nb := 0, 0
			defer func() { conflicts.Store(g, nc); busy.Store(g, nb) }()
			for n := 0; time.Now().Before(deadline); n++ {
				stream := fmt.Sprint("shared-", (n+g)%contendStreams)
				info, err := s.StreamInfo(ctx, stream)
				if err != nil {
					errs <- err
					return
				}
				evID := fmt.Sprintf("p%s-g%d-%d", id, g, n)
				res, err := s.Append(ctx, stream, chronicle.Exactly(info.Version), chronicle.EventData{ID: evID, Type: "Contended"})
				switch {
				case err == nil:
					say("ack %s %s %d", evID, stream, res.Version)
				case errors.Is(err, chronicle.ErrConflict):
					nc++
				case errors.Is(err, chronicle.ErrBusy):
					nb++ // typed: allowed, but counted
				default:
					errs <- fmt.Errorf("append: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	total := func(m *sync.Map) (n int) {
		m.Range(func(_, v any) bool { n += v.(int); return true })
		return n
	}
	say("conflicts %d", total(&conflicts))
	say("busy %d", total(&busy))
	say("done")
	if err := out.Flush(); err != nil {
		return err
	}

	// Every process is done once stdin closes; then the watcher must catch
	// up with the whole store.
	if _, err := io.Copy(io.Discard, os.Stdin); err != nil {
		return err
	}
	stats, err := s.Stats(ctx)
	if err != nil {
		return err
	}
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		seenMu.Lock()
		n := len(seen)
		seenMu.Unlock()
		if int64(n) >= stats.Events {
			break
		}
		if time.Since(start) > 10*time.Second {
			return fmt.Errorf("watcher saw %d of %d events", n, stats.Events)
		}
	}
	stopWatch()
	if err := <-watchDone; err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	h := fnv.New64a()
	for _, id := range seen {
		fmt.Fprintln(h, id)
	}
	say("seen %d %x", len(seen), h.Sum64())
	return out.Flush()
}

// TestMultiProcessContention: contendProcs processes, each with
// contendGoroutines goroutines, append to the same few streams with exact
// expectations. No version is written twice, every acknowledged append is
// in the store at the version it was told, losers get ErrConflict (never a
// raw SQLite error), and every process's watcher sees every process's
// events, in the same order.
func TestMultiProcessContention(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "contended.db")
	// Create the store first, so the children do not race to migrate.
	s := openT(t, path, nil)

	type child struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		lines chan string
	}
	children := make([]*child, contendProcs)
	for i := range children {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envContendDB+"="+path, envContendID+"="+strconv.Itoa(i))
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c := &child{cmd: cmd, stdin: stdin, lines: make(chan string, 1<<16)}
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				c.lines <- sc.Text()
			}
			close(c.lines)
		}()
		children[i] = c
	}
	t.Cleanup(func() {
		for _, c := range children {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
	})

	acked := map[string]string{} // event ID -> "stream version"
	conflicts, busy := 0, 0
	readUntil := func(c *child, last string) []string {
		var got []string
		timeout := time.After(60 * time.Second)
		for {
			select {
			case line, ok := <-c.lines:
				if !ok {
					t.Fatalf("child ended before %q", last)
				}
				got = append(got, line)
				if strings.HasPrefix(line, last) {
					return got
				}
			case <-timeout:
				t.Fatalf("no %q from a child within 60 s", last)
			}
		}
	}
	for _, c := range children {
		for _, line := range readUntil(c, "done") {
			f := strings.Fields(line)
			switch f[0] {
			case "ack":
				acked[f[1]] = f[2] + " " + f[3]
			case "conflicts":
				n, _ := strconv.Atoi(f[1])
				conflicts += n
			case "busy":
				n, _ := strconv.Atoi(f[1])
				busy += n
			}
		}
	}
	for _, c := range children {
		if err := c.stdin.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	for _, c := range children {
		lines := readUntil(c, "seen")
		seen = append(seen, lines[len(lines)-1])
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
	}

	storetest.CheckInvariants(t, s)
	all := readAll(t, s)
	if len(all) != len(acked) {
		t.Errorf("store holds %d events, %d appends were acknowledged", len(all), len(acked))
	}
	for _, ev := range all {
		want, ok := acked[ev.ID]
		if !ok {
			t.Errorf("event %s in the store was never acknowledged", ev.ID)
		} else if got := fmt.Sprintf("%s %d", ev.Stream, ev.Version); got != want {
			t.Errorf("event %s is %s, acknowledged as %s", ev.ID, got, want)
		}
	}
	h := fnv.New64a()
	for _, ev := range all {
		fmt.Fprintln(h, ev.ID)
	}
	want := fmt.Sprintf("seen %d %x", len(all), h.Sum64())
	for i, got := range seen {
		if got != want {
			t.Errorf("process %d's watcher: %q, want %q", i, got, want)
		}
	}
	if conflicts == 0 {
		t.Errorf("no append lost a race: the test did not contend")
	}
	t.Logf("%d processes × %d goroutines: %d appends, %d conflicts, %d busy", contendProcs, contendGoroutines, len(all), conflicts, busy)
}
