package monitor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Signaled is the cancel cause of a context ended by a signal.
type Signaled struct{ Sig syscall.Signal }

func (s Signaled) Error() string { return fmt.Sprintf("stopped by %v", s.Sig) }

// SignalContext returns a context cancelled (with cause Signaled) at the
// first SIGTERM, SIGINT or SIGHUP.
func SignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() {
		select {
		case s := <-ch:
			cancel(Signaled{Sig: s.(syscall.Signal)})
		case <-ctx.Done():
		}
		signal.Stop(ch)
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// exitForSignal is 128+signal for a context ended by a signal, 128+SIGTERM
// otherwise.
func exitForSignal(ctx context.Context) int {
	var s Signaled
	if errors.As(context.Cause(ctx), &s) {
		return 128 + int(s.Sig)
	}
	return 128 + int(syscall.SIGTERM)
}
