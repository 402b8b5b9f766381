// Package lease lets one replica at a time run a job (the event relay, the
// mail sender, a scheduler) by holding a Redis key with an expiry.
package lease

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contactguard/contactguard/platform/logging"
)

// Lease is a named lock held by one owner until it expires or is renewed.
type Lease struct {
	rdb   *redis.Client
	key   string
	owner string
	ttl   time.Duration
}

// New returns a lease on key for ttl; each Lease value is its own owner.
func New(rdb *redis.Client, key string, ttl time.Duration) *Lease {
	return &Lease{rdb: rdb, key: key, owner: logging.NewRequestID(), ttl: ttl}
}

// renew extends the key only if we still own it.
var renew = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)

var release = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`)

// Hold acquires the lease or renews it when already held; it reports
// whether we hold it now. Call it more often than the ttl.
func (l *Lease) Hold(ctx context.Context) (bool, error) {
	ok, err := l.rdb.SetNX(ctx, l.key, l.owner, l.ttl).Result()
	if err != nil || ok {
		return ok, err
	}
	n, err := renew.Run(ctx, l.rdb, []string{l.key}, l.owner, l.ttl.Milliseconds()).Int()
	return n == 1, err
}

// Release gives the lease up if we hold it, so another replica takes over
// at once instead of after the ttl.
func (l *Lease) Release(ctx context.Context) error {
	return release.Run(ctx, l.rdb, []string{l.key}, l.owner).Err()
}
