package eventlog

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contactguard/contactguard/platform/lease"
)

// Relay publishes a store's unpublished events to a Redis stream. One
// replica relays at a time (a lease). An event is marked published after
// XADD succeeds, so a crash in between publishes it twice, never zero times.
//
// Redis is transport, not the record: if Redis lost its data (a restart
// without persistence), the epoch key is gone too, and the relay queues the
// events of the last ReplayWindow again; consumers drop what they have seen.
type Relay struct {
	Store        *Store
	Redis        *redis.Client
	Stream       string // e.g. "cg:events:incident"
	Logger       *slog.Logger
	Interval     time.Duration // poll interval when nothing wakes it; default 500ms
	ReplayWindow time.Duration // default 72h
}

// Run relays until ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	interval := r.Interval
	if interval == 0 {
		interval = 500 * time.Millisecond
	}
	window := r.ReplayWindow
	if window == 0 {
		window = 72 * time.Hour
	}
	l := lease.New(r.Redis, r.Stream+":relay-lease", 10*time.Second)
	defer func() { _ = l.Release(context.WithoutCancel(ctx)) }()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := r.publishAll(ctx, l, window); err != nil {
			r.Logger.Warn("relay publish failed, will retry", "stream", r.Stream, "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-r.Store.appended:
		}
	}
}

func (r *Relay) checkEpoch(ctx context.Context, window time.Duration) error {
	fresh, err := r.Redis.SetNX(ctx, r.Stream+":epoch", time.Now().UTC().Format(time.RFC3339), 0).Result()
	if err != nil || !fresh {
		return err
	}
	n, err := r.Store.markUnpublishedSince(ctx, time.Now().Add(-window))
	if err != nil {
		// Let the next tick try again.
		_ = r.Redis.Del(ctx, r.Stream+":epoch").Err()
		return err
	}
	if n > 0 {
		r.Logger.Warn("redis stream was empty: re-publishing recent events", "stream", r.Stream, "events", n)
	}
	return nil
}

// publishAll publishes batches until none is left. Before every batch it
// renews the lease and checks the epoch: a backlog can take minutes, and a
// Redis restart in the middle must trigger the replay at once, not after
// the backlog is through.
func (r *Relay) publishAll(ctx context.Context, l *lease.Lease, window time.Duration) error {
	for {
		held, err := l.Hold(ctx)
		if err != nil || !held {
			return err
		}
		if err := r.checkEpoch(ctx, window); err != nil {
			return err
		}
		events, err := r.Store.unpublished(ctx, 200)
		if err != nil || len(events) == 0 {
			return err
		}
		for _, e := range events {
			body, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := r.Redis.XAdd(ctx, &redis.XAddArgs{
				Stream: r.Stream, MaxLen: 1_000_000, Approx: true,
				Values: map[string]any{"event": body},
			}).Err(); err != nil {
				return err
			}
			if err := r.Store.markPublished(ctx, e.ID); err != nil {
				return err
			}
		}
	}
}
