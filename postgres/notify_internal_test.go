package postgres

import (
	"testing"
	"time"
)

func TestParsePayload(t *testing.T) {
	for _, tc := range []struct {
		payload string
		xid     uint64
		from    string
		since   time.Time
	}{
		{"42 STORE 1700000000000000001", 42, "STORE", time.Unix(0, 1700000000000000001)},
		{"42 STORE", 42, "STORE", time.Time{}},   // an earlier version's
		{"42 STORE 0", 42, "STORE", time.Time{}}, // nothing to announce had a time
		{"42 STORE x", 42, "STORE", time.Time{}},
		{"", 0, "", time.Time{}},
	} {
		xid, from, since := parsePayload(tc.payload)
		if xid != tc.xid || from != tc.from || !since.Equal(tc.since) {
			t.Errorf("parsePayload(%q) = %d, %q, %v; want %d, %q, %v", tc.payload, xid, from, since, tc.xid, tc.from, tc.since)
		}
	}
}
