package ring

import (
	"context"
	"runtime"
	"time"
)

// FollowOptions tune Follow. Zero values select the defaults.
type FollowOptions struct {
	// MaxIdleSleep caps the sleep between polls when no event arrived
	// (default 200µs). The ring must absorb what a thread produces during
	// one sleep, or the thread waits (block mode).
	MaxIdleSleep time.Duration
	// ReapEvery is the period of Reap (default 100ms); Reap also runs at
	// once when a producer reports it found no free slot.
	ReapEvery time.Duration
}

// Follow drains the arena continuously until ctx is done or fn (or a
// corrupt slot) returns an error: the background consumer that keeps
// producers from blocking between notifications. It spins briefly, then
// sleeps with exponential backoff while idle. It returns ctx.Err() on
// cancellation.
func (a *Arena) Follow(ctx context.Context, opt FollowOptions, fn func(SlotInfo, Record) error) error {
	if opt.MaxIdleSleep <= 0 {
		opt.MaxIdleSleep = 200 * time.Microsecond
	}
	if opt.ReapEvery <= 0 {
		opt.ReapEvery = 100 * time.Millisecond
	}
	idle := 0
	sleep := 5 * time.Microsecond
	lastReap := time.Now()
	waiters := a.Waiters()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := a.DrainAll(fn)
		if err != nil {
			return err
		}
		if w := a.Waiters(); w != waiters || time.Since(lastReap) >= opt.ReapEvery {
			waiters = w
			a.Reap()
			lastReap = time.Now()
		}
		if n > 0 {
			idle, sleep = 0, 5*time.Microsecond
			continue
		}
		idle++
		if idle < 64 {
			runtime.Gosched()
			continue
		}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		if sleep *= 2; sleep > opt.MaxIdleSleep {
			sleep = opt.MaxIdleSleep
		}
	}
}
