package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contactguard/contactguard/devstack/stack"
)

// clock prints the timeline relative to the first report.
type clock struct{ t0 time.Time }

func (c clock) say(done int64, format string, args ...any) {
	fmt.Printf("  %7.1fs  [%4d reported]  %s\n", time.Since(c.t0).Seconds(), done, fmt.Sprintf(format, args...))
}

// faults runs the fault schedule while the incidents are reported: each
// step waits until the given share of the reports is answered. Steps run one
// after the other (a notify-svc restart must not meet a Redis that is down);
// the mail sink comes back on its own timer.
type faults struct {
	e     *env
	clock clock
	done  *atomic.Int64
	n     int

	kills    atomic.Int64 // SIGKILLs of notify-svc performed
	redisAt  atomic.Int64 // when redis-server was killed (unix nanoseconds; 0: not yet)
	sinkDown time.Duration
	wg       sync.WaitGroup // the mail sink's return
	mu       sync.Mutex
	errs     []error
}

type step struct {
	share float64
	do    func(ctx context.Context) error
}

func (f *faults) fail(err error) {
	f.mu.Lock()
	f.errs = append(f.errs, err)
	f.mu.Unlock()
	f.clock.say(f.done.Load(), "FAULT STEP FAILED: %v", err)
}

// run performs the schedule; it returns when every step is done, the mail
// sink included, or ctx ends.
func (f *faults) run(ctx context.Context) {
	steps := []step{
		{0.20, f.killNotify},
		{0.30, f.stopSink},
		{0.45, f.restartRedis},
		{0.60, f.killNotify},
	}
	for _, s := range steps {
		at := max(int64(float64(f.n)*s.share+0.5), 1)
		for f.done.Load() < at {
			select {
			case <-ctx.Done():
				f.wg.Wait()
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		if err := s.do(ctx); err != nil {
			f.fail(err)
		}
	}
	f.wg.Wait()
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// retry calls fn up to 20 times, a second apart, until it succeeds.
func retry(ctx context.Context, fn func() error) error {
	var err error
	for range 20 {
		if err = fn(); err == nil || ctx.Err() != nil {
			return err
		}
		sleep(ctx, time.Second)
	}
	return err
}

func (f *faults) killNotify(ctx context.Context) error {
	pid := f.e.procs.PID(stack.Notify)
	if err := f.e.procs.Kill(stack.Notify); err != nil {
		return err
	}
	f.kills.Add(1)
	f.clock.say(f.done.Load(), "SIGKILL notify-svc (pid %d)", pid)
	if !sleep(ctx, 2*time.Second) {
		return ctx.Err()
	}
	start := time.Now()
	if err := retry(ctx, func() error { return f.e.procs.Restart(ctx, stack.Notify) }); err != nil {
		return fmt.Errorf("restart notify-svc: %w", err)
	}
	f.clock.say(f.done.Load(), "notify-svc restarted (pid %d), ready in %s", f.e.procs.PID(stack.Notify), time.Since(start).Round(10*time.Millisecond))
	return nil
}

func (f *faults) stopSink(ctx context.Context) error {
	f.e.stopSink()
	f.clock.say(f.done.Load(), "mail sink stopped (SMTP %s refuses connections for %s)", f.e.sinkSMTP, f.sinkDown)
	f.wg.Go(func() {
		sleep(ctx, f.sinkDown)
		if ctx.Err() != nil {
			return
		}
		if err := f.e.startSink(); err != nil {
			f.fail(err)
			return
		}
		f.clock.say(f.done.Load(), "mail sink started again on %s", f.e.sinkSMTP)
	})
	return nil
}

func (f *faults) restartRedis(ctx context.Context) error {
	pid := f.e.infra.PID("redis")
	f.redisAt.Store(time.Now().UnixNano())
	if err := f.e.infra.Kill("redis"); err != nil {
		return err
	}
	f.clock.say(f.done.Load(), "SIGKILL redis-server (pid %d): streams, consumer groups, leases and the relay's epoch are lost", pid)
	if err := retry(ctx, func() error { return f.e.infra.Start(ctx, f.e.redis) }); err != nil {
		return fmt.Errorf("start redis-server again: %w", err)
	}
	f.clock.say(f.done.Load(), "redis-server started again, empty, on the same port (pid %d)", f.e.infra.PID("redis"))
	return nil
}
