package chronicle

import (
	"context"
	"fmt"
	"time"
)

// Snapshot is saved state of a projection of one stream (at a version) or
// of the global stream (at a position), under a name, so that one stream can
// carry snapshots for several read models.
type Snapshot struct {
	Stream   string    // "" for the global stream
	Name     string    // DefaultSnapshotName unless given
	Version  int64     // the stream version the state includes (stream snapshots)
	Position Position  // the global position the state includes (global snapshots)
	State    []byte    // the caller's serialized state
	Time     time.Time // when it was saved, UTC
}

// SaveSnapshot stores state as the projection name ("" means
// [DefaultSnapshotName]) of stream at version. It replaces an older snapshot
// of the same stream and name; one older than the stored snapshot is
// ignored, so the latest always wins. A version the stream has not reached
// fails with [ErrVersionNotReached].
func (s *Store) SaveSnapshot(ctx context.Context, stream, name string, version int64, state []byte) error {
	if err := ValidateStreamName(stream); err != nil {
		return err
	}
	if version < 0 {
		return invalid("version", "negative (%d)", version)
	}
	return s.saveSnapshot(ctx, &Snapshot{Stream: stream, Name: name, Version: version, State: state})
}

// SaveGlobalSnapshot stores state as the projection name of the global
// stream at pos, typically the position of the last event it includes.
// A position beyond the store's head fails with [ErrVersionNotReached].
func (s *Store) SaveGlobalSnapshot(ctx context.Context, name string, pos Position, state []byte) error {
	if pos == EndPosition() {
		return invalid("position", "the end sentinel is not a position")
	}
	return s.saveSnapshot(ctx, &Snapshot{Name: name, Position: pos, State: state})
}

func (s *Store) saveSnapshot(ctx context.Context, snap *Snapshot) error {
	name, err := snapshotName(snap.Name)
	if err != nil {
		return err
	}
	snap.Name = name
	snap.Time = time.Now().UTC()
	if snap.State == nil {
		snap.State = []byte{}
	}
	info := SnapshotInfo{Op: SnapshotSave, Stream: snap.Stream, Name: name, Version: snap.Version, Position: snap.Position, Bytes: len(snap.State)}
	_, _, err = s.snapshotCall(ctx, info, func(ctx context.Context) (Snapshot, bool, error) {
		_, err := call(s, func() (struct{}, error) { return struct{}{}, s.b.SaveSnapshot(ctx, snap) })
		return Snapshot{}, false, err
	})
	if err != nil {
		return fmt.Errorf("chronicle: save snapshot %q of %q: %w", name, snap.Stream, err)
	}
	return nil
}

// LoadSnapshot returns the latest snapshot of stream under name ("" means
// [DefaultSnapshotName]). found is false, with a nil error, when there is none.
func (s *Store) LoadSnapshot(ctx context.Context, stream, name string) (snap Snapshot, found bool, err error) {
	if err := ValidateStreamName(stream); err != nil {
		return Snapshot{}, false, err
	}
	return s.loadSnapshot(ctx, stream, name)
}

// LoadGlobalSnapshot returns the latest snapshot of the global stream under
// name; found is false when there is none.
func (s *Store) LoadGlobalSnapshot(ctx context.Context, name string) (snap Snapshot, found bool, err error) {
	return s.loadSnapshot(ctx, "", name)
}

func (s *Store) loadSnapshot(ctx context.Context, stream, name string) (Snapshot, bool, error) {
	name, err := snapshotName(name)
	if err != nil {
		return Snapshot{}, false, err
	}
	type res struct {
		s  Snapshot
		ok bool
	}
	snap, found, err := s.snapshotCall(ctx, SnapshotInfo{Op: SnapshotLoad, Stream: stream, Name: name}, func(ctx context.Context) (Snapshot, bool, error) {
		r, err := call(s, func() (res, error) {
			snap, ok, err := s.b.LoadSnapshot(ctx, stream, name)
			return res{snap, ok}, err
		})
		return r.s, r.ok, err
	})
	if err != nil {
		return Snapshot{}, false, fmt.Errorf("chronicle: load snapshot %q of %q: %w", name, stream, err)
	}
	return snap, found, nil
}

func snapshotName(name string) (string, error) {
	if name == "" {
		return DefaultSnapshotName, nil
	}
	if err := validateName("snapshot name", name, MaxStreamNameLen); err != nil {
		return "", err
	}
	return name, nil
}
