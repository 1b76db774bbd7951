package monitor

import "time"

// restartPolicy decides whether and when to restart: exponential back-off
// and the crash-loop guard. It is pure (time is passed in) so it is tested
// without sleeping.
type restartPolicy struct {
	initial, max time.Duration
	limit        int           // restarts allowed within window
	window       time.Duration // 0 = unlimited
	history      []time.Time   // start times of past restarts
	streak       int           // restarts since the program last ran stably
}

func newRestartPolicy(e *Entity) *restartPolicy {
	return &restartPolicy{initial: e.Backoff.Initial.D(), max: e.Backoff.Max.D(),
		limit: *e.CrashLoop.Restarts, window: e.CrashLoop.Window.D()}
}

// stableAfter is how long an instance must run for the back-off to start
// again from the initial delay.
func (p *restartPolicy) stableAfter() time.Duration {
	if p.window > 0 {
		return p.window
	}
	if p.max > 0 {
		return p.max
	}
	return time.Second
}

// next is called when an instance that ran for ranFor ended and wants a
// restart at time now. It returns the delay and ok=false when the guard
// says give up; count is the number of restarts within the window,
// including this one.
func (p *restartPolicy) next(now time.Time, ranFor time.Duration) (delay time.Duration, count int, ok bool) {
	if p.window > 0 {
		keep := p.history[:0]
		for _, t := range p.history {
			if now.Sub(t) < p.window {
				keep = append(keep, t)
			}
		}
		p.history = keep
	}
	if len(p.history) >= p.limit {
		return 0, len(p.history), false
	}
	if ranFor >= p.stableAfter() {
		p.streak = 0
	}
	delay = p.initial
	for i := 0; i < p.streak && delay < p.max; i++ {
		delay *= 2
	}
	if delay > p.max {
		delay = p.max
	}
	p.streak++
	p.history = append(p.history, now)
	return delay, len(p.history), true
}

// restartsInWindow is the count the guard currently holds.
func (p *restartPolicy) restartsInWindow() int { return len(p.history) }
