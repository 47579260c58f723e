package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
)

// BenchmarkW3Parts splits the cost of one single-event append (the bench's
// W3: one writer, an exact expectation, 1,000 streams in turn, a fresh
// store) into its parts, each on a store file of its own, and reports the
// median and 99th percentile per append:
//
//   - cbench-sql: the four statements that ../shared/perf's C harness runs
//     per append (BEGIN IMMEDIATE, max(version), a one-row INSERT, COMMIT),
//     on the writer connection: the engine and the driver alone;
//   - append-sql: the statements an append runs (the stream's version and
//     the head, the idempotency look-up, the INSERT, the stream's row), between
//     the same BEGIN and COMMIT, on the writer connection;
//   - backend: Backend.Append (adds the group-commit path and the file check);
//   - store: Store.Append (adds validation and the event's time).
//
// Run it with and without -tags chronicle_cgo to compare SQLite compiled
// to Go with native SQLite.
func BenchmarkW3Parts(b *testing.B) {
	data := make([]byte, 100)
	for i := range data {
		data[i] = 'x'
	}
	streams := make([]string, 1000)
	for i := range streams {
		streams[i] = fmt.Sprintf("stream-%06d", i)
	}
	now := time.Now().UnixNano()
	run := func(b *testing.B, one func(bk *Backend, st *chronicle.Store, i int, versions []int64) error) {
		bk, err := OpenBackend(context.Background(), filepath.Join(b.TempDir(), "w3.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		st, err := chronicle.New(bk, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		versions := make([]int64, len(streams))
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			t0 := time.Now()
			if err := one(bk, st, i, versions); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			versions[i%len(streams)]++
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
	// raw runs sql between BEGIN IMMEDIATE and COMMIT on the writer
	// connection, as a group of one would.
	raw := func(sql func(w *conn, i int, versions []int64) error) func(*Backend, *chronicle.Store, int, []int64) error {
		return func(bk *Backend, _ *chronicle.Store, i int, versions []int64) error {
			bk.wmu.Lock()
			defer bk.wmu.Unlock()
			w := bk.writer
			if err := w.exec("BEGIN IMMEDIATE"); err != nil {
				return err
			}
			if err := sql(w, i, versions); err != nil {
				return err
			}
			if err := w.exec("COMMIT"); err != nil {
				return err
			}
			bk.committed(w)
			return nil
		}
	}
	b.Run("cbench-sql", func(b *testing.B) {
		run(b, raw(func(w *conn, i int, _ []int64) error {
			s := streams[i%len(streams)]
			var v int64
			if _, err := w.row("SELECT coalesce(max(version), 0) FROM chronicle_events WHERE stream = ?", []*int64{&v}, s); err != nil {
				return err
			}
			return w.exec("INSERT OR ROLLBACK INTO chronicle_events (stream, version, type, data, meta, id, keyed, ts) VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
				s, v+1, "Deposit", data, nil, fmt.Sprintf("key-%d", i), now)
		}))
	})
	b.Run("append-sql", func(b *testing.B) {
		run(b, raw(func(w *conn, i int, _ []int64) error {
			s := streams[i%len(streams)]
			var cur, head, pos int64
			if _, err := w.row(sqlVersionHead, []*int64{&cur, &head}, s); err != nil {
				return err
			}
			id := fmt.Sprintf("key-%d", i)
			if _, err := w.row("SELECT position FROM chronicle_events WHERE keyed = 1 AND stream = ? AND id IN (?)", []*int64{&pos}, s, id); err != nil {
				return err
			}
			if err := w.exec("INSERT OR ROLLBACK INTO chronicle_events (position, stream, version, type, data, meta, id, keyed, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
				head+1, s, cur+1, "Deposit", data, nil, id, int64(1), now); err != nil {
				return err
			}
			return w.exec(sqlUpsertStream, s, cur+1, now, now)
		}))
	})
	b.Run("backend", func(b *testing.B) {
		run(b, func(bk *Backend, _ *chronicle.Store, i int, versions []int64) error {
			s := i % len(streams)
			_, err := bk.Append(context.Background(), &chronicle.AppendParams{
				Stream: streams[s], Expect: chronicle.Exactly(versions[s]),
				Events: []chronicle.PreparedEvent{{ID: fmt.Sprintf("key-%d", i), Keyed: true, Type: "Deposit", Data: data, Time: time.Unix(0, now).UTC()}},
			})
			return err
		})
	})
	b.Run("store", func(b *testing.B) {
		run(b, func(_ *Backend, st *chronicle.Store, i int, versions []int64) error {
			s := i % len(streams)
			_, err := st.Append(context.Background(), streams[s], chronicle.Exactly(versions[s]),
				chronicle.EventData{ID: fmt.Sprintf("key-%d", i), Type: "Deposit", Data: data})
			return err
		})
	})
}
