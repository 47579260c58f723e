package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
)

// TestMetadataNUL: PostgreSQL's jsonb cannot hold U+0000. An append whose
// metadata has one fails with ErrInvalid and writes nothing; a filter
// value with one matches nothing (and is no error).
func TestMetadataNUL(t *testing.T) {
	s := openT(t, nil)
	ctx := context.Background()
	_, err := s.Append(ctx, "nul", chronicle.Any,
		chronicle.EventData{Type: "Fine"},
		chronicle.EventData{Type: "Bad", Metadata: json.RawMessage(`{"k":"a\u0000b"}`)})
	if !errors.Is(err, chronicle.ErrInvalid) {
		t.Fatalf("Append with U+0000 in metadata = %v, want ErrInvalid", err)
	}
	if info, err := s.StreamInfo(ctx, "nul"); err != nil || info.Version != 0 {
		t.Fatalf("after the refused append: %+v, %v; want an empty stream", info, err)
	}
	// An escaped backslash before u0000 is no NUL.
	mustAppendData(t, s, "nul", chronicle.EventData{Type: "Fine", Metadata: json.RawMessage(`{"k":"a\\u0000b"}`)})
	f := chronicle.Filter{chronicle.MetadataIs("k", "a\x00b")}
	for ev, err := range s.ReadAll(ctx, chronicle.Position{}, &chronicle.ReadOptions{Filter: f}) {
		if err != nil {
			t.Fatalf("ReadAll with U+0000 in a filter value: %v", err)
		}
		t.Fatalf("ReadAll with U+0000 in a filter value returned %v", ev.Position)
	}
	n := 0
	f = chronicle.Filter{chronicle.MetadataIn("k", "a\x00b", `a\u0000b`)}
	for _, err := range s.ReadAll(ctx, chronicle.Position{}, &chronicle.ReadOptions{Filter: f}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("filter on the literal text matched %d events, want 1", n)
	}
}

func mustAppendData(t *testing.T, s *chronicle.Store, stream string, evs ...chronicle.EventData) {
	t.Helper()
	if _, err := s.Append(context.Background(), stream, chronicle.Any, evs...); err != nil {
		t.Fatal(err)
	}
}

// TestOpenWithoutCreateRights: a role that may only use the schema opens
// a store that is already set up (no DDL when nothing is to migrate).
func TestOpenWithoutCreateRights(t *testing.T) {
	schema := testSchema(t)
	openT(t, &postgres.Options{Schema: schema}) // sets the schema up
	pool := testPool(t)
	ctx := context.Background()
	role := "chronicle_user_" + schema
	for _, q := range []string{
		"CREATE ROLE " + role + " LOGIN",
		"GRANT USAGE ON SCHEMA " + schema + " TO " + role,
		"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA " + schema + " TO " + role,
		"GRANT USAGE ON ALL SEQUENCES IN SCHEMA " + schema + " TO " + role,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP OWNED BY "+role)
		_, _ = pool.Exec(context.Background(), "DROP ROLE "+role)
	})
	cfg := pool.Config().ConnConfig
	s, err := postgres.Open(ctx, "postgres://"+role+"@"+cfg.Host+":"+itoa(int(cfg.Port))+"/"+cfg.Database, &postgres.Options{Schema: schema})
	if err != nil {
		t.Fatalf("Open as a role without CREATE rights: %v", err)
	}
	defer s.Close()
	mustAppendData(t, s, "limited", chronicle.EventData{Type: "E"})
}

func itoa(n int) string { return strconv.Itoa(n) }
