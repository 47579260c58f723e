package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/chronicle-go/chronicle/sqlite"
	"github.com/jackc/pgx/v5"
)

// TestTransferBench measures export, import and copy on a store of
// CHRONICLE_CLI_BENCH_EVENTS events (default 1,000,000) over 1,000
// streams with 100-byte JSON data, appended 10 events at a time, stream
// after stream, so that the streams interleave in the global stream. Each
// measurement runs CHRONICLE_CLI_BENCH_RUNS times (default 3) and reports
// the runs and their median: events/s and peak RSS (VmHWM, reset before
// each run, of this process). With CHRONICLE_TEST_POSTGRES_URL it also
// copies into PostgreSQL and measures, for comparison, the PostgreSQL
// store's own Append rate for the same events, in batches of the mean size
// copy used and of 1,000, from one goroutine and from --parallel ones.
//
//	CHRONICLE_CLI_BENCH=1 CHRONICLE_TEST_POSTGRES_URL=postgres://… \
//	  go test -run TestTransferBench -v -timeout 2h ./cmd/chronicle/internal/cli
//
// CHRONICLE_CLI_BENCH_DIR keeps the source store there for the next run;
// CHRONICLE_CLI_BENCH_PARALLEL (e.g. "1,4,8") runs import and copy with
// each --parallel (default the default); CHRONICLE_CLI_BENCH_PHASES
// (default "export,import,copy-sqlite,copy-pg,append") selects the
// measurements.
func TestTransferBench(t *testing.T) {
	if os.Getenv("CHRONICLE_CLI_BENCH") != "1" {
		t.Skip("set CHRONICLE_CLI_BENCH=1 to measure export, import and copy on 1,000,000 events")
	}
	events := benchEnvInt(t, "CHRONICLE_CLI_BENCH_EVENTS", 1_000_000)
	runs := benchEnvInt(t, "CHRONICLE_CLI_BENCH_RUNS", 3)
	const streams, chunk, dataBytes = 1000, 10, 100
	parallel := []string{strconv.Itoa(defaultParallel)}
	if p := os.Getenv("CHRONICLE_CLI_BENCH_PARALLEL"); p != "" {
		parallel = strings.Split(p, ",")
	}
	phases := os.Getenv("CHRONICLE_CLI_BENCH_PHASES")
	if phases == "" {
		phases = "export,import,copy-sqlite,copy-pg,append"
	}
	phase := func(name string) bool { return slices.Contains(strings.Split(phases, ","), name) }
	pgURL := os.Getenv("CHRONICLE_TEST_POSTGRES_URL")
	if pgURL == "" && (phase("copy-pg") || phase("append")) {
		t.Log("CHRONICLE_TEST_POSTGRES_URL is not set: no measurements on PostgreSQL")
	}
	ctx := t.Context()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	if keep := os.Getenv("CHRONICLE_CLI_BENCH_DIR"); keep != "" {
		// The source is kept there, and used again by the next run.
		src = filepath.Join(keep, fmt.Sprintf("src-%d.db", events))
	}
	if _, err := os.Stat(src); err != nil {
		start := time.Now()
		if err := benchSource(ctx, src+".new", events, streams, chunk, dataBytes); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(src+".new", src); err != nil {
			t.Fatal(err)
		}
		t.Logf("source: %d events, %d streams, %d-event appends, in %v", events, streams, chunk, time.Since(start).Round(time.Millisecond))
	}

	var table []string
	// measure runs fn runs times and logs each run and the medians.
	measure := func(name string, fn func(run int) error) {
		var rates, rss []float64
		for r := 1; r <= runs; r++ {
			resetPeakRSS()
			start := time.Now()
			err := fn(r)
			d := time.Since(start)
			peak := peakRSSMiB()
			if err != nil {
				t.Fatalf("%s run %d: %v", name, r, err)
			}
			rates = append(rates, float64(events)/d.Seconds())
			rss = append(rss, peak)
			t.Logf("%-42s run %d: %v, %.0f events/s, peak RSS %.0f MiB", name, r, d.Round(time.Millisecond), rates[r-1], peak)
		}
		line := fmt.Sprintf("%-42s median %7.0f events/s (runs %s), peak RSS median %3.0f MiB (max %3.0f)",
			name, median(rates), fmtRates(rates), median(rss), slices.Max(rss))
		t.Log(line)
		table = append(table, line)
	}
	// cli runs the command and returns its stdout; appends, the mean
	// batch of its last import or copy.
	var batch int
	cli := func(args ...string) error {
		code, out, errOut := runCtx(ctx, strings.NewReader(""), args...)
		if code != 0 {
			return fmt.Errorf("%q: exit %d: %s", args, code, errOut)
		}
		t.Log(strings.TrimSpace(out))
		if m := appendsRE.FindStringSubmatch(out); m != nil {
			written, _ := strconv.Atoi(m[1])
			appends, _ := strconv.Atoi(m[2])
			batch = written / appends
		}
		return nil
	}

	file := filepath.Join(dir, "export.jsonl")
	if phase("export") || phase("import") {
		measure("export SQLite → file", func(int) error { return cli("--db", src, "export", "-o", file) })
		if fi, err := os.Stat(file); err == nil {
			t.Logf("export file: %d bytes", fi.Size())
		}
	}
	for _, p := range parallel {
		if phase("import") {
			measure("import file → SQLite --parallel "+p, func(r int) error {
				dst := filepath.Join(dir, fmt.Sprintf("import-%s-%d.db", p, r))
				defer removeSQLite(dst)
				return cli("--db", dst, "import", file, "--parallel", p)
			})
		}
		if phase("copy-sqlite") {
			measure("copy SQLite → SQLite --parallel "+p, func(r int) error {
				dst := filepath.Join(dir, fmt.Sprintf("copy-%s-%d.db", p, r))
				defer removeSQLite(dst)
				return cli("copy", "--from", src, "--to", dst, "--parallel", p)
			})
		}
		if phase("copy-pg") && pgURL != "" {
			measure("copy SQLite → PostgreSQL --parallel "+p, func(r int) error {
				schema := fmt.Sprintf("cli_bench_copy_%s_%d", p, r)
				benchDropSchema(t, pgURL, schema)
				defer benchDropSchema(t, pgURL, schema)
				return cli("copy", "--from", src, "--to", pgURL, "--to-schema", schema, "--parallel", p)
			})
		}
	}
	if phase("append") && pgURL != "" {
		if batch == 0 {
			batch = defaultBatch
		}
		t.Logf("PostgreSQL Append: batches of %d events (the mean batch of the last import or copy) and of %d", batch, defaultBatch)
		for _, b := range []int{batch, defaultBatch} {
			for _, g := range []int{1, defaultParallel} {
				measure(fmt.Sprintf("PostgreSQL Append batch %d, %d goroutines", b, g), func(r int) error {
					schema := fmt.Sprintf("cli_bench_append_%d", r)
					benchDropSchema(t, pgURL, schema)
					defer benchDropSchema(t, pgURL, schema)
					st, err := postgres.Open(ctx, pgURL, &postgres.Options{Schema: schema})
					if err != nil {
						return err
					}
					defer st.Close()
					return appendAll(ctx, st, events, streams, b, dataBytes, g)
				})
			}
		}
	}
	t.Log("summary:\n" + strings.Join(table, "\n"))
}

func fmtRates(rates []float64) string {
	var s []string
	for _, r := range rates {
		s = append(s, strconv.FormatFloat(r, 'f', 0, 64))
	}
	return strings.Join(s, ", ")
}

func removeSQLite(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		_ = os.Remove(p)
	}
}

var appendsRE = regexp.MustCompile(`: (\d+) written \(in (\d+) appends\)`)

// benchSource creates the measured store: events over streams, appended
// chunk events at a time, stream after stream.
func benchSource(ctx context.Context, path string, events, streams, chunk, dataBytes int) (err error) {
	st, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); err == nil {
			err = cerr
		}
	}()
	return appendAll(ctx, st, events, streams, chunk, dataBytes, 1)
}

// appendAll appends events over streams, batch events at a time per
// stream, stream after stream, from goroutines goroutines that share the
// streams out.
func appendAll(ctx context.Context, st *chronicle.Store, events, streams, batch, dataBytes, goroutines int) error {
	perStream := events / streams
	var wg sync.WaitGroup
	errs := make([]error, goroutines)
	for w := range goroutines {
		wg.Go(func() {
			errs[w] = appendShare(ctx, st, w, goroutines, perStream, streams, batch, dataBytes)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// appendShare appends the events of every goroutines-th stream from
// stream first.
func appendShare(ctx context.Context, st *chronicle.Store, first, goroutines, perStream, streams, batch, dataBytes int) error {
	for v := 0; v < perStream; v += batch {
		for s := first; s < streams; s += goroutines {
			n := min(batch, perStream-v)
			if _, err := st.Append(ctx, benchStream(s), chronicle.Exactly(int64(v)), benchEvents(s, v, n, dataBytes)...); err != nil {
				return err
			}
		}
	}
	return nil
}

func benchStream(s int) string { return fmt.Sprintf("account-%04d", s) }

// benchEvents returns n events of stream s from version v+1, each with
// dataBytes of JSON data.
func benchEvents(s, v, n, dataBytes int) []chronicle.EventData {
	out := make([]chronicle.EventData, n)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range out {
		version := v + i + 1
		data := fmt.Appendf(nil, `{"stream":%d,"version":%d,"pad":"`, s, version)
		for len(data) < dataBytes-2 {
			data = append(data, 'x')
		}
		data = append(data, `"}`...)
		out[i] = chronicle.EventData{
			ID:   fmt.Sprintf("%08x-0000-4000-8000-%012x", s, version),
			Type: "Deposited", Data: data,
			Time: t0.Add(time.Duration(version) * time.Second),
		}
	}
	return out
}

func benchEnvInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// benchDropSchema drops a schema of the measurements, if it is there.
func benchDropSchema(t *testing.T, url, schema string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
		t.Fatal(err)
	}
}
