package notify_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/chronicle-go/chronicle/internal/notify"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestZeroValue(t *testing.T) {
	var b notify.Broadcaster
	b.Broadcast() // no waiters yet: nothing to do, must not panic
	b.Broadcast()

	ch := b.Wait()
	if ch == nil {
		t.Fatal("Wait returned a nil channel")
	}
	if closed(ch) {
		t.Fatal("a fresh Wait channel is already closed")
	}
	if ch2 := b.Wait(); ch2 != ch {
		t.Error("two Waits before a Broadcast returned different channels")
	}
	b.Broadcast()
	if !closed(ch) {
		t.Fatal("Broadcast did not close the channel of an earlier Wait")
	}
	next := b.Wait()
	if closed(next) {
		t.Fatal("Wait after Broadcast returned an already closed channel")
	}
	b.Broadcast()
	if !closed(next) {
		t.Fatal("second Broadcast did not close the second channel")
	}
}

func TestBroadcastWakesEarlierWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b notify.Broadcaster
		const waiters = 10
		var woken atomic.Int32
		for range waiters {
			ch := b.Wait()
			go func() {
				<-ch
				woken.Add(1)
			}()
		}
		synctest.Wait() // every waiter is blocked on its channel
		if n := woken.Load(); n != 0 {
			t.Fatalf("%d waiters woke before any Broadcast", n)
		}

		b.Broadcast()
		synctest.Wait()
		if n := woken.Load(); n != waiters {
			t.Fatalf("Broadcast woke %d of %d waiters", n, waiters)
		}
	})
}

func TestLaterWaiterNotWokenByEarlierBroadcast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b notify.Broadcaster
		early := b.Wait()
		b.Broadcast()
		if !closed(early) {
			t.Fatal("early waiter not woken")
		}

		late := b.Wait()
		var woke atomic.Bool
		go func() {
			<-late
			woke.Store(true)
		}()
		synctest.Wait() // the late waiter is durably blocked
		if woke.Load() {
			t.Fatal("a waiter that called Wait after Broadcast was woken by it")
		}

		b.Broadcast()
		synctest.Wait()
		if !woke.Load() {
			t.Fatal("the next Broadcast did not wake the late waiter")
		}
	})
}

func TestWaitersInGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b notify.Broadcaster
		var woken atomic.Int32
		const waiters = 5
		for range waiters {
			go func() {
				ch := b.Wait()
				<-ch
				woken.Add(1)
			}()
		}
		synctest.Wait() // all have taken their channel and blocked
		b.Broadcast()
		synctest.Wait()
		if n := woken.Load(); n != waiters {
			t.Fatalf("woke %d of %d", n, waiters)
		}
	})
}

// TestNoLostWakeup uses the documented pattern — take the channel, look at
// the state, then block — with concurrent writers. If a wake-up were lost a
// reader would block forever and synctest would report the deadlock.
func TestNoLostWakeup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b notify.Broadcaster
		var state atomic.Int64
		const (
			writers = 4
			bumps   = 500
			readers = 8
			target  = writers * bumps
		)
		var wg sync.WaitGroup
		for range readers {
			wg.Go(func() {
				for {
					ch := b.Wait()
					if state.Load() >= target {
						return
					}
					<-ch
				}
			})
		}
		for range writers {
			wg.Go(func() {
				for range bumps {
					state.Add(1)
					b.Broadcast()
				}
			})
		}
		wg.Wait()
	})
}

// TestConcurrentRace hammers Wait and Broadcast without synctest so the race
// detector sees real parallelism.
func TestConcurrentRace(t *testing.T) {
	var b notify.Broadcaster
	var state atomic.Int64
	const target = 2000
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				ch := b.Wait()
				if state.Load() >= target {
					return
				}
				<-ch
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range target / 2 {
				state.Add(1)
				b.Broadcast()
			}
		})
	}
	wg.Wait()
}
