package lease_test

import (
	"context"
	"testing"
	"time"

	"github.com/contactguard/contactguard/platform/lease"
	"github.com/contactguard/contactguard/platform/testenv"
)

func hold(t *testing.T, l *lease.Lease) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ok, err := l.Hold(ctx)
	if err != nil {
		t.Fatalf("Hold: %v", err)
	}
	return ok
}

func release(t *testing.T, l *lease.Lease) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
}

func TestOnlyOneOwnerHoldsALease(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	key := prefix + ":lease"
	a := lease.New(rdb, key, time.Minute)
	b := lease.New(rdb, key, time.Minute)

	if !hold(t, a) {
		t.Fatal("first owner did not get a free lease")
	}
	if hold(t, b) {
		t.Fatal("second owner got a lease the first holds")
	}
	if !hold(t, a) {
		t.Fatal("holder lost its lease on renewal")
	}
	if hold(t, b) {
		t.Fatal("second owner got the lease after the holder renewed it")
	}
}

func TestReleaseLetsAnotherOwnerTakeOver(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	key := prefix + ":lease"
	a := lease.New(rdb, key, time.Minute)
	b := lease.New(rdb, key, time.Minute)

	if !hold(t, a) {
		t.Fatal("first owner did not get a free lease")
	}
	// A non-holder's release must not free the holder's lease.
	release(t, b)
	if hold(t, b) {
		t.Fatal("a release by a non-holder freed the lease")
	}
	release(t, a)
	if !hold(t, b) {
		t.Fatal("second owner could not take the lease after release")
	}
	if hold(t, a) {
		t.Fatal("former holder got the lease back while the new owner holds it")
	}
}

func TestRenewalExtendsTheExpiry(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	key := prefix + ":lease"
	ttl := 30 * time.Second
	a := lease.New(rdb, key, ttl)
	b := lease.New(rdb, key, ttl)
	if !hold(t, a) {
		t.Fatal("first owner did not get a free lease")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Shorten the key's life as if most of the ttl had passed; renewal
	// by the holder must restore it, and a non-holder must not touch it.
	if err := rdb.PExpire(ctx, key, time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	if hold(t, b) {
		t.Fatal("second owner got a lease the first holds")
	}
	if left := rdb.PTTL(ctx, key).Val(); left > time.Second {
		t.Fatalf("a non-holder's Hold extended the lease to %v", left)
	}
	if !hold(t, a) {
		t.Fatal("holder lost its lease on renewal")
	}
	if left := rdb.PTTL(ctx, key).Val(); left <= time.Second || left > ttl {
		t.Fatalf("after renewal the lease has %v left, want close to %v", left, ttl)
	}
}

func TestExpiredLeaseCanBeTaken(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	key := prefix + ":lease"
	a := lease.New(rdb, key, time.Minute)
	b := lease.New(rdb, key, time.Minute)
	if !hold(t, a) {
		t.Fatal("first owner did not get a free lease")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Expire the key at once, as if the holder had crashed a ttl ago.
	if err := rdb.Del(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	if !hold(t, b) {
		t.Fatal("second owner could not take an expired lease")
	}
	if hold(t, a) {
		t.Fatal("the crashed holder kept its lease after it expired")
	}
}
