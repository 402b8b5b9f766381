package mongox

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/contactguard/contactguard/platform/apperr"
)

// Read models are documents derived from an event log, each with a
// "version" field: the sequence of the last event folded into it. They are
// written only through ReplaceIfNewer and repaired at start from Versions.

// ReplaceIfNewer stores doc as document id unless a version at least as
// new is stored already (then the newer one stands).
//
// Every filter here is on _id alone: FerretDB serves those from the
// primary key, while any other condition (such as version $lt n) makes
// it scan the whole collection, measured at 5x slower on 20,000
// documents and the main cost of a write under load. So it reads the
// stored version, then inserts or replaces by _id, then reads back.
// Writers of the same id in one process take turns (idLocks), which makes
// the order exact within a replica. Across replicas FerretDB's updates
// are not isolated anyway: a slower writer of an older version can still
// overwrite a newer one; the start-up repair (Versions against the event
// log) rebuilds such a document.
func ReplaceIfNewer(ctx context.Context, coll *mongo.Collection, id string, version int64, doc any) error {
	unlock := idLocks.lock(coll.Name() + "\x00" + id)
	defer unlock()
	for range 3 {
		stored, found, err := storedVersion(ctx, coll, id)
		if err != nil {
			return fmt.Errorf("save %s in %s: %w", id, coll.Name(), err)
		}
		if found && stored >= version {
			return nil
		}
		if !found {
			_, err = coll.InsertOne(ctx, doc)
			if IsDuplicateKey(err) { // another replica inserted first: compare again
				continue
			}
		} else {
			_, err = coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, doc)
		}
		if err != nil {
			return fmt.Errorf("save %s in %s: %w", id, coll.Name(), err)
		}
		stored, _, err = storedVersion(ctx, coll, id)
		if err != nil {
			return fmt.Errorf("save %s in %s: read back: %w", id, coll.Name(), err)
		}
		if stored >= version {
			return nil
		}
	}
	return fmt.Errorf("save %s in %s: version %d keeps being overwritten by older versions", id, coll.Name(), version)
}

// storedVersion reads the version of document id, if there is one.
func storedVersion(ctx context.Context, coll *mongo.Collection, id string) (int64, bool, error) {
	var stored struct {
		Version int64 `bson:"version"`
	}
	err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(bson.D{{Key: "version", Value: 1}})).Decode(&stored)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, false, nil
	}
	return stored.Version, err == nil, err
}

// keyedMutex serialises callers per key; entries go when nobody holds them.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	users int
}

var idLocks = &keyedMutex{locks: map[string]*keyedLock{}}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		l.users--
		if l.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
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

// FindNewestFirst reads one page of the documents matching filter in
// descending "sort_key" order, starting after pageToken (made by PageToken
// from the last sort key of the previous page). It returns the documents
// and the next page's token, "" after the last page. Keyset pages stay
// stable while documents are added, unlike skip/limit.
func FindNewestFirst[D any](ctx context.Context, coll *mongo.Collection, filter bson.D, pageToken string, pageSize int, sortKey func(D) string) ([]D, string, error) {
	if pageToken != "" {
		after, err := ParsePageToken(pageToken)
		if err != nil {
			return nil, "", err
		}
		filter = append(slices.Clip(filter), bson.E{Key: "sort_key", Value: bson.D{{Key: "$lt", Value: after}}})
	}
	cur, err := coll.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "sort_key", Value: -1}}).SetLimit(int64(pageSize)+1))
	if err != nil {
		return nil, "", fmt.Errorf("list %s: %w", coll.Name(), err)
	}
	var docs []D
	if err := cur.All(ctx, &docs); err != nil {
		return nil, "", fmt.Errorf("list %s: %w", coll.Name(), err)
	}
	next := ""
	if len(docs) > pageSize {
		docs = docs[:pageSize]
		next = PageToken(sortKey(docs[len(docs)-1]))
	}
	return docs, next, nil
}

// TimeRange is the filter value for a time field in [from, to); a zero
// bound is open. It is nil when both are zero (no condition).
func TimeRange(from, to time.Time) bson.D {
	var r bson.D
	if !from.IsZero() {
		r = append(r, bson.E{Key: "$gte", Value: from})
	}
	if !to.IsZero() {
		r = append(r, bson.E{Key: "$lt", Value: to})
	}
	return r
}
