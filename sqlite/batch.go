package sqlite

import (
	"errors"
	"fmt"

	"github.com/chronicle-go/chronicle"
)

// Batched appends
//
// A group's consecutive appends run as one batch (see group.go): the
// versions of their streams are read in one statement, their keyed IDs
// looked up in one, then each append is checked in turn against what the
// appends before it left (their versions and IDs, kept in Go), and what
// passes is written with as few INSERTs as insertLen allows and one upsert
// of the streams' rows. An append whose expectation fails changes nothing
// and fails alone, as in a savepoint of its own; a statement that fails
// makes the caller run the group again without batches.

// appendJob is an append's parameters and, once it has run, its result.
type appendJob struct {
	p   *chronicle.AppendParams
	res chronicle.AppendResult
}

// appendRun returns the appends at the start of rs.
func appendRun(rs []*writeReq) []*writeReq {
	n := 0
	for n < len(rs) && rs[n].app != nil {
		n++
	}
	return rs[:n]
}

// Statements of a batch. The look-ups and the streams' upsert take a padded
// number of rows (see inChunks), so that few statement shapes are prepared.
const (
	sqlBatchVersions = "SELECT name, version FROM chronicle_streams WHERE name IN (%s)"
	// A join, not (stream, id) IN (VALUES …), which SQLite 3.40 (as linked
	// by the chronicle_cgo build on Debian 12) runs as a scan of the index.
	sqlBatchLookup = "WITH k(stream, id) AS (VALUES %s) SELECT e.stream, e.id, e.position FROM k CROSS JOIN chronicle_events e " +
		"WHERE e.keyed = 1 AND e.stream = k.stream AND e.id = k.id"
	sqlBatchStreams = "INSERT INTO chronicle_streams (name, version, first_ts, last_ts) VALUES %s " +
		"ON CONFLICT (name) DO UPDATE SET version = excluded.version, last_ts = excluded.last_ts"
)

// upTo is a chunkLen for inChunks: chunks of n items.
func upTo[T any](n int) func(rest []T) int {
	return func(rest []T) int { return min(len(rest), n) }
}

// padded returns the number of rows a statement for n binds: the next
// power of two, at most keysPerLookup.
func padded(n int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return min(p, keysPerLookup)
}

// batchFor returns the statement of kind (batchVersions, batchLookup or
// batchStreams) for n rows, built on first use.
func (s *writerSQL) batchFor(kind, n int) string {
	if s.batch[kind][n] == "" {
		switch kind {
		case batchVersions:
			s.batch[kind][n] = fmt.Sprintf(sqlBatchVersions, repeatJoin("?", n))
		case batchLookup:
			s.batch[kind][n] = fmt.Sprintf(sqlBatchLookup, repeatJoin("(?, ?)", n))
		case batchStreams:
			s.batch[kind][n] = fmt.Sprintf(sqlBatchStreams, repeatJoin("(?, ?, ?, ?)", n))
		}
	}
	return s.batch[kind][n]
}

const (
	batchVersions = iota
	batchLookup
	batchStreams
	batchKinds
)

// streamKey names an event by its stream and keyed ID.
type streamKey struct{ stream, id string }

// batchStream is what a batch knows of a stream: its version, and the times
// of the first and last events the batch writes to it.
type batchStream struct {
	name        string
	version     int64
	wrote       bool
	first, last int64
}

// batchRow is one event a batch writes.
type batchRow struct {
	stream       string
	pos, version int64
	e            *chronicle.PreparedEvent
}

// appendBatch runs the appends of rs in the writer's open transaction. It
// sets each request's outcome: its result and what it wrote, or the error
// of an expectation that failed. An error returned is a statement's: the
// transaction then holds part of the batch, and the caller rolls it back.
func (b *Backend) appendBatch(w *conn, rs []*writeReq) error {
	if len(rs) == 0 {
		return nil
	}
	var head int64
	if _, err := w.row(sqlHead, []*int64{&head}); err != nil {
		return fmt.Errorf("read head: %w", err)
	}
	streams := make(map[string]*batchStream, len(rs))
	var order []*batchStream
	var keys []streamKey
	for _, r := range rs {
		p := r.app.p
		if streams[p.Stream] == nil {
			s := &batchStream{name: p.Stream}
			streams[p.Stream] = s
			order = append(order, s)
		}
		for i := range p.Events {
			if p.Events[i].Keyed {
				keys = append(keys, streamKey{p.Stream, p.Events[i].ID})
			}
		}
	}
	if err := b.batchVersions(w, order, streams); err != nil {
		return err
	}
	stored, err := b.batchLookup(w, keys)
	if err != nil {
		return err
	}
	var rows []batchRow
	for _, r := range rs {
		p := r.app.p
		s := streams[p.Stream]
		positions := make([]chronicle.Position, len(p.Events))
		fresh := 0
		for i := range p.Events {
			if e := &p.Events[i]; e.Keyed {
				if pos, ok := stored[streamKey{p.Stream, e.ID}]; ok {
					positions[i] = pos
					continue
				}
			}
			fresh++
		}
		if fresh == 0 {
			r.app.res = chronicle.AppendResult{Version: s.version, Positions: positions}
			continue
		}
		if err := p.Expect.Check(p.Stream, s.version); err != nil {
			r.err = err
			continue
		}
		for i := range p.Events {
			if !positions[i].IsZero() {
				continue
			}
			e := &p.Events[i]
			head++
			s.version++
			positions[i] = chronicle.At(uint64(head))
			rows = append(rows, batchRow{stream: p.Stream, pos: head, version: s.version, e: e})
			if !s.wrote {
				s.wrote, s.first = true, e.Time.UnixNano()
			}
			s.last = e.Time.UnixNano()
		}
		// Only now, so that an ID repeated within one append fails at the
		// INSERT as it would alone.
		for i := range p.Events {
			if e := &p.Events[i]; e.Keyed {
				if _, ok := stored[streamKey{p.Stream, e.ID}]; !ok {
					stored[streamKey{p.Stream, e.ID}] = positions[i]
				}
			}
		}
		r.app.res = chronicle.AppendResult{Version: s.version, Positions: positions, Written: fresh}
		r.wrote = fresh
	}
	if len(rows) > 0 {
		if err := b.batchInsert(w, rows); err != nil {
			return err
		}
		if err := b.batchStreams(w, order); err != nil {
			return err
		}
	}
	b.batched.Add(int64(len(rs)))
	return nil
}

// batchVersions reads the versions of the streams in order (0 for a stream
// that has no events) into streams.
func (b *Backend) batchVersions(w *conn, order []*batchStream, streams map[string]*batchStream) error {
	err := inChunks(w, order, upTo[*batchStream](keysPerLookup), true, func(n int) string { return b.sql.batchFor(batchVersions, n) },
		func(st dbStmt, i int, s *batchStream) error { return st.BindText(i+1, s.name) },
		func(st dbStmt) {
			if s := streams[st.ColumnText(0)]; s != nil {
				s.version = st.ColumnInt64(1)
			}
		})
	if err != nil {
		return fmt.Errorf("read versions: %w", err)
	}
	return nil
}

// batchLookup returns the positions of the keyed events of keys that are
// stored.
func (b *Backend) batchLookup(w *conn, keys []streamKey) (map[streamKey]chronicle.Position, error) {
	stored := make(map[streamKey]chronicle.Position)
	err := inChunks(w, keys, upTo[streamKey](keysPerLookup), true, func(n int) string { return b.sql.batchFor(batchLookup, n) },
		func(st dbStmt, i int, k streamKey) error {
			return errors.Join(st.BindText(2*i+1, k.stream), st.BindText(2*i+2, k.id))
		},
		func(st dbStmt) {
			stored[streamKey{st.ColumnText(0), st.ColumnText(1)}] = chronicle.At(uint64(st.ColumnInt64(2)))
		})
	if err != nil {
		return nil, fmt.Errorf("look up event IDs: %w", err)
	}
	return stored, nil
}

// batchInsert writes rows, as many to a statement as insertLen lets.
func (b *Backend) batchInsert(w *conn, rows []batchRow) error {
	size := func(r *batchRow) int { return eventBytes(r.e) }
	err := inChunks(w, rows, func(rest []batchRow) int { return insertLen(rest, size) }, false, b.sql.insertFor,
		func(st dbStmt, i int, row batchRow) error {
			return bindEvent(st, i*9, row.pos, row.stream, row.version, row.e)
		}, nil)
	if err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	return nil
}

// batchStreams writes the rows of the streams in order that the batch
// wrote to. Padding repeats a chunk's last row, which updates that row
// again with the same values.
func (b *Backend) batchStreams(w *conn, order []*batchStream) error {
	wrote := make([]*batchStream, 0, len(order))
	for _, s := range order {
		if s.wrote {
			wrote = append(wrote, s)
		}
	}
	err := inChunks(w, wrote, upTo[*batchStream](keysPerLookup), true, func(n int) string { return b.sql.batchFor(batchStreams, n) },
		func(st dbStmt, i int, s *batchStream) error {
			k := 4 * i
			return errors.Join(st.BindText(k+1, s.name), st.BindInt64(k+2, s.version),
				st.BindInt64(k+3, s.first), st.BindInt64(k+4, s.last))
		}, nil)
	if err != nil {
		return fmt.Errorf("update streams: %w", err)
	}
	return nil
}

// inChunks runs a statement for each chunk of items, of the length that
// chunkLen gives for the items left (at least one): the statement
// query(n) returns for n slots, with slot i bound by bind to the chunk's
// item i, and row called for each row it returns (nil: none). With pad, n
// is padded(len(chunk)) and the slots past the chunk repeat its last item;
// else n is the chunk's length.
func inChunks[T any](w *conn, items []T, chunkLen func(rest []T) int, pad bool, query func(n int) string,
	bind func(st dbStmt, i int, item T) error, row func(st dbStmt)) error {
	for start := 0; start < len(items); {
		chunk := items[start : start+chunkLen(items[start:])]
		start += len(chunk)
		n := len(chunk)
		if pad {
			n = padded(n)
		}
		st, err := w.prep(query(n))
		if err != nil {
			return err
		}
		for i := range n {
			if err := bind(st, i, chunk[min(i, len(chunk)-1)]); err != nil {
				done(st)
				return err
			}
		}
		for st.Step() {
			if row != nil {
				row(st)
			}
		}
		err = st.Err()
		done(st)
		if err != nil {
			return err
		}
	}
	return nil
}
