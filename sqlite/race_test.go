//go:build race

package sqlite_test

// raceEnabled is true in builds with the race detector.
const raceEnabled = true
