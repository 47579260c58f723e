package sqlite_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
)

// TestLargeEvent: a 16 MiB event is written and read back intact through
// Read, ReadAll and a live watch.
func TestLargeEvent(t *testing.T) {
	ctx := t.Context()
	s := openT(t, filepath.Join(t.TempDir(), "big.db"), nil)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	data[0], data[len(data)-1] = '[', ']'

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watched := make(chan chronicle.Event, 1)
	go func() {
		for ev, err := range s.Watch(wctx, "big", 0, nil) {
			if err == nil {
				watched <- ev
			}
			return
		}
	}()
	if _, err := s.Append(ctx, "big", chronicle.NoStream, chronicle.EventData{Type: "Big", Data: data}); err != nil {
		t.Fatal(err)
	}
	check := func(how string, ev chronicle.Event) {
		t.Helper()
		if !bytes.Equal(ev.Data, data) {
			t.Errorf("%s: %d bytes back, want %d intact", how, len(ev.Data), len(data))
		}
	}
	for ev, err := range s.Read(ctx, "big", 0, nil) {
		if err != nil {
			t.Fatal(err)
		}
		check("Read", ev)
	}
	all := readAll(t, s)
	if len(all) != 1 {
		t.Fatalf("ReadAll: %d events", len(all))
	}
	check("ReadAll", all[0])
	check("Watch", <-watched)
}

// TestSizeLimits: an event or a batch over the configured limits fails
// with ErrInvalid, names the limit, and writes nothing of the batch.
func TestSizeLimits(t *testing.T) {
	ctx := t.Context()
	s := openT(t, filepath.Join(t.TempDir(), "limits.db"), &sqlite.Options{MaxEventBytes: 1000, MaxBatchBytes: 5000})
	ok := chronicle.EventData{Type: "Fits", Data: bytes.Repeat([]byte("x"), 600), Metadata: []byte(`{"k":"` + strings.Repeat("m", 392) + `"}`)}
	if n := len(ok.Data) + len(ok.Metadata); n != 1000 {
		t.Fatalf("fixture: %d bytes", n)
	}
	for _, tc := range []struct {
		name  string
		batch []chronicle.EventData
		limit string
	}{
		{"event over MaxEventBytes", []chronicle.EventData{ok, {Type: "Big", Data: bytes.Repeat([]byte("x"), 1001)}}, "MaxEventBytes"},
		{"metadata counts too", []chronicle.EventData{{Type: "Big", Data: make([]byte, 990), Metadata: []byte(`{"k":"abcdefgh"}`)}}, "MaxEventBytes"},
		{"batch over MaxBatchBytes", []chronicle.EventData{ok, ok, ok, ok, ok, ok}, "MaxBatchBytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Append(ctx, "s", chronicle.Any, tc.batch...)
			var ve *chronicle.ValidationError
			if !errors.Is(err, chronicle.ErrInvalid) || !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.limit) {
				t.Fatalf("Append: %v, want a ValidationError naming %s", err, tc.limit)
			}
			info, err := s.StreamInfo(ctx, "s")
			if err != nil || info.Version != 0 {
				t.Fatalf("after the refused append: %+v, %v", info, err)
			}
		})
	}
	if _, err := s.Append(ctx, "s", chronicle.NoStream, ok, ok, ok, ok, ok); err != nil {
		t.Fatalf("a batch exactly at both limits: %v", err)
	}
	if _, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "bad.db"), &sqlite.Options{MaxEventBytes: -1}); !errors.Is(err, chronicle.ErrInvalid) {
		t.Errorf("negative MaxEventBytes: %v", err)
	}
}

// TestEngineMemory: the default engine writes events up to the 64 MiB it
// allows, several at once and several in one append, again and again, and
// many large events of one append go in statements small enough for it.
// Open refuses a larger limit there.
func TestEngineMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1 GiB of 64 MiB values")
	}
	ctx := t.Context()
	if _, err := sqlite.Open(ctx, "", &sqlite.Options{MaxEventBytes: 65 << 20}); !errors.Is(err, chronicle.ErrInvalid) {
		t.Fatalf("Open in memory with MaxEventBytes 65 MiB: %v, want ErrInvalid", err)
	}
	s := openT(t, "", nil) // in memory: always the default engine
	big := func(b byte) chronicle.EventData {
		return chronicle.EventData{Type: "Big", Data: bytes.Repeat([]byte{b}, chronicle.DefaultMaxEventBytes)}
	}
	for round := range 2 {
		errs := make(chan error, 4)
		for w := range cap(errs) {
			go func() {
				_, err := s.Append(ctx, fmt.Sprintf("w-%d", w), chronicle.Any, big(byte('a'+round)))
				errs <- err
			}()
		}
		for range cap(errs) {
			if err := <-errs; err != nil {
				t.Fatalf("round %d of 4 concurrent 64 MiB appends: %v", round, err)
			}
		}
	}
	for i := range 2 {
		if _, err := s.Append(ctx, "pair", chronicle.Any, big('x'), big('y')); err != nil {
			t.Fatalf("append %d of two 64 MiB events: %v", i+1, err)
		}
	}
	var many []chronicle.EventData // 1.5 MiB each: two to a statement
	for i := range 12 {
		many = append(many, chronicle.EventData{Type: "Big", Data: bytes.Repeat([]byte{byte('a' + i)}, 3<<19)})
	}
	if _, err := s.Append(ctx, "many", chronicle.NoStream, many...); err != nil {
		t.Fatal(err)
	}
	n := 0
	for ev, err := range s.Read(ctx, "many", 0, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ev.Data, many[n].Data) {
			t.Fatalf("event %d: %d bytes back, not as written", n+1, len(ev.Data))
		}
		n++
	}
	if n != len(many) {
		t.Fatalf("read %d events, want %d", n, len(many))
	}
}

// TestEngineOutOfMemory: with a Store limit above what the default engine
// writes, an event too large fails its append with an error instead of
// crashing, writes nothing, and the store goes on.
func TestEngineOutOfMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("binds a 700 MiB value (a test of memory, not of concurrency)")
	}
	ctx := t.Context()
	b, err := sqlite.OpenBackend(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := chronicle.New(b, &chronicle.Options{MaxEventBytes: chronicle.LimitBytes, MaxBatchBytes: chronicle.LimitBytes})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Append(ctx, "big", chronicle.NoStream, chronicle.EventData{Type: "Big", Data: make([]byte, 700<<20)}); err == nil ||
		!strings.Contains(err.Error(), "out of memory") {
		t.Fatalf("appending 700 MiB: %v, want an out-of-memory error", err)
	}
	if res, err := s.Append(ctx, "big", chronicle.NoStream, chronicle.EventData{Type: "Small"}); err != nil || res.Version != 1 {
		t.Fatalf("appending after the failure: %+v, %v", res, err)
	}
}

// TestUnicodeAndHostileNames: stream names and types in many scripts, and
// values that look like SQL or LIKE patterns, round-trip and match only
// themselves in filters.
func TestUnicodeAndHostileNames(t *testing.T) {
	ctx := t.Context()
	s := openT(t, filepath.Join(t.TempDir(), "names.db"), nil)
	names := []string{
		"日本語-ストリーム", "поток", "دفق", "🙂🚀-stream", "e\u0301 combining", "ﬁ-ligature",
		"it's", `quote"d`, "x' OR '1'='1", "%", "_", "a%b_c", `back\slash`, "semi;colon --",
	}
	for _, n := range names {
		if _, err := s.Append(ctx, n, chronicle.NoStream, chronicle.EventData{Type: n, Metadata: []byte(`{"tag":` + jsonString(n) + `}`)}); err != nil {
			t.Fatalf("Append to %q: %v", n, err)
		}
	}
	listed := map[string]bool{}
	for info, err := range s.ListStreams(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		listed[info.Stream] = true
	}
	for _, n := range names {
		if !listed[n] {
			t.Errorf("ListStreams lacks %q", n)
		}
		for _, f := range []chronicle.Filter{
			{chronicle.StreamIs(n)}, {chronicle.StreamPrefix(n)}, {chronicle.TypeIs(n)}, {chronicle.MetadataIs("tag", n)},
		} {
			var got []string
			for ev, err := range s.ReadAll(ctx, chronicle.Position{}, &chronicle.ReadOptions{Filter: f}) {
				if err != nil {
					t.Fatalf("filter %v: %v", f, err)
				}
				got = append(got, ev.Stream)
			}
			want := []string{n}
			if f[0].Op == chronicle.OpPrefix {
				want = nil // a prefix also matches longer names that start with it
				for _, m := range names {
					if strings.HasPrefix(m, n) {
						want = append(want, m)
					}
				}
			}
			if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
				t.Errorf("filter %v matched %q, want %q", f, got, want)
			}
		}
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}
