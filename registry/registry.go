// Package registry maps event type names to Go types, so that an
// application appends and reads Go values instead of bytes, and keeps
// reading events written years ago after their types were renamed or
// changed shape.
//
//	reg := registry.New(nil)
//	registry.Register[Deposited](reg, "Deposited")
//	registry.Register[Withdrawn](reg, "Withdrawn", registry.Version(2),
//		registry.Upcast(1, addCurrency)) // version 1 had no currency
//	registry.Register[Opened](reg, "AccountOpened", registry.Aliases("Opened"))
//
//	data, err := reg.Encode(Deposited{Cents: 500}) // a chronicle.EventData
//	v, err := reg.Decode(ev)                        // a Deposited, as any
//
// Aggregates (package aggregate), projections ([Registry.DecodeAll] on a
// batch) and watches and reads ([Registry.Values]) all decode through
// [Registry.Decode].
//
// # Names, aliases and versions
//
// Each Go type has one name, the one new events are written with, and may
// have aliases: names it was written with before a rename, which decode to
// the same type. Each type has a schema version, 1 unless [Version] says
// otherwise; events are written with the current one, recorded in their
// metadata under [VersionKey] (absent means 1, so events written before
// the registry was used read as version 1). Reading an event of an older
// version runs its data through the type's upcasters, one version at a
// time, before decoding it: [Register] refuses a type whose chain from
// version 1 has a gap, so that a missing upcaster shows at start-up rather
// than when an old event is read.
//
// # Codecs
//
// Data is JSON by default (encoding/json); [Options].Codec plugs in
// another. Upcasters work on the encoded bytes; [UpcastJSON] writes one
// over a JSON object.
package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/chronicle-go/chronicle"
)

// VersionKey is the metadata key under which an event's schema version is
// recorded, when it is more than 1.
const VersionKey = "schema_version"

// Errors of the registry. (Registrations it refuses fail with errors that
// match chronicle.ErrInvalid.)
var (
	// ErrUnknownType: the event's type name (or the Go value's type) is not
	// registered.
	ErrUnknownType = errors.New("registry: unknown event type")
	// ErrVersion: the event was written with a schema version that this
	// registry cannot read (newer than its type's current version, or not a
	// positive integer).
	ErrVersion = errors.New("registry: unreadable schema version")
)

// Codec turns Go values into event data and back.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the default codec: encoding/json.
type JSON struct{}

// Marshal implements [Codec].
func (JSON) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal implements [Codec].
func (JSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// Options configure a [Registry]. The zero value (or nil) gives the
// defaults.
type Options struct {
	// Codec encodes and decodes event data. Nil means [JSON].
	Codec Codec
	// Unknown is what [Registry.DecodeAll] does with events of types that
	// are not registered.
	Unknown Unknown
}

// Unknown is what [Registry.DecodeAll] does with an event whose type is
// not registered.
type Unknown int

const (
	// SkipUnlessReplaying (the default) skips it while live and fails
	// while replaying: a read model being rebuilt must not leave events
	// out, while a running one should not stop at an event type that a
	// newer program wrote.
	SkipUnlessReplaying Unknown = iota
	// Skip always skips it.
	Skip
	// Fail always fails with [ErrUnknownType].
	Fail
)

// Registry maps event type names to Go types. It is safe for concurrent
// use; register every type at start-up, before encoding or decoding.
type Registry struct {
	codec   Codec
	unknown Unknown
	mu      sync.RWMutex
	byName  map[string]*entry       // names and aliases
	byType  map[reflect.Type]*entry // Go types
}

// entry is one registered type.
type entry struct {
	name      string
	typ       reflect.Type
	version   int
	upcasters map[int]Upcaster // from version n to n+1
}

// Upcaster turns the data of an event of one schema version into the data
// of the next version.
type Upcaster func(data []byte) ([]byte, error)

// New returns an empty registry. opts may be nil.
func New(opts *Options) *Registry {
	r := &Registry{codec: JSON{}, byName: map[string]*entry{}, byType: map[reflect.Type]*entry{}}
	if opts != nil && opts.Codec != nil {
		r.codec = opts.Codec
	}
	if opts != nil {
		r.unknown = opts.Unknown
	}
	return r
}

// TypeOption configures one registered type.
type TypeOption func(*typeConfig)

type typeConfig struct {
	version   int
	aliases   []string
	upcasters map[int]Upcaster
	dup       []int // versions given two upcasters
}

// Version sets the type's current schema version (1 by default). Versions
// before it need an upcaster each ([Upcast]).
func Version(n int) TypeOption { return func(c *typeConfig) { c.version = n } }

// Aliases adds names that events of the type were written with before it
// was renamed; they decode to the type.
func Aliases(names ...string) TypeOption {
	return func(c *typeConfig) { c.aliases = append(c.aliases, names...) }
}

// Upcast adds the upcaster from schema version from to version from+1.
func Upcast(from int, f Upcaster) TypeOption {
	return func(c *typeConfig) {
		if _, ok := c.upcasters[from]; ok {
			c.dup = append(c.dup, from)
		}
		c.upcasters[from] = f
	}
}

// UpcastJSON returns an upcaster over a JSON object: f changes the decoded
// object in place, and the result is encoded again. Empty data reads as an
// empty object.
func UpcastJSON(f func(obj map[string]any) error) Upcaster {
	return func(data []byte) ([]byte, error) {
		var obj map[string]any
		if len(data) > 0 {
			if err := json.Unmarshal(data, &obj); err != nil {
				return nil, err
			}
		}
		if obj == nil {
			obj = map[string]any{}
		}
		if err := f(obj); err != nil {
			return nil, err
		}
		return json.Marshal(obj)
	}
}

// Register maps name, and the aliases among opts, to the Go type T, which
// events of that type decode to. It refuses an empty or taken name, a type
// registered already, a pointer type, a version below 1, and a chain of
// upcasters with a gap, a duplicate, or an upcaster beyond the current
// version.
func Register[T any](r *Registry, name string, opts ...TypeOption) error {
	typ := reflect.TypeFor[T]()
	cfg := typeConfig{version: 1, upcasters: map[int]Upcaster{}}
	for _, o := range opts {
		o(&cfg)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("registry: %w: %s (%v): %s", chronicle.ErrInvalid, name, typ, fmt.Sprintf(format, args...))
	}
	switch {
	case typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Interface:
		return bad("register the value type, not a pointer or an interface")
	case cfg.version < 1:
		return bad("version %d, want 1 or more", cfg.version)
	case len(cfg.dup) > 0:
		return bad("two upcasters from version %d", cfg.dup[0])
	}
	for from, f := range cfg.upcasters {
		if from < 1 || from >= cfg.version || f == nil {
			return bad("upcaster from version %d: the type's versions are 1..%d", from, cfg.version)
		}
	}
	for v := 1; v < cfg.version; v++ {
		if cfg.upcasters[v] == nil {
			return bad("no upcaster from version %d to %d", v, v+1)
		}
	}
	names := append([]string{name}, cfg.aliases...)
	seen := map[string]bool{}
	for _, n := range names {
		if err := chronicle.ValidateEventType(n); err != nil {
			return bad("name %q: %v", n, err)
		}
		if seen[n] {
			return bad("name %q given twice", n)
		}
		seen[n] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.byType[typ]; ok {
		return bad("the type is registered already, as %q", e.name)
	}
	for _, n := range names {
		if e, ok := r.byName[n]; ok {
			return bad("name %q is taken by %v", n, e.typ)
		}
	}
	e := &entry{name: name, typ: typ, version: cfg.version, upcasters: cfg.upcasters}
	r.byType[typ] = e
	for _, n := range names {
		r.byName[n] = e
	}
	return nil
}

// MustRegister is [Register] for start-up code: it panics on an error.
func MustRegister[T any](r *Registry, name string, opts ...TypeOption) {
	if err := Register[T](r, name, opts...); err != nil {
		panic(err)
	}
}

// Name returns the name that events of v's type are written with.
func (r *Registry) Name(v any) (string, error) {
	e, err := r.entryOf(v)
	if err != nil {
		return "", err
	}
	return e.name, nil
}

func (r *Registry) entryOf(v any) (*entry, error) {
	typ := reflect.TypeOf(v)
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.byType[typ]
	if !ok {
		if typ != nil && typ.Kind() == reflect.Pointer {
			if _, ok := r.byType[typ.Elem()]; ok {
				return nil, fmt.Errorf("%w: %v is not registered, %v is: pass the value, not a pointer", ErrUnknownType, typ, typ.Elem())
			}
		}
		return nil, fmt.Errorf("%w: %v is not registered", ErrUnknownType, typ)
	}
	return e, nil
}

// Encode returns the event data for v: its type's name, v encoded by the
// codec, and the type's schema version in the metadata when it is more
// than 1. The caller may set the result's ID and Time; to add metadata, use
// [Registry.EncodeWithMetadata], since replacing Metadata would drop the
// schema version.
func (r *Registry) Encode(v any) (chronicle.EventData, error) {
	return r.EncodeWithMetadata(v, nil)
}

// EncodeWithMetadata is [Registry.Encode] with metadata of the caller's:
// a JSON object (or nothing), to which the schema version is added. The
// metadata must not hold [VersionKey] itself.
func (r *Registry) EncodeWithMetadata(v any, metadata json.RawMessage) (chronicle.EventData, error) {
	e, err := r.entryOf(v)
	if err != nil {
		return chronicle.EventData{}, err
	}
	data, err := r.codec.Marshal(v)
	if err != nil {
		return chronicle.EventData{}, fmt.Errorf("registry: encode %s: %w", e.name, err)
	}
	ed := chronicle.EventData{Type: e.name, Data: data, Metadata: metadata}
	if len(metadata) > 0 {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(metadata, &m); err != nil || m == nil {
			return chronicle.EventData{}, fmt.Errorf("registry: %w: metadata of %s is not a JSON object", chronicle.ErrInvalid, e.name)
		}
		if _, ok := m[VersionKey]; ok {
			return chronicle.EventData{}, fmt.Errorf("registry: %w: metadata of %s holds %s, which the registry sets", chronicle.ErrInvalid, e.name, VersionKey)
		}
		if e.version > 1 {
			m[VersionKey] = json.RawMessage(strconv.Itoa(e.version))
			if ed.Metadata, err = json.Marshal(m); err != nil {
				return chronicle.EventData{}, err
			}
		}
		return ed, nil
	}
	if e.version > 1 {
		ed.Metadata = json.RawMessage(`{"` + VersionKey + `":` + strconv.Itoa(e.version) + `}`)
	}
	return ed, nil
}

// Known reports whether events named typ decode to a registered type.
func (r *Registry) Known(typ string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.byName[typ]
	return ok
}

// Decode returns the Go value of ev (of its registered type, not a
// pointer), after running its data through the upcasters from the schema
// version it was written with. It fails with [ErrUnknownType] when ev's
// type is not registered, and with [ErrVersion] when its version is newer
// than the registered type's.
func (r *Registry) Decode(ev chronicle.Event) (any, error) {
	r.mu.RLock()
	e, ok := r.byName[ev.Type]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q (event %s at %s version %d)", ErrUnknownType, ev.Type, ev.ID, ev.Stream, ev.Version)
	}
	v, err := schemaVersion(ev.Metadata)
	if err != nil {
		return nil, fmt.Errorf("%w: event %s of %s: %v", ErrVersion, ev.ID, ev.Stream, err)
	}
	if v > e.version {
		return nil, fmt.Errorf("%w: event %s of %s is %s version %d; this program reads up to version %d",
			ErrVersion, ev.ID, ev.Stream, ev.Type, v, e.version)
	}
	data := ev.Data
	for ; v < e.version; v++ {
		if data, err = e.upcasters[v](data); err != nil {
			return nil, fmt.Errorf("registry: upcast %s of %s from version %d: %w", ev.ID, ev.Stream, v, err)
		}
	}
	p := reflect.New(e.typ)
	if len(data) > 0 {
		if err := r.codec.Unmarshal(data, p.Interface()); err != nil {
			return nil, fmt.Errorf("registry: decode %s of %s as %v: %w", ev.ID, ev.Stream, e.typ, err)
		}
	}
	return p.Elem().Interface(), nil
}

// schemaVersion reads VersionKey from an event's metadata: 1 when absent.
func schemaVersion(meta json.RawMessage) (int, error) {
	if len(meta) == 0 {
		return 1, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(meta, &m); err != nil {
		return 0, err
	}
	raw, ok := m[VersionKey]
	if !ok {
		return 1, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || f < 1 || f != math.Trunc(f) || f > math.MaxInt32 {
		return 0, fmt.Errorf("%s is %s, not a positive integer", VersionKey, raw)
	}
	return int(f), nil
}

// Types returns the registered names, without aliases, sorted.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for _, e := range r.byType {
		out = append(out, e.name)
	}
	sort.Strings(out)
	return out
}

// Decoded is an event with its decoded value.
type Decoded struct {
	chronicle.Event
	Value any // of the event's registered type
}

// DecodeAll decodes events, in order: a projection's batch, say, with
// replaying from its Replaying field. An event whose type is not
// registered is skipped or fails as Options.Unknown says; any other error
// fails.
func (r *Registry) DecodeAll(events []chronicle.Event, replaying bool) ([]Decoded, error) {
	out := make([]Decoded, 0, len(events))
	for _, ev := range events {
		v, err := r.Decode(ev)
		if errors.Is(err, ErrUnknownType) && (r.unknown == Skip || r.unknown == SkipUnlessReplaying && !replaying) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Decoded{Event: ev, Value: v})
	}
	return out, nil
}

// Values decodes the events of a read or a watch as they come: an event
// of a type that is not registered is skipped, unless Options.Unknown is
// [Fail]; any other error ends the sequence with it.
//
//	for ev, err := range reg.Values(store.WatchAll(ctx, from, nil)) {
//		switch e := ev.Value.(type) { … }
//	}
func (r *Registry) Values(events iter.Seq2[chronicle.Event, error]) iter.Seq2[Decoded, error] {
	return func(yield func(Decoded, error) bool) {
		for ev, err := range events {
			if err != nil {
				yield(Decoded{}, err)
				return
			}
			v, err := r.Decode(ev)
			if errors.Is(err, ErrUnknownType) && r.unknown != Fail {
				continue
			}
			if err != nil {
				yield(Decoded{Event: ev}, err)
				return
			}
			if !yield(Decoded{Event: ev, Value: v}, nil) {
				return
			}
		}
	}
}

// Require fails unless every name is registered (as a name or an alias):
// a start-up check that the types a handler handles are known.
func (r *Registry) Require(names ...string) error {
	var missing []string
	for _, n := range names {
		if !r.Known(n) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrUnknownType, strings.Join(missing, ", "))
	}
	return nil
}
