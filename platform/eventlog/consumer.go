package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Handler processes one event. It must be idempotent by event id: the same
// event can arrive more than once. An error leaves the event pending; it is
// retried after the consumer's ClaimIdle.
type Handler func(ctx context.Context, e Event) error

// Consumer reads a stream in a consumer group.
type Consumer struct {
	Redis     *redis.Client
	Stream    string
	Group     string
	Name      string // stable per replica, so a restarted replica resumes its own pending events at once
	Handle    Handler
	Logger    *slog.Logger
	ClaimIdle time.Duration // pending events idle this long are taken over; default 15s
}

// Run consumes until ctx ends. Redis outages are logged and waited out.
func (c *Consumer) Run(ctx context.Context) error {
	if c.ClaimIdle == 0 {
		c.ClaimIdle = 15 * time.Second
	}
	ready := false
	lastClaim := time.Time{}
	for ctx.Err() == nil {
		if !ready {
			if err := c.ensureGroup(ctx); err != nil {
				c.pause(ctx, "consumer cannot create its group", err)
				continue
			}
			// Our own pending events first: those a previous run of this
			// replica read but did not finish.
			if err := c.read(ctx, "0", -1); err != nil {
				c.pause(ctx, "consumer cannot read its pending events", err)
				continue
			}
			ready = true
		}
		if time.Since(lastClaim) > c.ClaimIdle/3 {
			if err := c.claim(ctx); err != nil {
				ready = !c.lostGroup(err)
				c.pause(ctx, "consumer cannot claim stuck events", err)
				continue
			}
			lastClaim = time.Now()
		}
		if err := c.read(ctx, ">", time.Second); err != nil {
			ready = !c.lostGroup(err)
			c.pause(ctx, "consumer cannot read", err)
		}
	}
	return nil
}

func (c *Consumer) lostGroup(err error) bool {
	return err != nil && strings.Contains(err.Error(), "NOGROUP")
}

func (c *Consumer) pause(ctx context.Context, msg string, err error) {
	if ctx.Err() != nil {
		return
	}
	c.Logger.Warn(msg, "stream", c.Stream, "group", c.Group, "error", err)
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
}

func (c *Consumer) ensureGroup(ctx context.Context) error {
	err := c.Redis.XGroupCreateMkStream(ctx, c.Stream, c.Group, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

// read handles one batch. From "0" it rereads this consumer's pending
// events without blocking (block < 0); from ">" it waits up to block for new
// ones.
func (c *Consumer) read(ctx context.Context, from string, block time.Duration) error {
	res, err := c.Redis.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: c.Group, Consumer: c.Name, Streams: []string{c.Stream, from}, Count: 100, Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, s := range res {
		c.handleAll(ctx, s.Messages)
	}
	return nil
}

func (c *Consumer) claim(ctx context.Context) error {
	start := "0-0"
	for {
		msgs, next, err := c.Redis.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: c.Stream, Group: c.Group, Consumer: c.Name, MinIdle: c.ClaimIdle, Start: start, Count: 100,
		}).Result()
		if err != nil {
			return err
		}
		c.handleAll(ctx, msgs)
		if next == "0-0" || len(msgs) == 0 {
			return nil
		}
		start = next
	}
}

func (c *Consumer) handleAll(ctx context.Context, msgs []redis.XMessage) {
	for _, m := range msgs {
		raw, _ := m.Values["event"].(string)
		var e Event
		if err := json.Unmarshal([]byte(raw), &e); err != nil || e.ID == "" {
			// Not ours or corrupt: it can never succeed, so drop it loudly.
			c.Logger.Error("dropping unreadable stream message", "stream", c.Stream, "message_id", m.ID)
			c.ack(ctx, m.ID)
			continue
		}
		if err := c.Handle(ctx, e); err != nil {
			c.Logger.Warn("event handler failed, will retry", "stream", c.Stream, "event_id", e.ID, "type", e.Type, "error", err)
			continue
		}
		c.ack(ctx, m.ID)
	}
}

func (c *Consumer) ack(ctx context.Context, id string) {
	if err := c.Redis.XAck(ctx, c.Stream, c.Group, id).Err(); err != nil {
		c.Logger.Warn("ack failed; the event will be handled again", "stream", c.Stream, "message_id", id, "error", err)
	}
}
