package postgres

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// How an append statement claims its stream's versions.
type claim int

const (
	claimAny    claim = iota // create the stream or add to it
	claimCreate              // create the stream; nothing when it exists
	claimUpdate              // add to an existing stream at version $11 (-1: any)
	claims
)

// statements are the SQL texts of one schema.
type statements struct {
	schema string
	// appends[claim][guarded]: one statement that claims n versions of the
	// stream and inserts the events (see appendSQL for what it returns).
	appends [claims][2]string
	// head selects the frontier and the newest event below it; stats adds
	// the number of events and of streams; changes is head with, second,
	// the snapshot's xmax, which tells whether the frontier holds back a
	// transaction that ended.
	head, stats, changes string
}

func newStatements(schema string) statements {
	s := statements{schema: schema}
	// The newest event below the frontier f.x.
	newest := " LEFT JOIN LATERAL (SELECT tx_id, seq FROM " + schema + ".events WHERE tx_id < f.x " +
		"ORDER BY tx_id DESC, seq DESC LIMIT 1) e ON true"
	s.head = "SELECT f.x, coalesce(e.tx_id, 0), coalesce(e.seq, 0) FROM (" + frontierSQL + ") f" + newest
	s.changes = "SELECT f.x, f.xmax, coalesce(e.tx_id, 0), coalesce(e.seq, 0) FROM (" +
		"SELECT pg_snapshot_xmin(c)::text::bigint AS x, pg_snapshot_xmax(c)::text::bigint AS xmax FROM pg_current_snapshot() c) f" + newest
	s.stats = "SELECT h.*, s.* FROM (" + s.head + ") h, " +
		"(SELECT coalesce(sum(version), 0)::bigint, count(*) FROM " + schema + ".streams) s"
	for c := range claims {
		for g := range 2 {
			s.appends[c][g] = appendSQL(schema, c, g == 1)
		}
	}
	return s
}

// appendSQL builds an append statement. Parameters: $1 stream, $2 number of
// events, $3 first and $4 last event time, $5–$10 the events' types, data,
// metadata (text, NULL for none), IDs, keyed flags and times, $11 the
// expected version for claimUpdate (-1 for any), $12 the keyed IDs for the
// guard.
//
// It returns a row (tx_id, seq, version, NULL) per event written, or no
// row when the claim fails. Guarded, it looks the keyed IDs up first and,
// when one is already in the stream, writes nothing and returns instead a
// row (tx_id, seq, the stream's version, id) per keyed ID found: so a
// retry of an append that is already stored learns its positions in the
// same round trip.
func appendSQL(schema string, c claim, guarded bool) string {
	guard := "true"
	if guarded {
		guard = "NOT EXISTS (SELECT 1 FROM f)"
	}
	var claimSQL string
	switch c {
	case claimAny:
		claimSQL = "INSERT INTO " + schema + ".streams AS t (name, version, first_ts, last_ts) " +
			"SELECT $1::text, $2::bigint, $3::bigint, $4::bigint WHERE " + guard + " " +
			"ON CONFLICT (name) DO UPDATE SET version = t.version + EXCLUDED.version, last_ts = EXCLUDED.last_ts " +
			"RETURNING t.version"
	case claimCreate:
		claimSQL = "INSERT INTO " + schema + ".streams (name, version, first_ts, last_ts) " +
			"SELECT $1::text, $2::bigint, $3::bigint, $4::bigint WHERE " + guard + " ON CONFLICT (name) DO NOTHING RETURNING version"
	case claimUpdate:
		claimSQL = "UPDATE " + schema + ".streams SET version = version + $2, last_ts = $4 " +
			"WHERE name = $1 AND ($11::bigint < 0 OR version = $11::bigint) AND " + guard + " RETURNING version"
	}
	// Every variant takes the same parameters; mention the ones it does not
	// use, so that PostgreSQL knows their types.
	unused := ""
	if c == claimUpdate {
		unused += " AND ($3::bigint IS NULL OR true)"
	} else {
		unused += " AND ($11::bigint IS NULL OR true)"
	}
	if !guarded {
		unused += " AND ($12::text[] IS NULL OR true)"
	}
	ctes := "s AS (" + claimSQL + "), x AS (SELECT pg_current_xact_id()::text::bigint AS tx)"
	insert := "INSERT INTO " + schema + ".events (tx_id, stream, version, type, data, meta, id, keyed, ts) " +
		"SELECT x.tx, $1, s.version - $2 + u.ord, u.type, u.data, u.meta::jsonb, u.id, u.keyed, u.ts " +
		"FROM s, x, unnest($5::text[], $6::bytea[], $7::text[], $8::text[], $9::bool[], $10::bigint[]) " +
		"WITH ORDINALITY AS u(type, data, meta, id, keyed, ts, ord) WHERE true" + unused + " ORDER BY u.ord " +
		"RETURNING tx_id, seq, version"
	if !guarded {
		return "WITH " + ctes + " " + insert + ", NULL::text"
	}
	// Every part of the statement sees the same snapshot, taken under the
	// stream's lock: f holds the events found, and the inserted rows are
	// not in it.
	return "WITH f AS (SELECT tx_id, seq, id FROM " + schema + ".events WHERE stream = $1 AND keyed AND id = ANY($12::text[])), " +
		ctes + ", w AS (" + insert + ") " +
		"SELECT tx_id, seq, version, NULL::text FROM w UNION ALL " +
		"SELECT f.tx_id, f.seq, (SELECT version FROM " + schema + ".streams WHERE name = $1), f.id FROM f"
}

// maxAppendTries bounds the retries of an append that lost a race it can
// win on a second try (a stream created, or a keyed ID written, at the same
// moment by another append).
const maxAppendTries = 10

// Append implements [chronicle.Backend.Append]. The common case is one
// round trip: the stream's lock (lockSQL, which serializes appends to that
// stream only) and one statement that claims the versions on the stream's
// row and inserts the events, committed together. A retry of an append
// that is stored already is one round trip too: the statement finds every
// keyed ID in the stream, writes nothing and returns their positions. When
// the claim fails or only some keyed IDs are in the stream, a transaction
// sorts it out: it takes the lock, drops the events already there (reading
// their positions), checks the expectation and writes the rest.
func (b *Backend) Append(ctx context.Context, p *chronicle.AppendParams) (chronicle.AppendResult, error) {
	for i := range p.Events {
		if jsonHasNUL(p.Events[i].Metadata) {
			return chronicle.AppendResult{}, fmt.Errorf("postgres: %w: event %d: metadata holds U+0000, which PostgreSQL's jsonb cannot store",
				chronicle.ErrInvalid, i)
		}
	}
	a := newAppendArgs(p.Events)
	c, expect := claimFor(p.Expect)
	out, ok, err := b.appendOnce(ctx, nil, p.Stream, a, c, expect, a.hasKeys())
	for try := 1; err == nil && !ok; try++ {
		if try > maxAppendTries {
			return chronicle.AppendResult{}, fmt.Errorf("postgres: %w: lost %d races in a row", chronicle.ErrBusy, maxAppendTries)
		}
		out, ok, err = b.appendCareful(ctx, p)
	}
	var conflict *chronicle.ConflictError
	if errors.As(err, &conflict) {
		return chronicle.AppendResult{}, err
	}
	if err != nil {
		return chronicle.AppendResult{}, fmt.Errorf("postgres: %w", interpret(err))
	}
	res, err := out.result(p.Events)
	if err != nil {
		return chronicle.AppendResult{}, fmt.Errorf("postgres: %w", err)
	}
	if len(out.wrote) > 0 {
		b.committed(out.wrote[0].Commit)
	} else {
		// A retry reads like the append it repeats: the reads that follow
		// wait for the events found as for a write of this store (they
		// may have been written by another process, and be above the
		// frontier or not yet on the standby).
		var newest uint64
		for _, pos := range out.found {
			newest = max(newest, pos.Commit)
		}
		if newest > 0 {
			b.wrote(newest)
		}
	}
	return res, nil
}

// outcome is what an append's statements did.
type outcome struct {
	version int64                         // the stream's version after them
	wrote   []chronicle.Position          // the positions of the events written, in order
	found   map[string]chronicle.Position // keyed IDs already in the stream, and their positions
}

// result maps o back to the events of the append: the position of each,
// found or written, in order.
func (o *outcome) result(events []chronicle.PreparedEvent) (chronicle.AppendResult, error) {
	res := chronicle.AppendResult{Version: o.version, Positions: make([]chronicle.Position, len(events)), Written: len(o.wrote)}
	next := 0
	for i := range events {
		if e := &events[i]; e.Keyed {
			if pos, ok := o.found[e.ID]; ok {
				res.Positions[i] = pos
				continue
			}
		}
		if next == len(o.wrote) {
			return chronicle.AppendResult{}, fmt.Errorf("wrote %d and found %d of %d events", len(o.wrote), len(o.found), len(events))
		}
		res.Positions[i] = o.wrote[next]
		next++
	}
	if next != len(o.wrote) {
		return chronicle.AppendResult{}, fmt.Errorf("wrote %d events for %d not found", len(o.wrote), next)
	}
	return res, nil
}

// committed records a commit of this store's transaction xid: reads wait
// for it to become visible, other processes are told, and the Store's
// watchers woken.
func (b *Backend) committed(xid uint64) {
	b.wrote(xid)
	b.notify.signalXid(xid)
	if b.onCommit != nil {
		b.onCommit()
	}
}

// wrote records a committed write of this store's transaction xid, for
// the reads that follow to wait for.
func (b *Backend) wrote(xid uint64) {
	raise(&b.ownXid, xid)
	if b.read != b.pool {
		b.unreplayed.add(xid, time.Now(), b.opts.VisibilityWait)
	}
}

// jsonHasNUL reports whether JSON text holds a string or key with U+0000
// (written \u0000; raw control characters are not valid JSON).
func jsonHasNUL(j []byte) bool {
	if !bytes.Contains(j, []byte(`\u0000`)) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if s, ok := tok.(string); ok && strings.IndexByte(s, 0) >= 0 {
			return true
		}
	}
}

// raise sets a to v when v is greater.
func raise(a *atomic.Uint64, v uint64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// claimFor maps an expectation to the statement that enforces it.
func claimFor(e chronicle.Expectation) (claim, int64) {
	if v, ok := e.Version(); ok {
		if v == 0 {
			return claimCreate, -1
		}
		return claimUpdate, v
	}
	switch e {
	case chronicle.NoStream:
		return claimCreate, -1
	case chronicle.StreamExists:
		return claimUpdate, -1
	}
	return claimAny, -1
}

// appendArgs are the events as parallel arrays, the parameters of the
// append statements.
type appendArgs struct {
	types, ids []string
	data       [][]byte
	meta       []*string
	keyed      []bool
	ts         []int64
	keys       []string
}

func newAppendArgs(events []chronicle.PreparedEvent) *appendArgs {
	n := len(events)
	a := &appendArgs{
		types: make([]string, n), ids: make([]string, n), data: make([][]byte, n),
		meta: make([]*string, n), keyed: make([]bool, n), ts: make([]int64, n),
	}
	for i := range events {
		e := &events[i]
		a.types[i], a.ids[i], a.keyed[i], a.ts[i] = e.Type, e.ID, e.Keyed, e.Time.UnixNano()
		a.data[i] = e.Data
		if a.data[i] == nil {
			a.data[i] = []byte{}
		}
		if e.Metadata != nil {
			m := string(e.Metadata)
			a.meta[i] = &m
		}
		if e.Keyed {
			a.keys = append(a.keys, e.ID)
		}
	}
	return a
}

func (a *appendArgs) hasKeys() bool { return len(a.keys) > 0 }

// without returns the arguments without the events whose keyed IDs are
// in drop.
func (a *appendArgs) without(drop map[string]chronicle.Position) *appendArgs {
	out := &appendArgs{}
	for i := range a.ids {
		if _, dup := drop[a.ids[i]]; dup && a.keyed[i] {
			continue
		}
		out.types = append(out.types, a.types[i])
		out.ids = append(out.ids, a.ids[i])
		out.data = append(out.data, a.data[i])
		out.meta = append(out.meta, a.meta[i])
		out.keyed = append(out.keyed, a.keyed[i])
		out.ts = append(out.ts, a.ts[i])
		if a.keyed[i] {
			out.keys = append(out.keys, a.ids[i])
		}
	}
	return out
}

// lockSQL takes the stream's append lock: an advisory lock on the hash of
// the schema and stream name, held to the end of the transaction. It must
// come before anything that gives the transaction its ID (any write, or a
// row lock): PostgreSQL may give a transaction its ID before it waits for a
// row lock, so two appends to one stream could otherwise take their IDs in
// one order and their versions in the other, and the global stream, read
// in ID order, would show the stream's versions out of order. An advisory
// lock needs no transaction ID, so an append that waits for it takes its ID
// after the previous append to the stream has ended.
const lockSQL = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"

// lockKey is the text lockSQL hashes; schema names hold no space.
func (b *Backend) lockKey(stream string) string { return b.opts.Schema + " " + stream }

// querier is what appendOnce needs of a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// appendOnce runs one append statement. ok is true when it wrote the
// events, or, guarded, found every one of them already in the stream (and
// their positions: out.found). ok is false when it wrote nothing because
// the claim failed, the guard found some but not all of the events already
// in the stream, or a concurrent append wrote the same keyed ID first.
// With a nil q it runs in a transaction of its own, after the stream's
// lock, both in one round trip (one pipelined batch, which PostgreSQL runs
// as one implicit transaction); else in q, which must hold the lock
// already.
func (b *Backend) appendOnce(ctx context.Context, q querier, stream string, a *appendArgs, c claim, expect int64, guarded bool) (outcome, bool, error) {
	g := 0
	if guarded {
		g = 1
	}
	n := len(a.ids)
	args := []any{stream, n, a.ts[0], a.ts[n-1], a.types, a.data, a.meta, a.ids, a.keyed, a.ts, expect, a.keys}
	var rows pgx.Rows
	var br pgx.BatchResults
	if q == nil {
		batch := &pgx.Batch{}
		if b.beginRC {
			batch.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
		}
		batch.Queue(lockSQL, b.lockKey(stream))
		batch.Queue(b.sql.appends[c][g], args...)
		if b.beginRC {
			batch.Queue("COMMIT")
		}
		br = b.pool.SendBatch(ctx, batch)
		defer br.Close()
		if b.beginRC {
			if _, err := br.Exec(); err != nil {
				return outcome{}, false, err
			}
		}
		if _, err := br.Exec(); err != nil {
			return outcome{}, false, err
		}
		rows, _ = br.Query() // its error, if any, comes back from ForEachRow
	} else {
		var err error
		if rows, err = q.Query(ctx, b.sql.appends[c][g], args...); err != nil {
			return outcome{}, false, err
		}
	}
	type row struct{ tx, seq, version int64 }
	var wrote []row
	var found map[string]chronicle.Position
	var version int64 // the stream's version, from the rows of events found
	var r row
	var id *string // NULL for an event written, else the keyed ID found
	_, err := pgx.ForEachRow(rows, []any{&r.tx, &r.seq, &r.version, &id}, func() error {
		if id == nil {
			wrote = append(wrote, r)
			return nil
		}
		if found == nil {
			found = make(map[string]chronicle.Position)
		}
		found[*id] = chronicle.Position{Commit: uint64(r.tx), Prepare: uint64(r.seq)}
		version = r.version
		return nil
	})
	if err == nil && br != nil && b.beginRC {
		_, err = br.Exec() // COMMIT
	}
	if err == nil && br != nil {
		err = br.Close() // the commit: only now is the append acknowledged
	}
	if err != nil {
		if isKeyViolation(err) {
			return outcome{}, false, nil
		}
		return outcome{}, false, err
	}
	switch {
	case len(wrote) == 0 && len(found) == n:
		return outcome{version: version, found: found}, true, nil // every event is stored already
	case len(wrote) == 0:
		return outcome{}, false, nil
	case len(wrote) != n || len(found) > 0:
		return outcome{}, false, fmt.Errorf("wrote %d of %d events and found %d", len(wrote), n, len(found))
	}
	slices.SortFunc(wrote, func(x, y row) int { return cmp.Compare(x.version, y.version) })
	out := outcome{version: wrote[n-1].version, wrote: make([]chronicle.Position, n)}
	for i, r := range wrote {
		out.wrote[i] = chronicle.Position{Commit: uint64(r.tx), Prepare: uint64(r.seq)}
	}
	return out, true, nil
}

// isKeyViolation reports a unique violation of the keyed-ID index (another
// append wrote the same ID) or of the streams key (another append created
// the stream first): both are races that a second try settles.
func isKeyViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" &&
		(pe.ConstraintName == "events_stream_key" || pe.ConstraintName == "streams_pkey")
}

// appendCareful is the transaction for the cases the single statement
// declined: it takes the stream's lock, drops the events whose keyed IDs
// are already in the stream (the same query reads their positions), checks
// the expectation against the version it holds the lock for, and writes
// the rest. ok is false when another append created the stream or wrote a
// keyed ID meanwhile, so the caller retries.
func (b *Backend) appendCareful(ctx context.Context, p *chronicle.AppendParams) (out outcome, ok bool, err error) {
	err = pgx.BeginTxFunc(ctx, b.pool, readCommitted, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockSQL, b.lockKey(p.Stream)); err != nil {
			return err
		}
		var cur int64
		err := tx.QueryRow(ctx, "SELECT version FROM "+b.sql.schema+".streams WHERE name = $1", p.Stream).Scan(&cur)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		a := newAppendArgs(p.Events)
		var found map[string]chronicle.Position
		if a.hasKeys() {
			rows, err := tx.Query(ctx, "SELECT id, tx_id, seq FROM "+b.sql.schema+".events WHERE stream = $1 AND keyed AND id = ANY($2::text[])", p.Stream, a.keys)
			if err != nil {
				return err
			}
			var id string
			var txID, seq int64
			_, err = pgx.ForEachRow(rows, []any{&id, &txID, &seq}, func() error {
				if found == nil {
					found = make(map[string]chronicle.Position)
				}
				found[id] = chronicle.Position{Commit: uint64(txID), Prepare: uint64(seq)}
				return nil
			})
			if err != nil {
				return err
			}
			if len(found) > 0 {
				a = a.without(found)
			}
		}
		if len(a.ids) == 0 {
			out, ok = outcome{version: cur, found: found}, true
			return nil
		}
		if err := p.Expect.Check(p.Stream, cur); err != nil {
			return err
		}
		c := claimUpdate
		if cur == 0 {
			c = claimCreate
		}
		out, ok, err = b.appendOnce(ctx, tx, p.Stream, a, c, cur, false)
		if err == nil && !ok {
			return errRetry // roll back; another append created the stream
		}
		out.found = found
		return err
	})
	if errors.Is(err, errRetry) || (err != nil && isKeyViolation(err)) {
		return outcome{}, false, nil
	}
	return out, ok, err
}

var errRetry = errors.New("retry")
