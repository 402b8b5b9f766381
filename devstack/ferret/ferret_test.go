package ferret

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func connect(t *testing.T, ctx context.Context, uri string) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx, nil); err != nil {
		t.Fatalf("ping: %v", err)
	}
	return c
}

func TestStartInsertFindAndPersist(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()

	uri, stop, err := Start(ctx, Options{Dir: dir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(uri, "mongodb://127.0.0.1:") || !strings.HasSuffix(uri, "/") {
		t.Fatalf("uri = %q", uri)
	}
	c := connect(t, ctx, uri)
	coll := c.Database("ferret_test").Collection("things")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		N int `bson:"n"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Decode(&got); err != nil || got.N != 1 {
		t.Fatalf("find: %v %+v", err, got)
	}
	_ = c.Disconnect(ctx)
	stop()

	// A second server on the same directory sees the data.
	uri2, stop2, err := Start(ctx, Options{Dir: dir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer stop2()
	c2 := connect(t, ctx, uri2)
	defer c2.Disconnect(ctx)
	n, err := c2.Database("ferret_test").Collection("things").CountDocuments(ctx, bson.D{})
	if err != nil || n != 1 {
		t.Fatalf("after restart: count %d, err %v", n, err)
	}
}

func TestStartRequiresDir(t *testing.T) {
	if _, _, err := Start(context.Background(), Options{}); err == nil {
		t.Fatal("want error without Dir")
	}
}

func TestStartBusyAddr(t *testing.T) {
	ctx := context.Background()
	uri, stop, err := Start(ctx, Options{Dir: t.TempDir(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	addr := strings.TrimSuffix(strings.TrimPrefix(uri, "mongodb://"), "/")
	if _, _, err := Start(ctx, Options{Dir: t.TempDir(), Addr: addr, Logger: quiet()}); err == nil {
		t.Fatal("want error for an address in use")
	}
}

func TestQuietLoggerDropsProtocolDumps(t *testing.T) {
	var b strings.Builder
	l := QuietLogger(&b).With("name", "conn")
	l.Warn("Response header: length: 121")
	l.Warn("Response message:\n{...}")
	l.Info("Listening on TCP")
	l.Warn("Connection stopped")
	out := b.String()
	if strings.Contains(out, "Response") || strings.Contains(out, "Listening") || !strings.Contains(out, "Connection stopped") {
		t.Fatalf("logged:\n%s", out)
	}
}
