package cli

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/sqlite"
)

// TestProjections: the projections command shows what a runner recorded,
// and its requests are carried out by the runner that holds the projection.
func TestProjections(t *testing.T) {
	db := fixtureFile(t)
	testProjections(t, []string{"--db", db}, func() (*chronicle.Store, error) { return sqlite.Open(t.Context(), db, nil) })
}

func TestProjectionsPostgres(t *testing.T) {
	url, schema := fixturePostgres(t)
	open := func() (*chronicle.Store, error) {
		return postgres.Open(t.Context(), url, &postgres.Options{Schema: schema})
	}
	testProjections(t, []string{"--db", url, "--schema", schema}, open)
}

// testProjections runs the projections commands on the fixture's store,
// which db names and open opens.
func testProjections(t *testing.T, db []string, open func() (*chronicle.Store, error)) {
	ctx := t.Context()
	cmd := func(args ...string) []string { return append(slices.Clone(db), args...) }
	if code, out, _ := run(t, cmd("projections")...); code != 0 || strings.Count(out, "\n") != 1 {
		t.Fatalf("projections of a store without any: exit %d:\n%s", code, out)
	}
	st, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// "counts" fails on Poison events while poisoned, which parks the
	// stream of the first one it sees live.
	var mu sync.Mutex
	seen := map[string]int{}
	poisoned := true
	count := func(stream string) int {
		mu.Lock()
		defer mu.Unlock()
		return seen[stream]
	}
	p := projection.Projection{Name: "counts", Version: 1, Handle: func(_ context.Context, b projection.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range b.Events {
			if e.Type == "Poison" && poisoned {
				return errors.New("cannot count poison")
			}
			seen[e.Stream]++
		}
		return nil
	}}
	r, err := projection.New(st, &projection.Options{Owner: "test-runner", Retry: projection.RetryPolicy{Attempts: 1},
		LeaseTTL: 3 * time.Second}, p)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	stopRunner := sync.OnceFunc(func() {
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("runner: %v", err)
		}
	})
	defer stopRunner()
	head, err := st.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WaitFor(ctx, head, "counts"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, "blob", chronicle.Any, chronicle.EventData{Type: "Poison"}); err != nil {
		t.Fatal(err)
	}
	wait := func(what string, ok func(out string) bool, args ...string) string {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			code, out, errOut := run(t, cmd(args...)...)
			if code == 0 && ok(out) {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: exit %d, stdout:\n%s\nstderr: %s", what, code, out, errOut)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	out := wait("parked", func(out string) bool { return strings.Contains(out, "parked") && strings.Contains(out, "test-runner") }, "projections")
	for _, want := range []string{"NAME", "counts", "active", "parked", "test-runner"} {
		if !strings.Contains(out, want) {
			t.Errorf("projections: want %q in:\n%s", want, out)
		}
	}
	out = wait("parked list", func(out string) bool { return strings.Contains(out, "blob") }, "projections", "parked", "counts")
	if !strings.Contains(out, "cannot count poison") || !strings.Contains(out, "Poison") {
		t.Errorf("projections parked:\n%s", out)
	}
	// Retry through the command: the runner applies the held event, which
	// now succeeds, and the stream flows again.
	mu.Lock()
	poisoned = false
	mu.Unlock()
	if code, out, errOut := run(t, cmd("projections", "retry", "counts", "blob")...); code != 0 || !strings.Contains(out, "retry requested") {
		t.Fatalf("retry: exit %d, %q %q", code, out, errOut)
	}
	wait("retried", func(out string) bool {
		return strings.Contains(out, `"parked_streams":0`) && strings.Contains(out, `"lag_events":0`)
	},
		"projections", "--json")
	if code, _, errOut := run(t, cmd("projections", "skip", "counts", "order-1")...); code != exitFail || !strings.Contains(errOut, "not parked") {
		t.Errorf("skip of a stream that is not parked: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := run(t, cmd("projections", "reset", "nope")...); code != exitFail || !strings.Contains(errOut, "nope") {
		t.Errorf("reset of an unknown projection: exit %d, stderr %q", code, errOut)
	}
	// Reset through the command: the runner replays every event.
	before := count("order-1")
	if code, out, errOut := run(t, cmd("projections", "reset", "counts")...); code != 0 || !strings.Contains(out, "reset requested") {
		t.Fatalf("reset: exit %d, %q %q", code, out, errOut)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, out, _ := run(t, cmd("projections", "--json")...)
		if code == 0 && !strings.Contains(out, "reset_requested") && count("order-1") >= before+3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reset was not carried out:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Lag: events appended while no runner runs.
	stopRunner()
	if _, err := st.Append(ctx, "order-3", chronicle.Any, chronicle.EventData{Type: "OrderPlaced"}, chronicle.EventData{Type: "OrderPaid"}); err != nil {
		t.Fatal(err)
	}
	out = wait("lag", func(out string) bool { return strings.Contains(out, "2 events") }, "projections")
	if !strings.Contains(out, "stopped") {
		t.Errorf("projections after the runner stopped:\n%s", out)
	}
	if code, out, _ := run(t, cmd("info")...); code != 0 || !strings.Contains(out, "counts v1:") || !strings.Contains(out, "2 events behind") {
		t.Errorf("info: exit %d:\n%s", code, out)
	}
}
