package eventlog

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/testenv"
)

func change(id string, n int) Change {
	return Change{AggregateType: "thing", AggregateID: id, Type: "thing.changed", Organization: "org", Actor: "staff-1", Time: time.Now(), Data: map[string]int{"n": n}}
}

func TestNextChainsHashes(t *testing.T) {
	var history []Event
	for i := range 3 {
		e, err := Next(history, change("a1", i))
		if err != nil {
			t.Fatal(err)
		}
		history = append(history, e)
	}
	if history[2].Seq != 3 || history[2].ID != "a1#00000003" || history[2].PrevHash != history[1].Hash {
		t.Fatalf("bad chain: %+v", history[2])
	}
	if id, ok := VerifyChain(history); !ok {
		t.Fatalf("chain broken at %s", id)
	}
	history[1].Payload = `{"n":99}`
	if id, ok := VerifyChain(history); ok || id != "a1#00000002" {
		t.Errorf("tampering not detected: %s %v", id, ok)
	}
}

func TestStoreAppendIsTheCommitPoint(t *testing.T) {
	ctx := context.Background()
	store := NewStore(testenv.Mongo(t), "events")
	// Twice, as at every restart: FerretDB must accept existing indexes.
	for range 2 {
		if err := store.EnsureIndexes(ctx); err != nil {
			t.Fatal(err)
		}
	}
	first, _ := Next(nil, change("a1", 1))
	if err := store.Append(ctx, first); err != nil {
		t.Fatal(err)
	}
	// Two writers that both read the one-event history race for seq 2.
	history := []Event{first}
	a, _ := Next(history, change("a1", 2))
	b, _ := Next(history, change("a1", 3))
	if err := store.Append(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := store.Append(ctx, b); !errors.Is(err, apperr.ErrConflict) {
		t.Fatalf("second writer got %v, want a conflict", err)
	}
	loaded, err := store.Load(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 2 || loaded[1].Payload != `{"n":2}` {
		t.Fatalf("loaded %+v", loaded)
	}
	if id, ok := VerifyChain(loaded); !ok {
		t.Fatalf("reloaded chain broken at %s", id)
	}
	seqs, err := store.LatestSeqs(ctx)
	if err != nil || seqs["a1"] != 2 {
		t.Fatalf("LatestSeqs = %v, %v", seqs, err)
	}
}

// TestRelayAndConsumerSurviveRedisLoss publishes events, deletes the
// stream and its epoch (as a Redis restart without persistence would) and
// checks every event still reaches the consumer, each handled at least once
// and seen by id exactly once.
func TestRelayAndConsumerSurviveRedisLoss(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := NewStore(testenv.Mongo(t), "events")
	if err := store.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	rdb, prefix := testenv.Redis(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	stream := prefix + ":events"

	var mu sync.Mutex
	seen := map[string]int{}
	failOnce := map[string]bool{"a3#00000001": true}
	handler := func(_ context.Context, e Event) error {
		mu.Lock()
		defer mu.Unlock()
		if failOnce[e.ID] {
			delete(failOnce, e.ID)
			return errors.New("transient failure")
		}
		seen[e.ID]++
		return nil
	}
	relay := &Relay{Store: store, Redis: rdb, Stream: stream, Logger: logger, Interval: 50 * time.Millisecond}
	consumer := &Consumer{Redis: rdb, Stream: stream, Group: "test", Name: "c1", Handle: handler, Logger: logger, ClaimIdle: 300 * time.Millisecond}
	go func() { _ = relay.Run(ctx) }()
	go func() { _ = consumer.Run(ctx) }()

	for _, id := range []string{"a1", "a2", "a3"} {
		e, _ := Next(nil, change(id, 1))
		if err := store.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 3 })

	// Redis loses everything.
	if err := rdb.Del(ctx, stream, stream+":epoch").Err(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	clear(seen)
	mu.Unlock()
	e, _ := Next(nil, change("a4", 1))
	if err := store.Append(ctx, e); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 4 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
