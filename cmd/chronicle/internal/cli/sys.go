package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// resetPeakRSS returns freed memory to the OS and resets the kernel's peak
// RSS mark (VmHWM) to the current RSS, so that the next peakRSSMiB covers
// what runs in between. On systems without /proc/self/clear_refs the mark
// is not reset and the peak is the process's so far.
func resetPeakRSS() {
	debug.FreeOSMemory() // a GC, then give the freed heap back
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSSMiB reads VmHWM from /proc/self/status; 0 when unavailable.
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest) // "12345", "kB"
		if len(f) == 0 {
			return 0
		}
		kb, err := strconv.ParseFloat(string(f[0]), 64)
		if err != nil {
			return 0
		}
		return kb / 1024
	}
	return 0
}

// fileSizes returns the sizes of a database file and its -wal file (0 when
// missing).
func fileSizes(db string) (main, wal int64) {
	if fi, err := os.Stat(db); err == nil {
		main = fi.Size()
	}
	if fi, err := os.Stat(db + "-wal"); err == nil {
		wal = fi.Size()
	}
	return main, wal
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress shows a one-line status on a terminal, with a spinner and the
// time spent, rewritten in place at most every 100 ms; it does nothing when
// off (stderr is not a terminal, or the output is JSON).
type progress struct {
	mu  sync.Mutex
	bar *progressbar.ProgressBar // nil when off
}

func newProgress(w io.Writer, on bool) *progress {
	if !on || !isTerminal(w) {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetRenderBlankState(false),
	)}
}

func (p *progress) update(format string, args ...any) {
	if p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar.Describe(fmt.Sprintf(format, args...))
	_ = p.bar.Add(1)
}

// clear removes the status line.
func (p *progress) clear() {
	if p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.bar.Clear()
}

// bar is a progress bar with a count, a rate and an ETA, on a terminal
// only: newBar returns a bar that does nothing when w is not a terminal or
// when off (--json output, or a command that has no total to show). Its
// methods are safe for concurrent use.
type bar struct {
	pb *progressbar.ProgressBar // nil when off
}

// newBar shows a bar of total units (events; -1 when unknown) described
// by desc.
func newBar(w io.Writer, total int64, desc string, on bool) *bar {
	if !on || !isTerminal(w) {
		return &bar{}
	}
	return &bar{pb: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("events"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	)}
}

// add counts n more units done.
func (b *bar) add(n int) {
	if b.pb != nil {
		_ = b.pb.Add(n)
	}
}

// done removes the bar.
func (b *bar) done() {
	if b.pb != nil {
		_ = b.pb.Finish()
		_ = b.pb.Clear()
	}
}
