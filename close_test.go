package chronicle_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
)

type slowClose struct {
	*sqlite.Backend
	closed atomic.Bool
}

func (b *slowClose) Close() error {
	time.Sleep(200 * time.Millisecond)
	err := b.Backend.Close()
	b.closed.Store(true)
	return err
}

// A second, concurrent Close returns only once the first has closed the
// backend.
func TestConcurrentCloseWaits(t *testing.T) {
	b, err := sqlite.OpenBackend(t.Context(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	sb := &slowClose{Backend: b}
	s, err := chronicle.New(sb, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Close() })
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !sb.closed.Load() {
		t.Errorf("second Close returned before the backend was closed")
	}
	wg.Wait()
}
