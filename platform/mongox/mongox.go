// Package mongox connects to MongoDB (or FerretDB) with timeouts, and gives
// tests a fresh database of their own.
package mongox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// Connect opens a client with bounded connect, selection and socket times,
// majority write concern (an acknowledged write survives a primary
// failover), and checks the server answers.
func Connect(ctx context.Context, uri string) (*mongo.Client, error) {
	opts := options.Client().ApplyURI(uri).
		SetConnectTimeout(10 * time.Second).
		SetServerSelectionTimeout(10 * time.Second).
		SetTimeout(30 * time.Second).
		SetWriteConcern(writeconcern.Majority()).
		SetAppName("contactguard")
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("mongodb: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx, readpref.Primary()); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("mongodb does not answer: %w", err)
	}
	return client, nil
}

// IsDuplicateKey reports a unique index violation (E11000).
func IsDuplicateKey(err error) bool {
	return mongo.IsDuplicateKeyError(err)
}

// IsNotFound reports a FindOne that matched nothing.
func IsNotFound(err error) bool {
	return errors.Is(err, mongo.ErrNoDocuments)
}

// EnsureIndexes creates each index on coll, one command per index.
// FerretDB v1.24.2 drops the connection when a single createIndexes command
// names two or more indexes that all exist already (every restart), so the
// indexes are never created together.
func EnsureIndexes(ctx context.Context, coll *mongo.Collection, models ...mongo.IndexModel) error {
	for _, m := range models {
		if _, err := coll.Indexes().CreateOne(ctx, m); err != nil {
			return fmt.Errorf("create index on %s: %w", coll.Name(), err)
		}
	}
	return nil
}
