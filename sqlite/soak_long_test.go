//go:build chronicle_soak

package sqlite_test

import "time"

// soakDuration is TestSoak's length with -tags chronicle_soak.
const soakDuration = 10 * time.Minute
