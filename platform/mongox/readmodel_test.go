package mongox_test

import (
	"context"
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/mongox"
	"github.com/contactguard/contactguard/platform/testenv"
)

type doc struct {
	ID      string `bson:"_id"`
	Version int64  `bson:"version"`
	Value   string `bson:"value"`
}

func TestReplaceIfNewerKeepsTheNewestVersion(t *testing.T) {
	ctx := context.Background()
	coll := testenv.Mongo(t).Collection("things")
	for _, d := range []doc{{"a", 2, "two"}, {"a", 1, "one (late, older)"}, {"a", 3, "three"}, {"b", 1, "b one"}} {
		if err := mongox.ReplaceIfNewer(ctx, coll, d.ID, d.Version, d); err != nil {
			t.Fatal(err)
		}
	}
	var got doc
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Decode(&got); err != nil || got.Value != "three" {
		t.Fatalf("a = %+v, %v", got, err)
	}
	versions, err := mongox.Versions(ctx, coll)
	if err != nil || versions["a"] != 3 || versions["b"] != 1 || len(versions) != 2 {
		t.Fatalf("versions = %v, %v", versions, err)
	}
	// Twice, as at every restart: FerretDB must accept existing indexes.
	for range 2 {
		if err := mongox.EnsureIndexes(ctx, coll, mongoIndex("value"), mongoIndex("version")); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPageTokens(t *testing.T) {
	key, err := mongox.ParsePageToken(mongox.PageToken("00012/abc"))
	if err != nil || key != "00012/abc" {
		t.Fatalf("round trip = %q, %v", key, err)
	}
	for _, bad := range []string{"!!!", ""} {
		if _, err := mongox.ParsePageToken(bad); !errors.Is(err, apperr.ErrInvalidArgument) {
			t.Errorf("ParsePageToken(%q) = %v", bad, err)
		}
	}
}
