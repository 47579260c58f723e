package memback_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/internal/memback"
	"github.com/chronicle-go/chronicle/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *chronicle.Store {
		s, err := memback.Open()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}

// TestConformanceSmallPages runs the suite with pages of 3 events, so that
// every read, watch and listing crosses many page boundaries.
func TestConformanceSmallPages(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *chronicle.Store {
		s, err := chronicle.New(memback.New(), &chronicle.Options{PageSize: 3})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}
