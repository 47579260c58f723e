package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/chronicle-go/chronicle"
)

// rowsPerInsert is how many events one INSERT statement writes at most, and
// insertBytes how many bytes of values it binds at most, unless its one
// event is larger: a statement's values are all in memory at once (on the
// default engine, in the connection's fixed memory, see wasmWriteMemory). keysPerLookup is how many
// IDs one idempotency look-up checks (and finds the positions of).
const (
	rowsPerInsert = 100
	insertBytes   = 4 << 20
	keysPerLookup = 100
)

// insertLen returns how many of rows go into the next INSERT: at most
// rowsPerInsert and insertBytes (by size, each row's bytes), at least one.
func insertLen[T any](rows []T, size func(*T) int) int {
	n, bytes := 0, 0
	for n < len(rows) && n < rowsPerInsert {
		bytes += size(&rows[n])
		if n > 0 && bytes > insertBytes {
			break
		}
		n++
	}
	return n
}

// eventBytes is about what binding e takes.
func eventBytes(e *chronicle.PreparedEvent) int {
	return len(e.Data) + len(e.Metadata) + len(e.ID) + len(e.Type)
}

// writerSQL holds the statement text for each row count, built on first
// use; only the writer goroutine touches it.
type writerSQL struct {
	insert [rowsPerInsert + 1]string
	lookup [keysPerLookup + 1]string
	batch  [batchKinds][keysPerLookup + 1]string // see batchFor
}

func (s *writerSQL) insertFor(n int) string {
	if s.insert[n] == "" {
		// OR ROLLBACK: a constraint failure ends the whole transaction (as
		// an append must anyway), which spares SQLite a statement journal
		// for multi-row statements.
		s.insert[n] = "INSERT OR ROLLBACK INTO chronicle_events (position, stream, version, type, data, meta, id, keyed, ts) VALUES " +
			repeatJoin("(?, ?, ?, ?, ?, ?, ?, ?, ?)", n)
	}
	return s.insert[n]
}

func (s *writerSQL) lookupFor(n int) string {
	if s.lookup[n] == "" {
		s.lookup[n] = "SELECT id, position FROM chronicle_events WHERE keyed = 1 AND stream = ? AND id IN (" + repeatJoin("?", n) + ")"
	}
	return s.lookup[n]
}

func repeatJoin(s string, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s)
	}
	return b.String()
}

const (
	sqlStreamVersion = "SELECT version FROM chronicle_streams WHERE name = ?"
	sqlHead          = "SELECT max(position) FROM chronicle_events"
	// sqlVersionHead reads an append's starting point in one statement:
	// the stream's version and the store's head.
	sqlVersionHead  = "SELECT (SELECT version FROM chronicle_streams WHERE name = ?), (SELECT max(position) FROM chronicle_events)"
	sqlUpsertStream = "INSERT INTO chronicle_streams (name, version, first_ts, last_ts) VALUES (?, ?, ?, ?) " +
		"ON CONFLICT (name) DO UPDATE SET version = excluded.version, last_ts = excluded.last_ts"
)

// Append implements [chronicle.Backend.Append] in one BEGIN IMMEDIATE
// transaction on the writer connection.
func (b *Backend) Append(ctx context.Context, p *chronicle.AppendParams) (chronicle.AppendResult, error) {
	job := &appendJob{p: p}
	err := b.submit(ctx, &writeReq{ctx: ctx, events: true, app: job, fn: func(w *conn) (int, error) {
		var err error
		job.res, err = b.appendTx(w, p)
		return job.res.Written, err
	}})
	if err != nil {
		return chronicle.AppendResult{}, err
	}
	return job.res, nil
}

func (b *Backend) appendTx(w *conn, p *chronicle.AppendParams) (chronicle.AppendResult, error) {
	var cur, head int64
	if _, err := w.row(sqlVersionHead, []*int64{&cur, &head}, p.Stream); err != nil {
		return chronicle.AppendResult{}, fmt.Errorf("read version: %w", err)
	}
	// positions[i] is set here for the events already in the stream, and
	// below for the others.
	positions := make([]chronicle.Position, len(p.Events))
	events, err := b.dropExisting(w, p.Stream, p.Events, positions)
	if err != nil {
		return chronicle.AppendResult{}, err
	}
	if len(events) == 0 {
		return chronicle.AppendResult{Version: cur, Positions: positions}, nil
	}
	if err := p.Expect.Check(p.Stream, cur); err != nil {
		return chronicle.AppendResult{}, err
	}
	n := int64(0) // events bound so far
	err = inChunks(w, events, func(rest []chronicle.PreparedEvent) int { return insertLen(rest, eventBytes) }, false,
		b.sql.insertFor, func(st dbStmt, i int, e chronicle.PreparedEvent) error {
			n++
			return bindEvent(st, i*9, head+n, p.Stream, cur+n, &e)
		}, nil)
	if err != nil {
		return chronicle.AppendResult{}, fmt.Errorf("insert events: %w", err)
	}
	version := cur + int64(len(events))
	first := events[0].Time.UnixNano()
	last := events[len(events)-1].Time.UnixNano()
	if err := w.exec(sqlUpsertStream, p.Stream, version, first, last); err != nil {
		return chronicle.AppendResult{}, fmt.Errorf("update stream: %w", err)
	}
	// The events written fill the positions not found, in order.
	next := uint64(head)
	for i := range positions {
		if positions[i].IsZero() {
			next++
			positions[i] = chronicle.At(next)
		}
	}
	return chronicle.AppendResult{Version: version, Positions: positions, Written: len(events)}, nil
}

func bindEvent(st dbStmt, k int, pos int64, stream string, version int64, e *chronicle.PreparedEvent) error {
	data := e.Data
	if data == nil {
		data = []byte{}
	}
	keyed := int64(0)
	if e.Keyed {
		keyed = 1
	}
	errs := [...]error{
		st.BindInt64(k+1, pos),
		st.BindText(k+2, stream),
		st.BindInt64(k+3, version),
		st.BindText(k+4, e.Type),
		st.BindBlob(k+5, data),
		bindMeta(st, k+6, e.Metadata),
		st.BindText(k+7, e.ID),
		st.BindInt64(k+8, keyed),
		st.BindInt64(k+9, e.Time.UnixNano()),
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func bindMeta(st dbStmt, i int, m []byte) error {
	if len(m) == 0 {
		return st.BindNull(i)
	}
	return st.BindRawText(i, m)
}

// dropExisting removes the events whose keyed IDs are already in stream,
// and sets found[i] to the stored position of each events[i] it removes
// (leaving the others zero). The look-up that finds them reads their
// positions too, from the idempotency index.
func (b *Backend) dropExisting(w *conn, stream string, events []chronicle.PreparedEvent, found []chronicle.Position) ([]chronicle.PreparedEvent, error) {
	keys := make([]string, 0, len(events))
	for i := range events {
		if events[i].Keyed {
			keys = append(keys, events[i].ID)
		}
	}
	if len(keys) == 0 {
		return events, nil
	}
	var stored map[string]chronicle.Position // keyed ID -> position
	err := inChunks(w, keys, upTo[string](keysPerLookup), true, b.sql.lookupFor,
		func(st dbStmt, i int, k string) error {
			if i == 0 {
				if err := st.BindText(1, stream); err != nil {
					return err
				}
			}
			return st.BindText(i+2, k)
		},
		func(st dbStmt) {
			if stored == nil {
				stored = make(map[string]chronicle.Position)
			}
			stored[st.ColumnText(0)] = chronicle.At(uint64(st.ColumnInt64(1)))
		})
	if err != nil {
		return nil, fmt.Errorf("look up event IDs: %w", err)
	}
	if len(stored) == 0 {
		return events, nil
	}
	kept := make([]chronicle.PreparedEvent, 0, len(events)-len(stored))
	for i, e := range events {
		if pos, dup := stored[e.ID]; dup && e.Keyed {
			found[i] = pos
			continue
		}
		kept = append(kept, e)
	}
	return kept, nil
}
