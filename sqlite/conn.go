package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"

	"github.com/chronicle-go/chronicle"
)

// maxCachedStmts bounds each connection's statement cache; filters make
// statements of many shapes.
const maxCachedStmts = 256

// conn is one SQLite connection with its cache of prepared statements. It is
// used by one goroutine at a time.
type conn struct {
	c     dbConn
	stmts map[string]dbStmt
}

func newConn(c dbConn) *conn {
	return &conn{c: c, stmts: make(map[string]dbStmt)}
}

// prep returns the prepared statement for query, reset and with its bindings
// cleared, preparing it on first use.
func (c *conn) prep(query string) (dbStmt, error) {
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	if len(c.stmts) >= maxCachedStmts {
		c.dropStmts()
	}
	st, err := c.c.Prepare(query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = st
	return st, nil
}

// done resets st after use so it holds no read lock.
func done(st dbStmt) {
	_ = st.Reset()
	_ = st.ClearBindings()
}

func (c *conn) dropStmts() {
	for q, st := range c.stmts {
		_ = st.Close()
		delete(c.stmts, q)
	}
}

// exec runs a statement that returns no rows.
func (c *conn) exec(query string, args ...any) error {
	st, err := c.prep(query)
	if err != nil {
		return err
	}
	defer done(st)
	if err := bind(st, args...); err != nil {
		return err
	}
	return st.Exec()
}

// int64s runs a query that returns one row with integer columns (NULL reads
// as 0). ok is false when it returns no row.
func (c *conn) row(query string, dest []*int64, args ...any) (ok bool, err error) {
	st, err := c.prep(query)
	if err != nil {
		return false, err
	}
	defer done(st)
	if err := bind(st, args...); err != nil {
		return false, err
	}
	if !st.Step() {
		return false, st.Err()
	}
	for i, d := range dest {
		*d = st.ColumnInt64(i)
	}
	return true, nil
}

func (c *conn) close() error {
	c.dropStmts()
	return c.c.Close()
}

// bind binds args to st's parameters 1..n.
func bind(st dbStmt, args ...any) error {
	for i, a := range args {
		if err := bindOne(st, i+1, a); err != nil {
			return err
		}
	}
	return nil
}

func bindOne(st dbStmt, i int, a any) error {
	switch v := a.(type) {
	case nil:
		return st.BindNull(i)
	case string:
		return st.BindText(i, v)
	case []byte:
		if v == nil {
			v = []byte{}
		}
		return st.BindBlob(i, v)
	case int64:
		return st.BindInt64(i, v)
	case int:
		return st.BindInt64(i, int64(v))
	case float64:
		return st.BindFloat(i, v)
	case bool:
		return st.BindBool(i, v)
	}
	return fmt.Errorf("sqlite: cannot bind %T", a)
}

// pool is a fixed set of read-only connections. It hands out the most
// recently returned connection first, so that a lone reader keeps using one
// connection whose page cache is warm, and the other caches stay small.
type pool struct {
	free chan struct{} // one token per idle connection
	mu   sync.Mutex
	idle []*conn // a stack: the last returned is taken first
}

func (p *pool) add(c *conn) {
	if p.free == nil {
		p.free = make(chan struct{}, maxReadConns)
	}
	p.put(c)
}

func (p *pool) get(ctx context.Context) (*conn, error) {
	select {
	case <-p.free:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	c := p.idle[len(p.idle)-1]
	p.idle = p.idle[:len(p.idle)-1]
	p.mu.Unlock()
	c.c.SetInterrupt(ctx)
	return c, nil
}

// put returns c to the pool, first ending any read transaction that an
// interrupted call left open.
func (p *pool) put(c *conn) {
	c.c.SetInterrupt(context.Background())
	if !c.c.GetAutocommit() {
		_ = c.exec("ROLLBACK")
	}
	p.mu.Lock()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
	p.free <- struct{}{}
}

// interpret turns SQLite errors into chronicle errors where one applies
// (still wrapping the SQLite error), and into the context's error when a
// call was interrupted by its context.
func interpret(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	switch errCode(err) {
	case codeInterrupt:
		if ctx.Err() != nil {
			return ctx.Err()
		}
	case codeNotADB:
		return fmt.Errorf("%w: not a SQLite database (%v)", chronicle.ErrIncompatible, err)
	case codeBusy, codeLocked:
		return fmt.Errorf("%w: %w", chronicle.ErrBusy, err)
	case codeFull:
		return fmt.Errorf("%w: %w", chronicle.ErrStorageFull, err)
	case codeReadOnly:
		return fmt.Errorf("%w: %w", chronicle.ErrReadOnly, err)
	}
	if errors.Is(err, syscall.EROFS) {
		return fmt.Errorf("%w: %w", chronicle.ErrReadOnly, err)
	}
	return err
}
