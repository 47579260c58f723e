package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/chronicle-go/chronicle"
)

// StreamInfo implements [chronicle.Backend.StreamInfo].
func (b *Backend) StreamInfo(ctx context.Context, stream string) (chronicle.StreamInfo, error) {
	info := chronicle.StreamInfo{Stream: stream}
	err := b.withReader(ctx, func(c *conn) error {
		var version, first, last int64
		ok, err := c.row("SELECT version, first_ts, last_ts FROM chronicle_streams WHERE name = ?",
			[]*int64{&version, &first, &last}, stream)
		if err != nil || !ok {
			return err
		}
		info.Version, info.Events = version, version
		info.FirstTime, info.LastTime = nsTime(first), nsTime(last)
		return nil
	})
	return info, err
}

func nsTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// Stats implements [chronicle.Backend.Stats].
func (b *Backend) Stats(ctx context.Context) (chronicle.Stats, error) {
	var st chronicle.Stats
	err := b.withReader(ctx, func(c *conn) error {
		if err := c.exec("BEGIN"); err != nil {
			return err
		}
		defer func() { _ = c.exec("COMMIT") }()
		var head int64
		if _, err := c.row("SELECT coalesce(sum(version), 0), count(*) FROM chronicle_streams", []*int64{&st.Events, &st.Streams}); err != nil {
			return err
		}
		if _, err := c.row(sqlHead, []*int64{&head}); err != nil {
			return err
		}
		if head > 0 {
			st.Head = chronicle.At(uint64(head))
		}
		return nil
	})
	return st, err
}

// Head implements [chronicle.Backend.Head]: the largest rowid, one b-tree
// descent.
func (b *Backend) Head(ctx context.Context) (chronicle.Position, error) {
	var head chronicle.Position
	err := b.withReader(ctx, func(c *conn) error {
		var pos int64
		if _, err := c.row(sqlHead, []*int64{&pos}); err != nil {
			return err
		}
		if pos > 0 {
			head = chronicle.At(uint64(pos))
		}
		return nil
	})
	return head, err
}

// ListStreams implements [chronicle.Backend.ListStreams].
func (b *Backend) ListStreams(ctx context.Context, p *chronicle.ListStreamsParams) ([]chronicle.StreamInfo, error) {
	q := "SELECT name, version, first_ts, last_ts FROM chronicle_streams WHERE name > ?"
	args := []any{p.After}
	if p.Prefix != "" {
		q += " AND name >= ? AND name < ?"
		args = append(args, p.Prefix, prefixEnd(p.Prefix))
	}
	q += " ORDER BY name LIMIT ?"
	args = append(args, p.Limit)
	var out []chronicle.StreamInfo
	err := b.withReader(ctx, func(c *conn) error {
		st, err := c.prep(q)
		if err != nil {
			return err
		}
		defer done(st)
		if err := bind(st, args...); err != nil {
			return err
		}
		for st.Step() {
			v := st.ColumnInt64(1)
			out = append(out, chronicle.StreamInfo{
				Stream: st.ColumnText(0), Version: v, Events: v,
				FirstTime: nsTime(st.ColumnInt64(2)), LastTime: nsTime(st.ColumnInt64(3)),
			})
		}
		return st.Err()
	})
	return out, err
}

// SaveSnapshot implements [chronicle.Backend.SaveSnapshot]. The bound is
// checked in the same write transaction that stores the snapshot.
func (b *Backend) SaveSnapshot(ctx context.Context, s *chronicle.Snapshot) error {
	version := s.Version
	var pos int64
	if s.Stream == "" {
		var err error
		if pos, err = sqlPosition(s.Position); err != nil {
			return err
		}
		version = pos
	}
	return b.write(ctx, false, func(w *conn) (int, error) {
		var reached int64
		var err error
		if s.Stream == "" {
			_, err = w.row(sqlHead, []*int64{&reached})
		} else {
			_, err = w.row(sqlStreamVersion, []*int64{&reached}, s.Stream)
		}
		if err != nil {
			return 0, err
		}
		if version > reached {
			what := fmt.Sprintf("stream %q is at version %d, snapshot is at %d", s.Stream, reached, version)
			if s.Stream == "" {
				what = fmt.Sprintf("head is at position %d, snapshot is at %d", reached, version)
			}
			return 0, fmt.Errorf("%w: %s", chronicle.ErrVersionNotReached, what)
		}
		err = w.exec("INSERT INTO chronicle_snapshots (stream, name, version, position, state, ts) VALUES (?, ?, ?, ?, ?, ?) "+
			"ON CONFLICT (stream, name) DO UPDATE SET version = excluded.version, position = excluded.position, "+
			"state = excluded.state, ts = excluded.ts WHERE excluded.version >= chronicle_snapshots.version",
			s.Stream, s.Name, version, pos, s.State, s.Time.UnixNano())
		if err != nil {
			return 0, err
		}
		return 1, nil
	})
}

// LoadSnapshot implements [chronicle.Backend.LoadSnapshot].
func (b *Backend) LoadSnapshot(ctx context.Context, stream, name string) (chronicle.Snapshot, bool, error) {
	var snap chronicle.Snapshot
	var found bool
	err := b.withReader(ctx, func(c *conn) error {
		st, err := c.prep("SELECT version, position, state, ts FROM chronicle_snapshots WHERE stream = ? AND name = ?")
		if err != nil {
			return err
		}
		defer done(st)
		if err := bind(st, stream, name); err != nil {
			return err
		}
		if !st.Step() {
			return st.Err()
		}
		found = true
		snap = chronicle.Snapshot{Stream: stream, Name: name, State: st.ColumnBlob(2, []byte{}), Time: nsTime(st.ColumnInt64(3))}
		if stream == "" {
			snap.Position = chronicle.At(uint64(st.ColumnInt64(1)))
		} else {
			snap.Version = st.ColumnInt64(0)
		}
		return nil
	})
	return snap, found, err
}
