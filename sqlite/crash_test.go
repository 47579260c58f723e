package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
	"github.com/chronicle-go/chronicle/storetest"
	"github.com/ncruces/go-sqlite3"
)

// The test binary runs as a crash child (see crashChild) when envCrashDB is
// set; envCrashRun numbers the child so that its event IDs are new.
const (
	envCrashDB  = "CHRONICLE_TEST_CRASH_DB"
	envCrashRun = "CHRONICLE_TEST_CRASH_RUN"
)

const (
	crashKills   = 50 // children killed per test
	crashPerFile = 10 // kills each file sees before the next starts empty
	crashStreams = 8
)

// crashID names event i of a batch of n: the batch's name and size are in
// every ID, so a partly written batch shows.
func crashID(batch string, n, i int) string { return fmt.Sprintf("%s-n%d-i%d", batch, n, i) }

// crashChild appends batches of random size to random streams with exact
// expectations, forever, and prints "ack <batch> <n>" after each append
// returns. The parent kills it.
func crashChild(path, run string) error {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		return err
	}
	versions := make([]int64, crashStreams)
	for i := range versions {
		info, err := s.StreamInfo(ctx, fmt.Sprint("crash-", i))
		if err != nil {
			return err
		}
		versions[i] = info.Version
	}
	out := bufio.NewWriter(os.Stdout)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for b := 0; ; b++ {
		n := 1 + rng.IntN(20)
		if rng.IntN(20) == 0 {
			n = 200 + rng.IntN(400) // a large batch: many pages in one commit
		}
		k := rng.IntN(crashStreams)
		batch := fmt.Sprintf("r%s-b%d", run, b)
		evs := make([]chronicle.EventData, n)
		for i := range evs {
			evs[i] = chronicle.EventData{ID: crashID(batch, n, i), Type: "Crash", Data: []byte(strings.Repeat("x", rng.IntN(300)))}
		}
		res, err := s.Append(ctx, fmt.Sprint("crash-", k), chronicle.Exactly(versions[k]), evs...)
		if err != nil {
			return err
		}
		versions[k] = res.Version
		fmt.Fprintf(out, "ack %s %d\n", batch, n)
		if err := out.Flush(); err != nil {
			return err
		}
	}
}

// TestCrashSafety kills a writing child process with SIGKILL at random
// moments, crashKills times, reopening the file in between. After each kill
// every acknowledged append is there, no batch is partly there, versions
// are contiguous, positions strictly increase, and SQLite's integrity check
// passes. Every crashPerFile kills the child starts on a new file, so that
// the checks, which reread the whole file, do not grow with the square of
// the kills.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns and kills processes")
	}
	dir := t.TempDir()
	var path string
	var acked map[string]int // batch -> size, over the file's runs
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	total, events := 0, 0
	for run := range crashKills {
		if run%crashPerFile == 0 {
			path = filepath.Join(dir, fmt.Sprintf("crash-%d.db", run/crashPerFile))
			acked = map[string]int{}
		}
		got := crashRun(t, path, run, time.Duration(10+rng.IntN(150))*time.Millisecond)
		for b, n := range got {
			acked[b] = n
		}
		total += len(got)
		// The full invariant check rereads the store several ways; every
		// fifth kill and the last get it, every kill gets the rest.
		full := run%5 == 4 || run == crashKills-1
		n := checkCrashStore(t, path, acked, full)
		if t.Failed() {
			t.Fatalf("after kill %d", run+1)
		}
		if run%crashPerFile == crashPerFile-1 || run == crashKills-1 {
			events += n
		}
	}
	t.Logf("%d kills survived on %d files; %d acknowledged appends, %d events in the files at the end",
		crashKills, (crashKills+crashPerFile-1)/crashPerFile, total, events)
}

// crashRun starts a child, lets it append for about d after its first
// acknowledgement, kills it and returns the appends it acknowledged.
func crashRun(t *testing.T, path string, run int, d time.Duration) map[string]int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashDB+"="+path, envCrashRun+"="+strconv.Itoa(run))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acks := make(chan map[string]int)
	first := make(chan struct{})
	go func() {
		got := map[string]int{}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 3 || f[0] != "ack" {
				continue
			}
			n, _ := strconv.Atoi(f[2])
			if len(got) == 0 {
				close(first)
			}
			got[f[1]] = n
		}
		if len(got) == 0 {
			close(first)
		}
		acks <- got
	}()
	select {
	case <-first:
	case <-time.After(30 * time.Second):
		t.Log("child acknowledged nothing within 30 s")
	}
	time.Sleep(d)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	got := <-acks
	err = cmd.Wait()
	if len(got) == 0 {
		t.Fatalf("run %d: child acknowledged nothing (%v)\n%s", run, err, stderr.String())
	}
	if !strings.Contains(fmt.Sprint(err), "killed") {
		t.Fatalf("run %d: child ended with %v, not by the kill\n%s", run, err, stderr.String())
	}
	return got
}

// checkCrashStore reopens the store after a kill and checks it against the
// acknowledged appends; it returns the number of events in the store.
func checkCrashStore(t *testing.T, path string, acked map[string]int, full bool) int {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	if full {
		storetest.CheckInvariants(t, s)
	}
	batches := map[string]int{} // batch -> events present
	sizes := map[string]int{}
	all := readAll(t, s)
	versions := map[string]int64{}
	for i, ev := range all {
		if i > 0 && !all[i-1].Position.Before(ev.Position) {
			t.Fatalf("positions not increasing at %v", ev.Position)
		}
		if versions[ev.Stream]++; versions[ev.Stream] != ev.Version {
			t.Fatalf("stream %s: version %d where %d was due", ev.Stream, ev.Version, versions[ev.Stream])
		}
		batch, n, ok := parseCrashID(ev.ID)
		if !ok {
			t.Fatalf("unexpected event ID %q", ev.ID)
		}
		batches[batch]++
		sizes[batch] = n
	}
	for b, present := range batches {
		if present != sizes[b] {
			t.Errorf("batch %s: %d of its %d events present", b, present, sizes[b])
		}
	}
	for b, n := range acked {
		if batches[b] != n {
			t.Errorf("acknowledged batch %s (%d events): %d present", b, n, batches[b])
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	integrityCheck(t, path)
	return len(all)
}

func parseCrashID(id string) (batch string, n int, ok bool) {
	i := strings.LastIndex(id, "-n")
	j := strings.LastIndex(id, "-i")
	if i < 0 || j < i {
		return "", 0, false
	}
	n, err := strconv.Atoi(id[i+2 : j])
	return id[:i], n, err == nil
}

// integrityCheck runs PRAGMA integrity_check on the closed file.
func integrityCheck(t *testing.T, path string) {
	t.Helper()
	c, err := sqlite3.OpenFlags(path, sqlite3.OPEN_READONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, _, err := c.Prepare("PRAGMA integrity_check")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var msgs []string
	for st.Step() {
		msgs = append(msgs, st.ColumnText(0))
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0] != "ok" {
		t.Errorf("integrity_check: %v", msgs)
	}
}
