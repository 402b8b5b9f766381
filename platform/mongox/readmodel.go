package mongox

import (
	"context"
	"encoding/base64"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/contactguard/contactguard/platform/apperr"
)

// Read models are documents derived from an event log, each with a
// "version" field: the sequence of the last event folded into it. They are
// written only through ReplaceIfNewer and repaired at start from Versions.

// ReplaceIfNewer stores doc as document id unless a version at least as
// new is stored already (then the newer one stands). FerretDB's updates
// are not isolated, so a slower writer of an older version can still
// overwrite a newer one: the writer reads the version back and writes
// again until the stored version is at least its own.
func ReplaceIfNewer(ctx context.Context, coll *mongo.Collection, id string, version int64, doc any) error {
	filter := bson.D{{Key: "_id", Value: id}, {Key: "version", Value: bson.D{{Key: "$lt", Value: version}}}}
	for range 3 {
		_, err := coll.ReplaceOne(ctx, filter, doc, options.Replace().SetUpsert(true))
		if err != nil && !IsDuplicateKey(err) { // duplicate key: the upsert met a newer version
			return fmt.Errorf("save %s in %s: %w", id, coll.Name(), err)
		}
		var stored struct {
			Version int64 `bson:"version"`
		}
		err = coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(bson.D{{Key: "version", Value: 1}})).Decode(&stored)
		if err != nil {
			return fmt.Errorf("save %s in %s: read back: %w", id, coll.Name(), err)
		}
		if stored.Version >= version {
			return nil
		}
	}
	return fmt.Errorf("save %s in %s: version %d keeps being overwritten by older versions", id, coll.Name(), version)
}

// Versions returns the version of every document in coll.
func Versions(ctx context.Context, coll *mongo.Collection) (map[string]int64, error) {
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "version", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("versions in %s: %w", coll.Name(), err)
	}
	var rows []struct {
		ID      string `bson:"_id"`
		Version int64  `bson:"version"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, fmt.Errorf("versions in %s: %w", coll.Name(), err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.ID] = r.Version
	}
	return out, nil
}

// PageToken wraps the sort key of the last item of a page.
func PageToken(lastKey string) string { return base64.RawURLEncoding.EncodeToString([]byte(lastKey)) }

// ParsePageToken returns the sort key in a token made by PageToken.
func ParsePageToken(token string) (string, error) {
	key, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(key) == 0 {
		return "", apperr.Invalid("page_token", "is not a token this service issued; start again without it")
	}
	return string(key), nil
}
