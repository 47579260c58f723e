package main

import (
	"bytes"
	"regexp"
	"testing"
)

// TestRunOnce runs the example as `-once` does and checks the samples it
// scraped from its own /metrics.
func TestRunOnce(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-once", "-addr", "127.0.0.1:0"}, &out); err != nil {
		t.Fatal(err)
	}
	t.Logf("scraped:\n%s", out.String())
	for _, want := range []string{
		`(?m)^chronicle_append_events_total\{db_system_name="sqlite",[^}]*\} 10$`,
		`(?m)^chronicle_append_errors_total\{db_system_name="sqlite",error_type="conflict",[^}]*\} 1$`,
		`(?m)^chronicle_append_duration_seconds_count\{db_system_name="sqlite",[^}]*\} 10$`,
		`(?m)^chronicle_append_bytes_total\{db_system_name="sqlite",[^}]*\} 120$`,
		`(?m)^chronicle_read_events_total\{chronicle_read_target="stream",chronicle_read_watch="false",db_system_name="sqlite",[^}]*\} 2$`,
		`(?m)^chronicle_watch_active\{chronicle_watch_target="all",db_system_name="sqlite",[^}]*\} 1$`,
		`(?m)^chronicle_group_commit_events_sum\{db_system_name="sqlite",[^}]*\} 10$`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("no line matches %s", want)
		}
	}
}
