// Package notify broadcasts "something changed" to any number of waiters.
//
// A waiter takes the current channel with [Broadcaster.Wait] before it looks
// at the shared state, then blocks on the channel. [Broadcaster.Broadcast]
// closes that channel and installs a new one, so every waiter wakes once and
// no wake-up is lost between the look and the wait. Nothing is queued: a
// notification is only a hint to look again.
package notify

import "sync"

// Broadcaster is a re-armable broadcast signal. The zero value is ready to use.
type Broadcaster struct {
	mu sync.Mutex
	ch chan struct{}
}

// Wait returns a channel that is closed by the next Broadcast.
func (b *Broadcaster) Wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

// Broadcast wakes every waiter that took its channel before this call.
func (b *Broadcaster) Broadcast() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}
