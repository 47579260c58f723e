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

// TestConformanceHotStandby runs the suite with reads on a real hot
// standby of the test cluster (CHRONICLE_TEST_POSTGRES_REPLICA_URL, the same
// database on a streaming replica): a read after an append must see it
// although the standby replays the primary's changes a little later.
func TestConformanceHotStandby(t *testing.T) {
	testURL(t)
	replica := testReplicaURL(t)
	storetest.Run(t, func(t *testing.T) *chronicle.Store {
		return openT(t, &postgres.Options{MaxConns: 4, ReplicaURL: replica})
	})
}
