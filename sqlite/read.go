package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chronicle-go/chronicle"
)

const eventColumns = "position, stream, version, type, data, meta, id, ts"

// withReader runs fn on a pooled read-only connection.
func (b *Backend) withReader(ctx context.Context, fn func(c *conn) error) error {
	c, err := b.readers.get(ctx)
	if err != nil {
		return err
	}
	defer b.readers.put(c)
	return interpret(ctx, fn(c))
}

// ReadStream implements [chronicle.Backend.ReadStream]. A forward read
// that comes back short also reads the stream's version and the head in the
// same read transaction, so Next and Head cover every event the query
// examined.
func (b *Backend) ReadStream(ctx context.Context, p *chronicle.ReadStreamParams) (chronicle.ReadStreamResult, error) {
	var res chronicle.ReadStreamResult
	var err error
	res.Events, err = b.readPage(ctx, "stream = ? AND version", "version", []any{p.Stream}, p.From, p.Backwards, p.Limit, p.Filter,
		func(c *conn) error {
			var head int64
			if _, err := c.row(sqlStreamVersion, []*int64{&res.Next}, p.Stream); err != nil {
				return err
			}
			if _, err := c.row(sqlHead, []*int64{&head}); err != nil {
				return err
			}
			res.Head = chronicle.At(uint64(head))
			return nil
		})
	if err == nil && len(res.Events) == p.Limit && !p.Backwards {
		res.Next = res.Events[len(res.Events)-1].Version
	}
	return res, err
}

// ReadAll implements [chronicle.Backend.ReadAll]. As in ReadStream, a
// forward read that comes back short also reads the head in the same read
// transaction, so Next covers every event the query examined.
func (b *Backend) ReadAll(ctx context.Context, p *chronicle.ReadAllParams) (chronicle.ReadAllResult, error) {
	from, err := sqlPosition(p.From)
	if err != nil {
		return chronicle.ReadAllResult{}, err
	}
	var res chronicle.ReadAllResult
	res.Events, err = b.readPage(ctx, "position", "position", nil, from, p.Backwards, p.Limit, p.Filter,
		func(c *conn) error {
			var head int64
			if _, err := c.row(sqlHead, []*int64{&head}); err != nil {
				return err
			}
			res.Next = chronicle.At(uint64(head))
			return nil
		})
	if err == nil && len(res.Events) == p.Limit && !p.Backwards {
		res.Next = res.Events[len(res.Events)-1].Position
	}
	return res, err
}

// EventByID implements [chronicle.Backend.EventByID], through the
// idempotency index.
func (b *Backend) EventByID(ctx context.Context, stream, id string) (chronicle.Event, bool, error) {
	var events []chronicle.Event
	err := b.withReader(ctx, func(c *conn) error {
		var err error
		events, err = queryEvents(c, "SELECT "+eventColumns+" FROM chronicle_events WHERE stream = ? AND id = ? AND keyed = 1", []any{stream, id}, 1)
		return err
	})
	if err != nil || len(events) == 0 {
		return chronicle.Event{}, false, err
	}
	return events[0], true, nil
}

// readPage reads up to limit events in one read transaction: those whose
// cursor column (version or position, after the fixed conditions in where
// with their args) is beyond from in the read's direction, where a
// backwards from of 0 means the end. When a forward read comes back short,
// short runs in the same transaction.
func (b *Backend) readPage(ctx context.Context, where, col string, args []any, from int64, backwards bool,
	limit int, f chronicle.Filter, short func(c *conn) error) ([]chronicle.Event, error) {
	var q strings.Builder
	q.WriteString("SELECT " + eventColumns + " FROM chronicle_events WHERE " + where)
	order := " ORDER BY " + col
	switch {
	case !backwards:
		q.WriteString(" > ?")
		args = append(args, from)
	case from > 0:
		q.WriteString(" < ?")
		args = append(args, from)
		order += " DESC"
	default:
		q.WriteString(" IS NOT NULL")
		order += " DESC"
	}
	if err := whereFilter(&q, &args, f); err != nil {
		return nil, err
	}
	q.WriteString(order + " LIMIT ?")
	args = append(args, limit)

	var events []chronicle.Event
	err := b.withReader(ctx, func(c *conn) error {
		if err := c.exec("BEGIN"); err != nil {
			return err
		}
		defer func() { _ = c.exec("COMMIT") }()
		var err error
		if events, err = queryEvents(c, q.String(), args, limit); err != nil {
			return err
		}
		if !backwards && len(events) < limit {
			return short(c)
		}
		return nil
	})
	return events, err
}

// sqlPosition maps a chronicle position to this backend's single number.
func sqlPosition(p chronicle.Position) (int64, error) {
	if p.Commit != p.Prepare || p.Commit > 1<<63-1 {
		if p == chronicle.EndPosition() {
			return 1<<63 - 1, nil
		}
		return 0, fmt.Errorf("sqlite: %w: position %s is not a SQLite position", chronicle.ErrInvalid, p)
	}
	return int64(p.Commit), nil
}

// queryEvents runs a query selecting eventColumns and decodes its rows.
func queryEvents(c *conn, query string, args []any, limit int) ([]chronicle.Event, error) {
	st, err := c.prep(query)
	if err != nil {
		return nil, err
	}
	defer done(st)
	if err := bind(st, args...); err != nil {
		return nil, err
	}
	// A page grows as rows come: live reads often return one event, and a
	// page of Limit events would allocate (and clear) Limit of them.
	events := make([]chronicle.Event, 0, min(limit, 64))
	var sc scanner
	for st.Step() {
		events = append(events, sc.event(st))
	}
	return events, st.Err()
}

// scanner decodes rows of eventColumns. It reuses the previous row's stream
// and type strings when they repeat, and carves event data out of a shared
// buffer, so that decoding costs about one allocation per event (its ID).
type scanner struct {
	stream, typ string
	buf         []byte
}

// arenaSize is the size of each shared data buffer; larger payloads get
// their own allocation.
const arenaSize = 16 << 10

// bytes copies raw into the shared buffer and returns the copy, capped so
// that appending to it never touches the next event's bytes.
func (sc *scanner) bytes(raw []byte) []byte {
	if len(raw) > arenaSize/4 {
		return append([]byte(nil), raw...)
	}
	if len(raw) > cap(sc.buf)-len(sc.buf) {
		sc.buf = make([]byte, 0, arenaSize)
	}
	n := len(sc.buf)
	sc.buf = append(sc.buf, raw...)
	return sc.buf[n:len(sc.buf):len(sc.buf)]
}

// event decodes the current row.
func (sc *scanner) event(st dbStmt) chronicle.Event {
	stream, typ := &sc.stream, &sc.typ
	if raw := st.ColumnRawText(1); string(raw) != *stream {
		*stream = string(raw)
	}
	if raw := st.ColumnRawText(3); string(raw) != *typ {
		*typ = string(raw)
	}
	pos := uint64(st.ColumnInt64(0))
	ev := chronicle.Event{
		Stream:   *stream,
		Version:  st.ColumnInt64(2),
		Position: chronicle.At(pos),
		Type:     *typ,
		ID:       st.ColumnText(6),
		Time:     time.Unix(0, st.ColumnInt64(7)).UTC(),
	}
	if raw := st.ColumnRawBlob(4); len(raw) > 0 {
		ev.Data = sc.bytes(raw)
	}
	// Empty metadata is stored as NULL, so no bytes means none.
	if raw := st.ColumnRawText(5); len(raw) > 0 {
		ev.Metadata = json.RawMessage(sc.bytes(raw))
	}
	return ev
}

// whereFilter appends the filter's conditions, each as " AND (…)", with
// every value bound as a parameter.
func whereFilter(q *strings.Builder, args *[]any, f chronicle.Filter) error {
	if err := f.Validate(); err != nil {
		return err
	}
	for _, c := range f {
		q.WriteString(" AND (")
		switch c.Field {
		case chronicle.FieldStream, chronicle.FieldType:
			col := "stream"
			if c.Field == chronicle.FieldType {
				col = "type"
			}
			switch c.Op {
			case chronicle.OpEquals:
				q.WriteString(col + " = ?")
				*args = append(*args, c.Values[0])
			case chronicle.OpIn:
				q.WriteString(col + " IN (" + repeatJoin("?", len(c.Values)) + ")")
				*args = append(*args, c.Values...)
			case chronicle.OpPrefix:
				prefix := c.Values[0].(string)
				q.WriteString(col + " >= ? AND " + col + " < ?")
				*args = append(*args, prefix, prefixEnd(prefix))
			}
		case chronicle.FieldMetadata:
			metadataSQL(q, args, c)
		}
		q.WriteString(")")
	}
	return nil
}

// prefixEnd returns the least string greater than every string that starts
// with prefix, in byte order. Valid UTF-8 never holds 0xff, so incrementing
// the last byte never overflows.
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	b[len(b)-1]++
	return string(b)
}

// metadataSQL matches a metadata value by JSON kind: strings with
// json_extract (TEXT), numbers only where json_type says the value is a
// number, booleans by json_type, so "1", 1 and true never match each other.
func metadataSQL(q *strings.Builder, args *[]any, c chronicle.Condition) {
	segs, _ := chronicle.ParseMetadataPath(c.Path)
	path := "$"
	for _, s := range segs {
		path += "." + strconv.Quote(s)
	}
	var strs, nums []any
	var bools []string
	for _, v := range c.Values {
		switch x := chronicle.NormalizeMetadataValue(v).(type) {
		case string:
			strs = append(strs, x)
		case bool:
			if x {
				bools = append(bools, "'true'")
			} else {
				bools = append(bools, "'false'")
			}
		default:
			nums = append(nums, x)
		}
	}
	var parts []string
	if len(strs) > 0 {
		parts = append(parts, "(json_type(meta, ?) = 'text' AND json_extract(meta, ?) IN ("+repeatJoin("?", len(strs))+"))")
		*args = append(*args, path, path)
		*args = append(*args, strs...)
	}
	if len(nums) > 0 {
		parts = append(parts, "(json_type(meta, ?) IN ('integer', 'real') AND json_extract(meta, ?) IN ("+repeatJoin("?", len(nums))+"))")
		*args = append(*args, path, path)
		*args = append(*args, nums...)
	}
	if len(bools) > 0 {
		parts = append(parts, "json_type(meta, ?) IN ("+strings.Join(bools, ", ")+")")
		*args = append(*args, path)
	}
	q.WriteString(strings.Join(parts, " OR "))
}
