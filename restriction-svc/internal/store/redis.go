package store

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contactguard/contactguard/restriction-svc/internal/domain"
	"github.com/contactguard/contactguard/restriction-svc/internal/index"
)

// Counters counts contacts in Redis: one key per (organisation, subject,
// channel, calendar period), INCR with an expiry after the period, so the
// count is atomic on any number of replicas.
type Counters struct {
	rdb    *redis.Client
	prefix string // "<REDIS_STREAM_PREFIX>:contacts:"
}

// NewCounters returns the counters under "<prefix>:contacts:".
func NewCounters(rdb *redis.Client, prefix string) *Counters {
	return &Counters{rdb: rdb, prefix: prefix + ":contacts:"}
}

// Counts returns the current count of each counter.
func (c *Counters) Counts(ctx context.Context, counters []domain.Counter) ([]int64, error) {
	keys := make([]string, len(counters))
	for i, ctr := range counters {
		keys[i] = c.prefix + ctr.Key
	}
	vals, err := c.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(vals))
	for i, v := range vals {
		if s, ok := v.(string); ok {
			out[i], _ = strconv.ParseInt(s, 10, 64)
		}
	}
	return out, nil
}

// add counts once per request id (KEYS[1], when ARGV[1] is not "0") and
// returns the counts of KEYS[2..]; each counter expires ARGV[i] ms after
// its first count.
var add = redis.NewScript(`
local fresh = true
if ARGV[1] ~= "0" then
  fresh = redis.call("SET", KEYS[1], "1", "NX", "PX", ARGV[1])
end
local out = {}
for i = 2, #KEYS do
  local n
  if fresh then
    n = redis.call("INCR", KEYS[i])
    if n == 1 then redis.call("PEXPIRE", KEYS[i], ARGV[i]) end
  else
    n = tonumber(redis.call("GET", KEYS[i]) or "0")
  end
  out[#out + 1] = n
end
return out`)

// Add counts one contact on each counter (once per requestID when given)
// and returns the counts after it.
func (c *Counters) Add(ctx context.Context, counters []domain.Counter, org, requestID string, now time.Time) ([]int64, error) {
	keys := []string{c.prefix + "request:" + org + ":" + requestID}
	idemTTL := 24 * time.Hour
	args := []any{"0"}
	for _, ctr := range counters {
		keys = append(keys, c.prefix+ctr.Key)
		ttl := ctr.PeriodEnd.Sub(now) + 24*time.Hour
		args = append(args, ttl.Milliseconds())
		idemTTL = max(idemTTL, ctr.Period+24*time.Hour)
	}
	if requestID != "" {
		args[0] = idemTTL.Milliseconds()
	}
	res, err := add.Run(ctx, c.rdb, keys, args...).Int64Slice()
	if err != nil {
		return nil, err
	}
	if len(res) != len(counters) {
		return nil, fmt.Errorf("count contacts: %d counts for %d counters", len(res), len(counters))
	}
	return res, nil
}

// change is one message of the change feed.
type change struct {
	Restriction *index.Entry   `json:"restriction,omitempty"`
	Subject     *index.Subject `json:"subject,omitempty"`
}

// Feed keeps every replica's index current: a change is applied to the
// local index at once and published on a Redis pub/sub channel that every
// replica subscribes to, so it reaches them within milliseconds. Pub/sub
// does not keep messages for a replica that is disconnected, so after every
// reconnection (and every ReloadEvery, as a safety net) the replica reloads
// the whole index from MongoDB. While Redis does not answer, the index is
// not known to be current and Healthy reports false.
type Feed struct {
	Redis       *redis.Client
	Channel     string // "<prefix>:restriction:changes"
	Index       *index.Index
	Load        func(ctx context.Context) ([]index.Entry, []index.Subject, error)
	Logger      *slog.Logger
	ReloadEvery time.Duration

	pubsub       *redis.PubSub
	healthyUntil atomic.Int64
	needReload   atomic.Bool
}

// Healthy reports whether the index is known to be current.
func (f *Feed) Healthy() bool {
	return !f.needReload.Load() && time.Now().UnixNano() < f.healthyUntil.Load()
}

func (f *Feed) markHealthy() { f.healthyUntil.Store(time.Now().Add(3 * time.Second).UnixNano()) }

// Start subscribes, then loads the index: a change published during the
// load is delivered after it, and the index keeps the newer version.
func (f *Feed) Start(ctx context.Context) error {
	f.pubsub = f.Redis.Subscribe(ctx, f.Channel)
	if _, err := f.pubsub.Receive(ctx); err != nil {
		_ = f.pubsub.Close()
		return fmt.Errorf("subscribe to %s: %w", f.Channel, err)
	}
	if err := f.reload(ctx); err != nil {
		_ = f.pubsub.Close()
		return err
	}
	f.markHealthy()
	return nil
}

func (f *Feed) reload(ctx context.Context) error {
	start := time.Now()
	entries, subjects, err := f.Load(ctx)
	if err != nil {
		return fmt.Errorf("load the contact-check index: %w", err)
	}
	f.Index.Replace(entries, subjects)
	r, s := f.Index.Len()
	f.Logger.Info("contact-check index loaded", "restrictions_in_force", r, "subjects", s, "duration_ms", time.Since(start).Milliseconds())
	return nil
}

// Run applies published changes until ctx ends.
func (f *Feed) Run(ctx context.Context) error {
	defer f.pubsub.Close()
	msgs := f.pubsub.ChannelWithSubscriptions(redis.WithChannelSize(10_000))
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastReload := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			switch m := m.(type) {
			case *redis.Subscription:
				// Re-subscribed after a lost connection: changes may have
				// been missed.
				if m.Kind == "subscribe" {
					f.Logger.Warn("change feed reconnected: reloading the contact-check index")
					f.needReload.Store(true)
				}
			case *redis.Message:
				f.apply(m.Payload)
			}
		case <-tick.C:
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err := f.Redis.Ping(pctx).Err()
			cancel()
			if err == nil {
				f.markHealthy()
			}
			if f.ReloadEvery > 0 && time.Since(lastReload) > f.ReloadEvery {
				f.needReload.Store(true)
			}
		}
		if f.needReload.Load() && ctx.Err() == nil {
			if err := f.reload(ctx); err != nil {
				f.Logger.Warn("contact-check index reload failed, will retry", "error", err)
				continue
			}
			lastReload = time.Now()
			f.needReload.Store(false)
		}
	}
}

func (f *Feed) apply(payload string) {
	var c change
	if err := json.Unmarshal([]byte(payload), &c); err != nil {
		f.Logger.Error("unreadable change message dropped", "error", err)
		return
	}
	if c.Restriction != nil {
		f.Index.PutRestriction(*c.Restriction)
	}
	if c.Subject != nil {
		f.Index.PutSubject(*c.Subject)
	}
}

func (f *Feed) publish(ctx context.Context, c change) {
	body, err := json.Marshal(c)
	if err != nil {
		f.Logger.Error("encode change message", "error", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := f.Redis.Publish(ctx, f.Channel, body).Err(); err != nil {
		// Other replicas catch up at their next reload.
		f.Logger.Warn("change not published; other replicas catch up at their next index reload", "error", err)
	}
}

// PublishRestriction applies the change here and tells the other replicas.
func (f *Feed) PublishRestriction(ctx context.Context, e index.Entry) {
	f.Index.PutRestriction(e)
	f.publish(ctx, change{Restriction: &e})
}

// PublishSubject applies the change here and tells the other replicas.
func (f *Feed) PublishSubject(ctx context.Context, s index.Subject) {
	f.Index.PutSubject(s)
	f.publish(ctx, change{Subject: &s})
}
