package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// small are sizes that keep a full bench run to a few seconds, also under
// the race detector.
var small = []string{"--quick", "--events", "4000", "--batch", "500", "--streams", "20",
	"--w3-duration", "200ms", "--w4-duration", "200ms", "--w5-duration", "300ms",
	"--writers", "3", "--watchers", "4"}

func TestBenchUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nope"}, "unknown flag: --nope"},
		{[]string{"--events", "many"}, `invalid argument "many" for "--events"`},
		{[]string{"--workloads", "W1,W9"}, `unknown workload "W9"`},
		{[]string{"--workloads", "W2"}, "select W1 too"},
		{[]string{"--workloads", ","}, "empty"},
		{[]string{"--layout", "zigzag"}, "--layout"},
		{[]string{"--keys", "random"}, "--keys"},
		{[]string{"--events", "0"}, "--events"},
		{[]string{"--w3-duration", "0s"}, "durations"},
		{[]string{"--runs", "0"}, "--runs"},
		{[]string{"W1"}, `unexpected argument "W1"`},
	} {
		code, out, errOut := run(t, append([]string{"bench"}, tc.args...)...)
		if code != exitUsage {
			t.Errorf("bench %v: exit %d, want %d", tc.args, code, exitUsage)
		}
		if !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "chronicle bench --help") {
			t.Errorf("bench %v: want %q and a hint at --help on stderr, got:\n%s", tc.args, tc.want, errOut)
		}
		if out != "" {
			t.Errorf("bench %v: wrote to stdout:\n%s", tc.args, out)
		}
	}
}

func TestBenchJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the benchmark")
	}
	dir := t.TempDir()
	args := append([]string{"bench", "--json", "--workloads", "all", "--dir", dir, "--label", "test"}, small...)
	start := time.Now()
	code, out, errOut := run(t, args...)
	t.Logf("bench took %v", time.Since(start))
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s\nstdout:\n%s", code, errOut, out)
	}
	var ids []string
	for line := range strings.Lines(out) {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not a JSON line: %v\n%s", err, line)
		}
		id, _ := r["workload"].(string)
		ids = append(ids, id)
		for _, k := range []string{"events", "seconds", "events_per_s", "p50_us", "p99_us", "max_us", "max_rss_mib", "db_bytes"} {
			if v, ok := r[k].(float64); !ok || v <= 0 {
				t.Errorf("%s: %s = %v, want a positive number", id, k, r[k])
			}
		}
		for k, want := range map[string]any{"impl": "chronicle", "config": "sqlite", "label": "test", "run": 1.0, "ok": true} {
			if r[k] != want {
				t.Errorf("%s: %s = %v, want %v", id, k, r[k], want)
			}
		}
		for _, k := range []string{"latency_of", "sqlite", "layout", "keys"} {
			if s, _ := r[k].(string); s == "" {
				t.Errorf("%s: %s = %v, want a string", id, k, r[k])
			}
		}
		switch id {
		case "W1":
			if r["events"] != 4000.0 || r["latency_of"] != "batch" || r["batch"] != 500.0 || r["streams"] != 20.0 || r["layout"] != "blocks" {
				t.Errorf("W1: %s", line)
			}
		case "W2", "W2s":
			if r["events"] != 4000.0 || r["rows_ok"] != true {
				t.Errorf("%s: %s", id, line)
			}
		case "W5":
			if r["delivered_ok"] != true || r["deliveries"] != r["events"].(float64)*4 || r["writer_slowdown_pct"] == nil {
				t.Errorf("W5: %s", line)
			}
		case "W7":
			if r["events"] != 4001.0 || r["layout"] != "rr" || r["big_event_bytes"] != float64(1<<20) {
				t.Errorf("W7: %s", line)
			}
		}
	}
	want := []string{"W1", "W2", "W2s", "W3", "W4", "W5", "W6save", "W6load", "W7"}
	if !slices.Equal(ids, want) {
		t.Errorf("workloads %v, want %v", ids, want)
	}
	if errOut != "" {
		t.Errorf("stderr is not a terminal, yet got:\n%s", errOut)
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("left %d entries in --dir, e.g. %s", len(left), left[0].Name())
	}
}

func TestBenchTable(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the benchmark")
	}
	args := append([]string{"bench", "--workloads", "W1,W2,W6", "--runs", "2", "--layout", "single", "--dir", t.TempDir()}, small...)
	code, out, errOut := run(t, args...)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s\nstdout:\n%s", code, errOut, out)
	}
	for _, want := range []string{"chronicle bench: SQLite 3.", "RUN", "WORKLOAD", "SECONDS", "P50", "P99", "PEAK RSS MiB", "DB MiB", "Latency of:"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	rows := 0
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 2 && (f[0] == "1" || f[0] == "2") && strings.HasPrefix(f[1], "W") {
			rows++
			if !strings.Contains(line, " ok ") {
				t.Errorf("row not ok: %s", line)
			}
		}
	}
	if rows != 2*5 { // W1, W2, W2s, W6save, W6load twice
		t.Errorf("%d result rows, want 10:\n%s", rows, out)
	}
	if !strings.Contains(out, "append single layout, 1 streams, seq keys") {
		t.Errorf("W1 in the single layout should write one stream with seq keys:\n%s", out)
	}
}

func TestCancel(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the benchmark")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var out, errb bytes.Buffer
	args := []string{"bench", "--json", "--workloads", "W3", "--w3-duration", "1m", "--dir", dir}
	if code := Main(ctx, args, Env{Stdout: &out, Stderr: &errb}); code != exitInterrupted {
		t.Errorf("exit %d after the context ended, want %d", code, exitInterrupted)
	}
	if !strings.Contains(errb.String(), "interrupted") {
		t.Errorf("stderr:\n%s", errb.String())
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("left %s in --dir", left[0].Name())
	}
}

func TestHist(t *testing.T) {
	h := newHist()
	if h.quantile(0.5) != 0 || h.maximum() != 0 {
		t.Error("empty histogram")
	}
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, 1000 * time.Microsecond}, {0, time.Microsecond}} {
		got := h.quantile(tc.p)
		if d := float64(got-tc.want) / float64(tc.want); d < -0.005 || d > 0.005 {
			t.Errorf("quantile(%v) = %v, want %v within 0.5%%", tc.p, got, tc.want)
		}
	}
	if h.maximum() != time.Millisecond || h.mean() != 500500*time.Nanosecond {
		t.Errorf("max %v, mean %v", h.maximum(), h.mean())
	}
	for _, v := range []int64{0, 1, 255, 256, 257, 1000, 1 << 20, 1<<40 + 12345, 1<<62 + 1} {
		i := histBucket(v)
		if mid := histValue(i); histBucket(mid) != i {
			t.Errorf("value %d: bucket %d has midpoint %d in bucket %d", v, i, mid, histBucket(mid))
		}
		if i >= histBuckets {
			t.Errorf("value %d: bucket %d out of range", v, i)
		}
	}
	o := newHist()
	o.record(time.Second)
	h.merge(o)
	if h.n != 1001 || h.maximum() != time.Second {
		t.Errorf("merge: n %d, max %v", h.n, h.maximum())
	}
}

// TestGen checks the generator against cbench's output shapes.
func TestGen(t *testing.T) {
	g := newGen(3, 0, "stream-%06d", seedW1, 100, "uuid", typeDeposit)
	buf := make([]byte, 100)
	ev := g.event(2, buf)
	if len(ev.Data) != 100 || !json.Valid(ev.Data) || !bytes.HasPrefix(ev.Data, []byte(`{"account":"acc-000002","amount":`)) {
		t.Errorf("data %q", ev.Data)
	}
	if len(ev.ID) != 36 || ev.ID[14] != '4' || !strings.Contains("89ab", ev.ID[19:20]) {
		t.Errorf("ID %q is not a v4 UUID", ev.ID)
	}
	if g.names[2] != "stream-000002" || g.versions[2] != 1 || g.seq != 1 {
		t.Errorf("names %v versions %v seq %d", g.names, g.versions, g.seq)
	}
	g = newGen(1, 7, "w4-writer-%02d", 1, 10, "seq", typeIncrement)
	ev = g.event(0, buf)
	ev = g.event(0, buf)
	if ev.ID != "event-1" || string(ev.Data) != "xxxxxxxxxx" || g.names[0] != "w4-writer-07" {
		t.Errorf("event %+v, name %s", ev, g.names[0])
	}
	if thousands(1234567) != "1,234,567" || thousands(-1000) != "-1,000" || thousands(12) != "12" {
		t.Error("thousands")
	}
}
