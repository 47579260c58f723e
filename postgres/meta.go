package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/jackc/pgx/v5"
)

func nsTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// StreamInfo implements [chronicle.Backend.StreamInfo].
func (b *Backend) StreamInfo(ctx context.Context, stream string) (chronicle.StreamInfo, error) {
	info := chronicle.StreamInfo{Stream: stream}
	var version, first, last int64
	if err := b.replayed(ctx); err != nil {
		return info, fmt.Errorf("postgres: %w", interpret(err))
	}
	err := b.read.QueryRow(ctx, "SELECT version, first_ts, last_ts FROM "+b.sql.schema+".streams WHERE name = $1", stream).
		Scan(&version, &first, &last)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return info, nil
	case err != nil:
		return info, fmt.Errorf("postgres: %w", interpret(err))
	}
	info.Version, info.Events = version, version
	info.FirstTime, info.LastTime = nsTime(first), nsTime(last)
	return info, nil
}

// Head implements [chronicle.Backend.Head]: the newest event below the
// frontier, one index descent. A live watch that starts there may receive
// events of other processes that committed just before it, in a
// transaction that had not ended when the frontier was read; never fewer.
func (b *Backend) Head(ctx context.Context) (chronicle.Position, error) {
	var head chronicle.Position
	err := b.visible(ctx, func() (int64, error) {
		var x, tx, seq int64
		err := b.read.QueryRow(ctx, b.sql.head).Scan(&x, &tx, &seq)
		head = chronicle.Position{Commit: uint64(tx), Prepare: uint64(seq)}
		return x, err
	})
	if err != nil {
		return chronicle.Position{}, fmt.Errorf("postgres: %w", interpret(err))
	}
	return head, nil
}

// Stats implements [chronicle.Backend.Stats].
func (b *Backend) Stats(ctx context.Context) (chronicle.Stats, error) {
	var st chronicle.Stats
	err := b.visible(ctx, func() (int64, error) {
		var x, tx, seq int64
		err := b.read.QueryRow(ctx, b.sql.stats).Scan(&x, &tx, &seq, &st.Events, &st.Streams)
		st.Head = chronicle.Position{Commit: uint64(tx), Prepare: uint64(seq)}
		return x, err
	})
	if err != nil {
		return chronicle.Stats{}, fmt.Errorf("postgres: %w", interpret(err))
	}
	return st, nil
}

// ListStreams implements [chronicle.Backend.ListStreams].
func (b *Backend) ListStreams(ctx context.Context, p *chronicle.ListStreamsParams) ([]chronicle.StreamInfo, error) {
	var q query
	q.s("SELECT name, version, first_ts, last_ts FROM ", b.sql.schema, ".streams WHERE name > ").arg(p.After, "::text")
	if p.Prefix != "" {
		q.s(" AND name >= ").arg(p.Prefix, "::text").s(" AND name < ").arg(prefixEnd(p.Prefix), "::text")
	}
	q.s(" ORDER BY name LIMIT ").arg(p.Limit, "::bigint")
	if err := b.replayed(ctx); err != nil {
		return nil, fmt.Errorf("postgres: %w", interpret(err))
	}
	rows, err := b.read.Query(ctx, q.sb.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", interpret(err))
	}
	var out []chronicle.StreamInfo
	var name string
	var version, first, last int64
	_, err = pgx.ForEachRow(rows, []any{&name, &version, &first, &last}, func() error {
		out = append(out, chronicle.StreamInfo{
			Stream: name, Version: version, Events: version,
			FirstTime: nsTime(first), LastTime: nsTime(last),
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", interpret(err))
	}
	return out, nil
}

// SaveSnapshot implements [chronicle.Backend.SaveSnapshot] in one
// statement: it stores the snapshot when the stream has reached it and it
// is not older than the stored one, and reports which of the two held.
func (b *Backend) SaveSnapshot(ctx context.Context, s *chronicle.Snapshot) error {
	tx, seq := sqlInt(s.Position.Commit), sqlInt(s.Position.Prepare)
	// reached: the stream holds the snapshot's version, or the global
	// stream a committed event at or past its position; an empty one holds
	// version 0 (position zero). The global check does not wait for the
	// frontier: a transaction elsewhere in the cluster that stays open
	// would otherwise refuse a snapshot at a position the store returned.
	var reached string
	if s.Stream == "" {
		reached = "(SELECT (tx_id, seq) >= ($4::bigint, $5::bigint) FROM " + b.sql.schema +
			".events ORDER BY tx_id DESC, seq DESC LIMIT 1), $4::bigint = 0 AND $5::bigint = 0"
	} else {
		reached = "(SELECT version >= $3::bigint FROM " + b.sql.schema + ".streams WHERE name = $1), $3::bigint = 0"
	}
	newer := "(EXCLUDED.version, EXCLUDED.pos_tx, EXCLUDED.pos_seq) >= (t.version, t.pos_tx, t.pos_seq)"
	var ok bool
	var xid int64 // the statement's transaction, for reads that follow
	err := b.pool.QueryRow(ctx, "WITH r AS (SELECT coalesce("+reached+") AS ok), "+
		"w AS (INSERT INTO "+b.sql.schema+".snapshots AS t (stream, name, version, pos_tx, pos_seq, state, ts) "+
		"SELECT $1, $2, $3, $4, $5, $6, $7 FROM r WHERE r.ok "+
		"ON CONFLICT (stream, name) DO UPDATE SET version = EXCLUDED.version, pos_tx = EXCLUDED.pos_tx, "+
		"pos_seq = EXCLUDED.pos_seq, state = EXCLUDED.state, ts = EXCLUDED.ts WHERE "+newer+") "+
		"SELECT ok, CASE WHEN ok THEN pg_current_xact_id()::text::bigint ELSE 0 END FROM r",
		s.Stream, s.Name, s.Version, tx, seq, nonNil(s.State), s.Time.UnixNano()).Scan(&ok, &xid)
	if err != nil {
		return fmt.Errorf("postgres: save snapshot: %w", interpret(err))
	}
	if ok {
		b.wrote(uint64(xid))
	}
	if !ok {
		if s.Stream == "" {
			return fmt.Errorf("%w: snapshot at position %s is beyond the head", chronicle.ErrVersionNotReached, s.Position)
		}
		return fmt.Errorf("%w: stream %q has not reached version %d", chronicle.ErrVersionNotReached, s.Stream, s.Version)
	}
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// LoadSnapshot implements [chronicle.Backend.LoadSnapshot].
func (b *Backend) LoadSnapshot(ctx context.Context, stream, name string) (chronicle.Snapshot, bool, error) {
	snap := chronicle.Snapshot{Stream: stream, Name: name}
	var version, tx, seq, ts int64
	if err := b.replayed(ctx); err != nil {
		return chronicle.Snapshot{}, false, fmt.Errorf("postgres: load snapshot: %w", interpret(err))
	}
	err := b.read.QueryRow(ctx, "SELECT version, pos_tx, pos_seq, state, ts FROM "+b.sql.schema+
		".snapshots WHERE stream = $1 AND name = $2", stream, name).Scan(&version, &tx, &seq, &snap.State, &ts)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return chronicle.Snapshot{}, false, nil
	case err != nil:
		return chronicle.Snapshot{}, false, fmt.Errorf("postgres: load snapshot: %w", interpret(err))
	}
	if snap.State == nil {
		snap.State = []byte{}
	}
	snap.Time = nsTime(ts)
	if stream == "" {
		snap.Position = chronicle.Position{Commit: uint64(tx), Prepare: uint64(seq)}
	} else {
		snap.Version = version
	}
	return snap, true, nil
}
