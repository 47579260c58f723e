package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/jackc/pgx/v5"
)

// frontierSQL is the visibility frontier: every transaction with a smaller
// ID has ended, so the global stream below it can no longer change.
const frontierSQL = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS x"

// eventCols are the columns of an event row, NULL-safe for the outer join
// that keeps one row when the page is empty (found is then false).
const eventCols = "e.tx_id IS NOT NULL, coalesce(e.tx_id, 0), coalesce(e.seq, 0), coalesce(e.stream, ''), " +
	"coalesce(e.version, 0), coalesce(e.type, ''), coalesce(e.data, ''::bytea), e.meta, coalesce(e.id, ''), coalesce(e.ts, 0)"

// query builds a statement with numbered parameters.
type query struct {
	sb   strings.Builder
	args []any
}

func (q *query) s(parts ...string) *query {
	for _, p := range parts {
		q.sb.WriteString(p)
	}
	return q
}

// arg adds a parameter and writes its placeholder, with cast when given.
func (q *query) arg(v any, cast string) *query {
	q.args = append(q.args, v)
	q.sb.WriteString("$" + strconv.Itoa(len(q.args)) + cast)
	return q
}

// ReadStream implements [chronicle.Backend.ReadStream] in one statement,
// so the page, the stream's version (Next) and the frontier (Head) come
// from one snapshot. A stream's events need no frontier: appends to one
// stream are serialized by its lock (see lockSQL), so its versions become
// visible in order.
func (b *Backend) ReadStream(ctx context.Context, p *chronicle.ReadStreamParams) (chronicle.ReadStreamResult, error) {
	var q query
	q.s("SELECT f.x, coalesce(st.version, 0), ", eventCols, " FROM (", frontierSQL, ") f ")
	q.s("LEFT JOIN ", b.sql.schema, ".streams st ON st.name = ").arg(p.Stream, "")
	q.s(" LEFT JOIN LATERAL (SELECT * FROM ", b.sql.schema, ".events WHERE stream = $1")
	order := " ORDER BY version"
	switch {
	case !p.Backwards:
		q.s(" AND version > ").arg(p.From, "::bigint")
	case p.From > 0:
		q.s(" AND version < ").arg(p.From, "::bigint")
		order += " DESC"
	default:
		order += " DESC"
	}
	if err := whereFilter(&q, p.Filter); err != nil {
		return chronicle.ReadStreamResult{}, err
	}
	q.s(order, " LIMIT ").arg(p.Limit, "::bigint").s(") e ON true")

	var res chronicle.ReadStreamResult
	var frontier, version int64
	if err := b.replayed(ctx); err != nil {
		return res, fmt.Errorf("postgres: %w", interpret(err))
	}
	events, err := b.readEvents(ctx, &q, p.Limit, &frontier, &version)
	if err != nil {
		return res, fmt.Errorf("postgres: %w", interpret(err))
	}
	res.Events = events
	if !p.Backwards {
		if len(events) == p.Limit {
			res.Next = events[len(events)-1].Version
		} else {
			res.Next = version
			res.Head = chronicle.Position{Commit: uint64(frontier)}
		}
	}
	return res, nil
}

// EventByID implements [chronicle.Backend.EventByID], through the
// idempotency index. Like reads, it sees this store's own appends when it
// reads from a replica.
func (b *Backend) EventByID(ctx context.Context, stream, id string) (chronicle.Event, bool, error) {
	if err := b.replayed(ctx); err != nil {
		return chronicle.Event{}, false, fmt.Errorf("postgres: %w", interpret(err))
	}
	var q query
	q.s("SELECT 0::bigint, 0::bigint, ", eventCols, " FROM (SELECT 1) f LEFT JOIN LATERAL (SELECT * FROM ", b.sql.schema, ".events")
	q.s(" WHERE stream = ").arg(stream, "").s(" AND id = ").arg(id, "").s(" AND keyed) e ON true")
	var unused int64
	events, err := b.readEvents(ctx, &q, 1, &unused, &unused)
	if err != nil {
		return chronicle.Event{}, false, fmt.Errorf("postgres: %w", interpret(err))
	}
	if len(events) == 0 {
		return chronicle.Event{}, false, nil
	}
	return events[0], true, nil
}

// ReadAll implements [chronicle.Backend.ReadAll]: the events below the
// frontier, in (tx_id, seq) order. Next, on a short forward page, is the
// frontier itself: every event after it belongs to a transaction that had
// not ended when the page was read.
func (b *Backend) ReadAll(ctx context.Context, p *chronicle.ReadAllParams) (chronicle.ReadAllResult, error) {
	var q query
	q.s("SELECT f.x, 0::bigint, ", eventCols, " FROM (", frontierSQL, ") f ")
	q.s("LEFT JOIN LATERAL (SELECT * FROM ", b.sql.schema, ".events WHERE tx_id < f.x")
	tx, seq := sqlInt(p.From.Commit), sqlInt(p.From.Prepare)
	order := " ORDER BY tx_id, seq"
	switch {
	case !p.Backwards:
		q.s(" AND (tx_id, seq) > (").arg(tx, "::bigint").s(", ").arg(seq, "::bigint").s(")")
	case !p.From.IsZero():
		q.s(" AND (tx_id, seq) < (").arg(tx, "::bigint").s(", ").arg(seq, "::bigint").s(")")
		order = " ORDER BY tx_id DESC, seq DESC"
	default:
		order = " ORDER BY tx_id DESC, seq DESC"
	}
	if err := whereFilter(&q, p.Filter); err != nil {
		return chronicle.ReadAllResult{}, err
	}
	q.s(order, " LIMIT ").arg(p.Limit, "::bigint").s(") e ON true")

	var res chronicle.ReadAllResult
	var frontier, unused int64
	err := b.visible(ctx, func() (int64, error) {
		var err error
		res.Events, err = b.readEvents(ctx, &q, p.Limit, &frontier, &unused)
		return frontier, err
	})
	if err != nil {
		return res, fmt.Errorf("postgres: %w", interpret(err))
	}
	if !p.Backwards {
		if len(res.Events) == p.Limit {
			res.Next = res.Events[len(res.Events)-1].Position
		} else {
			res.Next = chronicle.Position{Commit: uint64(frontier)}
		}
	}
	return res, nil
}

// visible runs read until the frontier it returns has passed this store's
// own newest write, so that a read after an append sees it, or until
// Options.VisibilityWait has passed (a long transaction holds the frontier
// back); then it returns what read saw.
func (b *Backend) visible(ctx context.Context, read func() (frontier int64, err error)) error {
	own := b.ownXid.Load()
	return b.await(ctx, own, &b.frontierPast, func() (bool, error) {
		frontier, err := read()
		return uint64(frontier) > own, err
	})
}

// replicaEndedSQL returns which of the transactions $1 have ended on the
// replica (on a standby: their commit has been replayed). It cannot go by
// the snapshot's list of running transactions: on a standby that list is
// empty (PostgreSQL keeps a standby's running transactions apart, and
// pg_current_snapshot does not show them), so a transaction below xmax may
// still be running there. Below xmin, every transaction has ended; between
// xmin and xmax, pg_xact_status tells; from xmax on, none has (and
// pg_xact_status would fail on an ID the replica has not reached).
const replicaEndedSQL = "SELECT coalesce(array_agg(x), '{}') FROM unnest($1::bigint[]) AS x, " +
	"(SELECT pg_snapshot_xmin(c)::text::bigint AS xmin, pg_snapshot_xmax(c)::text::bigint AS xmax FROM pg_current_snapshot() c) AS s " +
	"WHERE CASE WHEN x < s.xmin THEN true WHEN x < s.xmax THEN pg_xact_status(x::text::xid8) IS DISTINCT FROM 'in progress' ELSE false END"

// replayed waits, when reads go to a replica, until the replica has
// replayed every write of this store that it had not been seen to have,
// so that a read after a write sees it, or until Options.VisibilityWait
// has passed (a lagging standby). Writes are checked one by one: a
// standby replays commits in commit order, not in transaction ID order, so
// the newest ID being there says nothing of an older one that committed
// later. Reads that check the frontier (visible) need no such wait.
func (b *Backend) replayed(ctx context.Context) error {
	if b.read == b.pool {
		return nil
	}
	waiting := b.unreplayed.list()
	if len(waiting) == 0 {
		return nil
	}
	timedOut, err := poll(ctx, b.opts.VisibilityWait, 100*time.Microsecond, 10*time.Millisecond, func() (bool, error) {
		ids := make([]int64, len(waiting))
		for i, x := range waiting {
			ids[i] = int64(x)
		}
		var ended []int64
		if err := b.read.QueryRow(ctx, replicaEndedSQL, ids).Scan(&ended); err != nil {
			return false, err
		}
		var left, done []uint64
		for _, x := range waiting {
			if slices.Contains(ended, int64(x)) {
				done = append(done, x)
			} else {
				left = append(left, x)
			}
		}
		b.unreplayed.remove(done)
		waiting = left
		return len(left) == 0, nil
	})
	if timedOut {
		b.unreplayed.remove(waiting) // stop waiting for them
	}
	return err
}

// xidSet holds this store's committed writes that reads on the replica
// have not yet seen there, in commit order. Writes older than
// Options.VisibilityWait are dropped as new ones come: reads would stop
// waiting for them anyway, and the set stays bounded when nothing reads.
type xidSet struct {
	mu   sync.Mutex
	xids []uint64
	at   []time.Time
}

func (s *xidSet) add(xid uint64, now time.Time, keep time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := 0
	for old < len(s.at) && now.Sub(s.at[old]) > keep {
		old++
	}
	s.xids = append(s.xids[old:], xid)
	s.at = append(s.at[old:], now)
}

func (s *xidSet) list() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.xids)
}

func (s *xidSet) remove(xids []uint64) {
	if len(xids) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j := 0
	for i, x := range s.xids {
		if !slices.Contains(xids, x) {
			s.xids[j], s.at[j] = x, s.at[i]
			j++
		}
	}
	s.xids, s.at = s.xids[:j], s.at[:j]
}

// await runs check until it reports true, an error, or
// Options.VisibilityWait has passed for the write own. past holds the
// newest write that needs no more waiting: once check has held for a
// write, or a wait for it has timed out, later calls run check once.
func (b *Backend) await(ctx context.Context, own uint64, past *atomic.Uint64, check func() (bool, error)) error {
	if own <= past.Load() {
		_, err := check()
		return err
	}
	if _, err := poll(ctx, b.opts.VisibilityWait, 100*time.Microsecond, 10*time.Millisecond, check); err != nil {
		return err
	}
	raise(past, own) // check held, or the wait for own timed out
	return nil
}

// sqlInt clamps a position part to PostgreSQL's bigint.
func sqlInt(u uint64) int64 {
	if u > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(u)
}

// readEvents runs a statement whose rows are (frontier, extra, eventCols…)
// and returns the events, storing the frontier and the extra column.
func (b *Backend) readEvents(ctx context.Context, q *query, limit int, frontier, extra *int64) ([]chronicle.Event, error) {
	rows, err := b.read.Query(ctx, q.sb.String(), q.args...)
	if err != nil {
		return nil, err
	}
	events := make([]chronicle.Event, 0, min(limit, 256))
	var (
		found            bool
		tx, seq, ver, ts int64
		stream, typ, id  string
		data, meta       []byte
		dest             = []any{frontier, extra, &found, &tx, &seq, &stream, &ver, &typ, &data, &meta, &id, &ts}
	)
	_, err = pgx.ForEachRow(rows, dest, func() error {
		if !found {
			return nil
		}
		ev := chronicle.Event{
			Stream: stream, Version: ver, Position: chronicle.Position{Commit: uint64(tx), Prepare: uint64(seq)},
			ID: id, Type: typ, Time: time.Unix(0, ts).UTC(),
		}
		if len(data) > 0 {
			ev.Data = data
		}
		if meta != nil {
			ev.Metadata = json.RawMessage(meta)
		}
		events = append(events, ev)
		data, meta = nil, nil // the next row gets new slices
		return nil
	})
	return events, err
}

// whereFilter appends the filter's conditions, each as " AND (…)", with
// every value a parameter.
func whereFilter(q *query, f chronicle.Filter) error {
	if err := f.Validate(); err != nil {
		return err
	}
	for _, c := range f {
		q.s(" AND (")
		switch c.Field {
		case chronicle.FieldStream, chronicle.FieldType:
			col := "stream"
			if c.Field == chronicle.FieldType {
				col = "type"
			}
			switch c.Op {
			case chronicle.OpEquals:
				q.s(col, " = ").arg(c.Values[0].(string), "::text")
			case chronicle.OpIn:
				vals := make([]string, len(c.Values))
				for i, v := range c.Values {
					vals[i] = v.(string)
				}
				q.s(col, " = ANY(").arg(vals, "::text[]").s(")")
			case chronicle.OpPrefix:
				prefix := c.Values[0].(string)
				q.s(col, " >= ").arg(prefix, "::text").s(" AND ", col, " < ").arg(prefixEnd(prefix), "::text")
			}
		case chronicle.FieldMetadata:
			metadataSQL(q, c)
		}
		q.s(")")
	}
	return nil
}

// prefixEnd returns the least string greater than every string that starts
// with prefix, in byte order (the "C" collation of the name columns).
// Valid UTF-8 never holds 0xff, so incrementing the last byte never
// overflows.
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	b[len(b)-1]++
	return string(b)
}

// metadataSQL matches a metadata value by JSON kind, as the SQLite backend
// does: the value at the path, reached by object keys only (never array
// indexes), must equal one of the values as JSON, so strings match only
// JSON strings, numbers only JSON numbers (1 matches 1.0), booleans only
// JSON booleans.
func metadataSQL(q *query, c chronicle.Condition) {
	path, _ := chronicle.ParseMetadataPath(c.Path)
	vals := make([]string, 0, len(c.Values))
	for _, v := range c.Values {
		switch x := chronicle.NormalizeMetadataValue(v).(type) {
		case string:
			if strings.IndexByte(x, 0) >= 0 {
				continue // jsonb holds no U+0000, so nothing can match it
			}
			j, _ := json.Marshal(x)
			vals = append(vals, string(j))
		case bool:
			vals = append(vals, strconv.FormatBool(x))
		case int64:
			vals = append(vals, strconv.FormatInt(x, 10))
		case float64: // finite: Validate rejects NaN and infinities
			vals = append(vals, strconv.FormatFloat(x, 'g', -1, 64))
		}
	}
	if len(vals) == 0 {
		q.s("false")
		return
	}
	q.s("meta")
	for _, key := range path {
		q.s(" -> ").arg(key, "::text")
	}
	q.s(" = ANY(").arg(vals, "::jsonb[]").s(")")
}
