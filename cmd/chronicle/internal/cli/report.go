package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chronicle-go/chronicle/sqlite"
)

// shape is what a result's data looked like: the fields cbench prints on
// every line, so that results are compared only when they match.
type shape struct {
	batch     int    // events per Append batch (1 for single-event appends)
	streams   int    // streams written
	layout    string // rr, blocks, single, per-writer
	dataBytes int
	keys      string // uuid, seq, none
}

// result is one line of output: one workload (or one half of W2 or W6) of
// one run.
type result struct {
	workload  string
	label     string // the workload's own label (W2: global, streams); --label replaces it
	what      string // a short description, for the table
	events    int64  // events, appends or snapshot calls
	unit      string // what events counts: events, appends, saves, loads
	seconds   float64
	lat       *hist
	latencyOf string // batch, page, append, delivery, save, load
	rssMiB    float64
	dbBytes   int64 // database file, -1 when not measured
	walBytes  int64 // its -wal file
	shape     shape
	extra     obj    // workload-specific JSON fields
	note      string // workload-specific text for the table
	failure   string // why the workload's check failed; "" when it passed
}

func (r *result) rate() float64 {
	if r.seconds <= 0 {
		return 0
	}
	return float64(r.events) / r.seconds
}

// obj is a JSON object that keeps its keys in order.
type obj []field

type field struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.k)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(f.v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.k, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// fixed is a float printed with prec decimals, as cbench prints them.
type fixed struct {
	v    float64
	prec int
}

func (f fixed) MarshalJSON() ([]byte, error) {
	v := f.v
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	return strconv.AppendFloat(nil, v, 'f', f.prec, 64), nil
}

func us(d time.Duration) fixed { return fixed{float64(d) / 1e3, 1} }
func ms(d time.Duration) fixed { return fixed{float64(d) / 1e6, 3} }

// jsonLine builds r's JSON line: cbench's fields first, in cbench's order,
// then the workload's extras.
func (b *bench) jsonLine(r *result) obj {
	label := r.label
	if b.cfg.label != "" {
		label = b.cfg.label
	}
	o := obj{
		{"impl", "chronicle"},
		{"config", "sqlite"},
		{"label", label},
		{"workload", r.workload},
		{"run", b.run},
		{"events", r.events},
		{"seconds", fixed{r.seconds, 4}},
		{"events_per_s", fixed{r.rate(), 0}},
		{"p50_us", us(r.lat.quantile(0.50))},
		{"p99_us", us(r.lat.quantile(0.99))},
		{"max_us", us(r.lat.maximum())},
		{"latency_of", r.latencyOf},
		{"sqlite", b.sqlite},
		{"engine", sqlite.Engine},
		{"synchronous", b.cfg.sync},
		{"max_rss_mib", fixed{r.rssMiB, 1}},
		{"batch", r.shape.batch},
		{"streams", r.shape.streams},
		{"layout", r.shape.layout},
		{"data_bytes", r.shape.dataBytes},
		{"keys", r.shape.keys},
		{"unit", r.unit},
		{"samples", r.lat.n},
		{"mean_us", us(r.lat.mean())},
	}
	if r.dbBytes >= 0 {
		o = append(o, field{"db_bytes", r.dbBytes + r.walBytes}, field{"wal_bytes", r.walBytes})
	}
	o = append(o, r.extra...)
	o = append(o, field{"ok", r.failure == ""})
	if r.failure != "" {
		o = append(o, field{"failure", r.failure})
	}
	o = append(o, field{"go", runtime.Version()}, field{"cpus", runtime.NumCPU()})
	return o
}

// emit reports a result: at once as a JSON line, or at the end in the table.
func (b *bench) emit(r *result) error {
	if r.failure != "" {
		b.failed = append(b.failed, fmt.Sprintf("run %d %s: %s", b.run, r.workload, r.failure))
	}
	b.prog.clear()
	if !b.cfg.json {
		b.results = append(b.results, &resultRun{result: r, run: b.run})
		return nil
	}
	line, err := json.Marshal(b.jsonLine(r))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(b.stdout, "%s\n", line)
	return err
}

type resultRun struct {
	*result
	run int
}

// printTable prints the results collected so far as an aligned table.
func (b *bench) printTable() {
	w := b.stdout
	fmt.Fprintf(w, "chronicle bench: SQLite %s (%s engine), %s %s/%s, %d CPUs", b.sqlite, sqlite.Engine, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	if b.cfg.label != "" {
		fmt.Fprintf(w, ", label %q", b.cfg.label)
	}
	fmt.Fprint(w, "\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	cols := []string{"WORKLOAD", "WHAT", "COUNT", "SECONDS", "RATE", "LATENCY OF", "P50", "P99", "MAX", "PEAK RSS MiB", "DB MiB", "CHECK", "NOTES"}
	if b.cfg.runs > 1 {
		cols = append([]string{"RUN"}, cols...)
	}
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, r := range b.results {
		check := "ok"
		if r.failure != "" {
			check = "FAILED"
		}
		db := "-"
		if r.dbBytes >= 0 {
			db = fmt.Sprintf("%.1f", float64(r.dbBytes+r.walBytes)/(1<<20))
		}
		row := []string{
			r.workload, r.what,
			thousands(r.events) + " " + r.unit,
			fmt.Sprintf("%.2f", r.seconds),
			thousands(int64(math.Round(r.rate()))) + "/s",
			r.latencyOf,
			human(r.lat.quantile(0.50)), human(r.lat.quantile(0.99)), human(r.lat.maximum()),
			fmt.Sprintf("%.0f", r.rssMiB), db, check, r.note,
		}
		if b.cfg.runs > 1 {
			row = append([]string{strconv.Itoa(r.run)}, row...)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	fmt.Fprint(w, `
Latency of: batch = one W1/W7 batch, all its Append calls; page = 1,000 events
read; append = one Append call; delivery = from an append's start to a
watcher's receipt of the event; save/load = one snapshot call. Rates count
COUNT over SECONDS, which for W1, W3 and W6 sums the timed calls (untimed
event generation is left out) and for W2, W4 and W5 is wall time. PEAK RSS is
the process's peak during the workload; DB MiB includes the -wal file.
`)
}

// thousands formats n with comma separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// human formats a latency with three significant digits.
func human(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e3, 'f', prec3(float64(d)/1e3), 64) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/1e6, 'f', prec3(float64(d)/1e6), 64) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', prec3(d.Seconds()), 64) + "s"
}

func prec3(v float64) int {
	switch {
	case v >= 100:
		return 0
	case v >= 10:
		return 1
	}
	return 2
}
