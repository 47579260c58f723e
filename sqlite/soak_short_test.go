//go:build !chronicle_soak

package sqlite_test

import "time"

// soakDuration is TestSoak's length: the short version that CI runs. Build
// with -tags chronicle_soak for the 10-minute one.
const soakDuration = 30 * time.Second
