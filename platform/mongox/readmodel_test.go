package mongox_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

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

// Pages are newest first, never repeat or skip a document, and end with an
// empty token; a bad token is an InvalidArgument.
func TestFindNewestFirstPages(t *testing.T) {
	ctx := context.Background()
	coll := testenv.Mongo(t).Collection("paged")
	type row struct {
		ID      string `bson:"_id"`
		SortKey string `bson:"sort_key"`
		Org     string `bson:"org"`
	}
	for i := range 7 {
		if _, err := coll.InsertOne(ctx, row{ID: fmt.Sprint(i), SortKey: fmt.Sprintf("%03d", i), Org: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := coll.InsertOne(ctx, row{ID: "other", SortKey: "999", Org: "b"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	token, pages := "", 0
	for {
		docs, next, err := mongox.FindNewestFirst(ctx, coll, bson.D{{Key: "org", Value: "a"}}, token, 3, func(r row) string { return r.SortKey })
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			got = append(got, d.ID)
		}
		pages++
		if token = next; token == "" {
			break
		}
	}
	if want := []string{"6", "5", "4", "3", "2", "1", "0"}; !slices.Equal(got, want) || pages != 3 {
		t.Fatalf("pages gave %v in %d pages, want %v in 3", got, pages, want)
	}
	if _, _, err := mongox.FindNewestFirst(ctx, coll, nil, "!!", 3, func(r row) string { return r.SortKey }); !errors.Is(err, apperr.ErrInvalidArgument) {
		t.Errorf("bad token: %v", err)
	}
}

func TestTimeRange(t *testing.T) {
	from, to := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	if r := mongox.TimeRange(time.Time{}, time.Time{}); r != nil {
		t.Errorf("no bounds: %v", r)
	}
	if r := mongox.TimeRange(from, to); len(r) != 2 || r[0].Key != "$gte" || r[1].Key != "$lt" {
		t.Errorf("both bounds: %v", r)
	}
	if r := mongox.TimeRange(time.Time{}, to); len(r) != 1 || r[0].Key != "$lt" {
		t.Errorf("upper bound only: %v", r)
	}
}
