// Package memback is an in-memory [chronicle.Backend]: a test double and a
// reference model of the Backend contract.
//
// It keeps the global stream in one slice guarded by one mutex, so every
// call sees a consistent state and appends are trivially atomic. Positions
// are chronicle.At(1), chronicle.At(2), … in commit order. Everything handed
// in or out is copied, so callers never share memory with the store.
// Nothing is persisted; it is meant for tests, not for production.
package memback

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/chronicle-go/chronicle"
)

// Backend is an in-memory [chronicle.Backend]. Create it with [New]; the
// zero value is not usable.
type Backend struct {
	mu      sync.RWMutex
	closed  bool
	log     []chronicle.Event // the global stream: log[i].Position == chronicle.At(i+1)
	streams map[string]*stream
	snaps   map[snapKey]chronicle.Snapshot
}

type stream struct {
	index []int          // index[v-1] is the position in log of version v
	ids   map[string]int // keyed IDs of the stream's events -> index in log
}

type snapKey struct{ stream, name string }

var _ chronicle.Backend = (*Backend)(nil)

// New returns an empty in-memory backend.
func New() *Backend {
	return &Backend{
		streams: make(map[string]*stream),
		snaps:   make(map[snapKey]chronicle.Snapshot),
	}
}

// Open returns a [chronicle.Store] over a new, empty in-memory backend.
func Open() (*chronicle.Store, error) {
	return chronicle.New(New(), nil)
}

// check reports a done ctx or a closed backend. The caller holds mu.
func (b *Backend) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.closed {
		return chronicle.ErrClosed
	}
	return nil
}

func (b *Backend) version(name string) int64 {
	if st := b.streams[name]; st != nil {
		return int64(len(st.index))
	}
	return 0
}

func (b *Backend) head() chronicle.Position {
	if len(b.log) == 0 {
		return chronicle.Position{}
	}
	return b.log[len(b.log)-1].Position
}

// Append implements [chronicle.Backend].
func (b *Backend) Append(ctx context.Context, p *chronicle.AppendParams) (chronicle.AppendResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.check(ctx); err != nil {
		return chronicle.AppendResult{}, err
	}
	st := b.streams[p.Stream]
	version := b.version(p.Stream)

	// Find the events whose keyed ID is already in the stream (or earlier
	// in the batch, although the Store already collapsed those): they are
	// not written again, and report the position of the copy stored.
	positions := make([]chronicle.Position, len(p.Events))
	known := make(map[string]int) // keyed ID -> index in the batch of its first event
	written := 0
	for i, e := range p.Events {
		if !e.Keyed {
			written++
			continue
		}
		if st != nil {
			if at, dup := st.ids[e.ID]; dup {
				positions[i] = b.log[at].Position
				continue
			}
		}
		if _, dup := known[e.ID]; dup {
			continue
		}
		known[e.ID] = i
		written++
	}
	if written == 0 {
		return chronicle.AppendResult{Version: version, Positions: positions}, nil
	}
	if err := p.Expect.Check(p.Stream, version); err != nil {
		return chronicle.AppendResult{}, err
	}

	if st == nil {
		st = &stream{ids: make(map[string]int)}
		b.streams[p.Stream] = st
	}
	for i, e := range p.Events {
		if e.Keyed && (!positions[i].IsZero() || known[e.ID] != i) {
			continue // found in the stream, or a repeat within the batch
		}
		version++
		ev := chronicle.Event{
			Stream:   p.Stream,
			Version:  version,
			Position: chronicle.At(uint64(len(b.log) + 1)),
			ID:       e.ID,
			Type:     e.Type,
			Data:     clone(e.Data),
			Metadata: clone(e.Metadata),
			Time:     e.Time.UTC(),
		}
		b.log = append(b.log, ev)
		st.index = append(st.index, len(b.log)-1)
		if e.Keyed {
			st.ids[e.ID] = len(b.log) - 1
		}
		positions[i] = ev.Position
	}
	for i, e := range p.Events {
		if e.Keyed && positions[i].IsZero() {
			positions[i] = positions[known[e.ID]]
		}
	}
	return chronicle.AppendResult{Version: version, Positions: positions, Written: written}, nil
}

// ReadStream implements [chronicle.Backend].
func (b *Backend) ReadStream(ctx context.Context, p *chronicle.ReadStreamParams) (chronicle.ReadStreamResult, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.check(ctx); err != nil {
		return chronicle.ReadStreamResult{}, err
	}
	st := b.streams[p.Stream]
	if st == nil {
		if p.Backwards {
			return chronicle.ReadStreamResult{}, nil
		}
		return chronicle.ReadStreamResult{Head: b.head()}, nil
	}
	m := p.Filter
	n := int64(len(st.index))
	var out []chronicle.Event
	add := func(v int64) bool { // v is a version; reports whether the page is full
		if ev := &b.log[st.index[v-1]]; m.Match(ev) {
			out = append(out, copyEvent(ev))
		}
		return len(out) == p.Limit
	}
	if !p.Backwards {
		res := chronicle.ReadStreamResult{Next: n, Head: b.head()}
		if p.From >= n {
			return res, nil
		}
		for v := p.From + 1; v <= n && !add(v); v++ {
		}
		res.Events = out
		if len(out) == p.Limit {
			res.Next = out[len(out)-1].Version
		}
		return res, nil
	}
	last := n
	if p.From > 0 && p.From <= n {
		last = p.From - 1
	}
	for v := last; v >= 1 && !add(v); v-- {
	}
	return chronicle.ReadStreamResult{Events: out}, nil
}

// ReadAll implements [chronicle.Backend].
func (b *Backend) ReadAll(ctx context.Context, p *chronicle.ReadAllParams) (chronicle.ReadAllResult, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.check(ctx); err != nil {
		return chronicle.ReadAllResult{}, err
	}
	m := p.Filter
	var res chronicle.ReadAllResult
	add := func(i int) bool { // i indexes log; reports whether the page is full
		if ev := &b.log[i]; m.Match(ev) {
			res.Events = append(res.Events, copyEvent(ev))
		}
		return len(res.Events) == p.Limit
	}
	if !p.Backwards {
		// The first event after From.
		first := sort.Search(len(b.log), func(i int) bool { return p.From.Before(b.log[i].Position) })
		full := false
		for i := first; i < len(b.log) && !full; i++ {
			full = add(i)
		}
		if full {
			res.Next = res.Events[len(res.Events)-1].Position
		} else {
			res.Next = b.head()
		}
		return res, nil
	}
	end := len(b.log) // one past the last event before From
	if !p.From.IsZero() {
		end = sort.Search(len(b.log), func(i int) bool { return !b.log[i].Position.Before(p.From) })
	}
	for i := end - 1; i >= 0 && !add(i); i-- {
	}
	return res, nil
}

// EventByID implements [chronicle.Backend].
func (b *Backend) EventByID(ctx context.Context, name, id string) (chronicle.Event, bool, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.check(ctx); err != nil {
		return chronicle.Event{}, false, err
	}
	st := b.streams[name]
	if st == nil {
		return chronicle.Event{}, false, nil
	}
	if i, ok := st.ids[id]; ok {
		return copyEvent(&b.log[i]), true, nil
	}
	return chronicle.Event{}, false, nil
}

// StreamInfo implements [chronicle.Backend].
func (b *Backend) StreamInfo(ctx context.Context, name string) (chronicle.StreamInfo, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.check(ctx); err != nil {
		return chronicle.StreamInfo{}, err
	}
	return b.info(name), nil
}

func (b *Backend) info(name string) chronicle.StreamInfo {
	info := chronicle.StreamInfo{Stream: name}
	st := b.streams[name]
	if st == nil || len(st.index) == 0 {
		return info
	}
	info.Version = int64(len(st.index))
	info.Events = info.Version
	info.FirstTime = b.log[st.index[0]].Time
	info.LastTime = b.log[st.index[len(st.index)-1]].Time
	return info
}

// Stats implements [chronicle.Backend].
func (b *Backend) Stats(ctx context.Context) (chronicle.Stats, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.check(ctx); err != nil {
		return chronicle.Stats{}, err
	}
	return chronicle.Stats{
		Events:  int64(len(b.log)),
		Streams: int64(len(b.streams)),
		Head:    b.head(),
	}, nil
}

// Head implements [chronicle.Backend].
func (b *Backend) Head(ctx context.Context) (chronicle.Position, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.check(ctx); err != nil {
		return chronicle.Position{}, err
	}
	return b.head(), nil
}

// ListStreams implements [chronicle.Backend].
func (b *Backend) ListStreams(ctx context.Context, p *chronicle.ListStreamsParams) ([]chronicle.StreamInfo, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	var names []string
	for name := range b.streams {
		if strings.HasPrefix(name, p.Prefix) && name > p.After {
			names = append(names, name)
		}
	}
	sort.Strings(names) // byte order
	if len(names) > p.Limit {
		names = names[:p.Limit]
	}
	out := make([]chronicle.StreamInfo, len(names))
	for i, name := range names {
		out[i] = b.info(name)
	}
	return out, nil
}

// SaveSnapshot implements [chronicle.Backend].
func (b *Backend) SaveSnapshot(ctx context.Context, s *chronicle.Snapshot) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.check(ctx); err != nil {
		return err
	}
	k := snapKey{s.Stream, s.Name}
	old, haveOld := b.snaps[k]
	if s.Stream == "" {
		if head := b.head(); head.Before(s.Position) {
			return fmt.Errorf("memback: global snapshot at %v, head is %v: %w", s.Position, head, chronicle.ErrVersionNotReached)
		}
		if haveOld && s.Position.Before(old.Position) {
			return nil
		}
	} else {
		if v := b.version(s.Stream); s.Version > v {
			return fmt.Errorf("memback: snapshot at version %d, stream is at %d: %w", s.Version, v, chronicle.ErrVersionNotReached)
		}
		if haveOld && s.Version < old.Version {
			return nil
		}
	}
	snap := *s
	snap.State = bytes.Clone(s.State)
	b.snaps[k] = snap
	return nil
}

// LoadSnapshot implements [chronicle.Backend].
func (b *Backend) LoadSnapshot(ctx context.Context, stream, name string) (chronicle.Snapshot, bool, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.check(ctx); err != nil {
		return chronicle.Snapshot{}, false, err
	}
	snap, ok := b.snaps[snapKey{stream, name}]
	if !ok {
		return chronicle.Snapshot{}, false, nil
	}
	snap.State = bytes.Clone(snap.State)
	return snap, true, nil
}

// WatchChanges implements [chronicle.Backend]. Nothing but this process can
// write to the memory, and the Store announces its own appends, so it only
// waits for ctx.
func (b *Backend) WatchChanges(ctx context.Context, changed func()) {
	<-ctx.Done()
}

// Close implements [chronicle.Backend]. Later calls fail with
// [chronicle.ErrClosed].
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

func clone[S ~[]byte](s S) S {
	if len(s) == 0 {
		return nil
	}
	return bytes.Clone(s)
}

func copyEvent(ev *chronicle.Event) chronicle.Event {
	c := *ev
	c.Data = clone(ev.Data)
	c.Metadata = clone(ev.Metadata)
	return c
}
