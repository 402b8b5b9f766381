// Package testenv gives integration tests their real stores: a fresh
// database on the throwaway FerretDB/MongoDB and a unique key prefix on the
// throwaway Redis that scripts/test.sh starts. Without the variables the
// tests skip locally and fail under CI=true, so CI cannot pass by skipping.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/contactguard/contactguard/platform/mongox"
	"github.com/contactguard/contactguard/platform/redisx"
)

// Require returns the variable or skips (fails under CI) when it is unset.
func Require(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: run the tests through scripts/test.sh", name)
		}
		t.Skipf("%s is not set: run through scripts/test.sh for integration tests", name)
	}
	return v
}

// UniqueName returns a short name unique to this test run, safe as a
// database name (FerretDB refuses names over 63 characters) or key prefix.
func UniqueName(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "_"))
	if len(name) > 40 {
		name = name[:40]
	}
	return "t_" + name + "_" + hex.EncodeToString(b[:])
}

// Mongo returns a fresh database, dropped when the test ends.
func Mongo(t testing.TB) *mongo.Database {
	t.Helper()
	uri := Require(t, "CG_TEST_MONGO_URI")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := mongox.Connect(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	db := client.Database(UniqueName(t))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = db.Drop(ctx)
		_ = client.Disconnect(ctx)
	})
	return db
}

// Redis returns a client and a key prefix unique to the test; keys under
// the prefix are deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	url := Require(t, "CG_TEST_REDIS_URL")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := redisx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	prefix := UniqueName(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys, _ := client.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			client.Del(ctx, keys...)
		}
		_ = client.Close()
	})
	return client, prefix
}
