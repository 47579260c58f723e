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

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress writes a one-line status to a terminal, rewriting it in place,
// at most every 100 ms; it does nothing when off.
type progress struct {
	mu   sync.Mutex
	w    io.Writer
	on   bool
	last time.Time
	line bool // a status line is showing
}

func (p *progress) update(format string, args ...any) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond {
		p.last = now
		fmt.Fprintf(p.w, "\r"+format+"\033[K", args...)
		p.line = true
	}
}

// clear removes the status line.
func (p *progress) clear() {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.line {
		fmt.Fprint(p.w, "\r\033[K")
		p.line = false
	}
	p.last = time.Time{}
}
