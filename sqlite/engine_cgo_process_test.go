//go:build chronicle_cgo && cgo

package sqlite_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestCrossProcessMixedEngines runs TestCrossProcessWatch's load with this
// native build in the parent and the pure-Go build in the children: both
// engines lock and share one file correctly across processes.
func TestCrossProcessMixedEngines(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and spawns processes")
	}
	bin := filepath.Join(t.TempDir(), "purego.test")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if out, err := exec.Command(gobin, "test", "-c", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building the pure-Go test binary: %v\n%s", err, out)
	}
	crossProcess(t, bin)
}
