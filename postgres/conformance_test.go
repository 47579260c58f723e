package postgres_test

import (
	"testing"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/chronicle-go/chronicle/storetest"
)

func TestConformance(t *testing.T) {
	testURL(t)
	storetest.Run(t, func(t *testing.T) *chronicle.Store { return openT(t, nil) })
}

// TestConformanceSmallPages runs the suite with pages of 3 events, so every
// read crosses page boundaries, and without LISTEN, so watches of other
// stores rely on the poll.
func TestConformanceSmallPages(t *testing.T) {
	testURL(t)
	storetest.Run(t, func(t *testing.T) *chronicle.Store {
		return openT(t, &postgres.Options{MaxConns: 4, PageSize: 3, DisableListen: true, PollInterval: 20e6})
	})
}

// TestConformanceReplicaURL runs the suite with reads routed through
// Options.ReplicaURL (here the primary itself: no standby on the test
// machine), so the routing of every read is exercised.
func TestConformanceReplicaURL(t *testing.T) {
	url := testURL(t)
	storetest.Run(t, func(t *testing.T) *chronicle.Store {
		return openT(t, &postgres.Options{MaxConns: 4, ReplicaURL: url})
	})
}
