package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/contactguard/contactguard/evidence-svc/internal/app"
	"github.com/contactguard/contactguard/evidence-svc/internal/domain"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/testenv"
)

// anyLinks lets every link check pass: the commands need no other service.
type anyLinks struct{}

func (anyLinks) Incident(context.Context, string) (app.IncidentFacts, error) {
	return app.IncidentFacts{Reporter: "hc-cso-1"}, nil
}
func (anyLinks) Restriction(context.Context, string) (app.RestrictionFacts, error) {
	return app.RestrictionFacts{State: "active"}, nil
}
func (anyLinks) PublicNaming(context.Context, string) (app.NamingFacts, error) {
	return app.NamingFacts{}, nil
}
func (anyLinks) IncidentsOf(context.Context, string) ([]string, error) { return nil, nil }
func (anyLinks) LineManagerOf(context.Context, string) (string, error) { return "", nil }

func newKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// The verify command finds a corrupted chunk; after a key rotation and a
// rewrap, items open with the new master key alone.
func TestVerifyAndRewrapCommands(t *testing.T) {
	db := testenv.Mongo(t)
	ctx := context.Background()
	k1, k2 := newKey(t), newKey(t)
	t.Setenv("MONGO_URI", os.Getenv("CG_TEST_MONGO_URI"))
	t.Setenv("MONGO_DB", db.Name())
	t.Setenv("EVIDENCE_MASTER_KEY", k1)
	t.Setenv("EVIDENCE_MASTER_KEYS", "")
	t.Setenv("EVIDENCE_MASTER_KEY_ID", "")

	st := newStores(db)
	if err := st.ensureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := parseKeys()
	if err != nil {
		t.Fatal(err)
	}
	uc := st.service(app.Config{Keys: keys, MaxBytes: 1 << 20}, anyLinks{})
	who := identity.Identity{StaffID: "hc-cso-1", Organization: "highland-council", Roles: []string{"staff"}}
	var ids []string
	for range 2 {
		content := append([]byte("%PDF-1.7\n"), make([]byte, 600<<10)...)
		_, _ = rand.Read(content[9:])
		it, err := uc.Upload(ctx, who, domain.Draft{Kind: "letter", Incident: "incidents/i1"}, "", bytes.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, it.ID)
	}

	run := func(name string, args ...string) (int, string) {
		t.Helper()
		var out bytes.Buffer
		code, err := runCommand(ctx, name, args, &out)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return code, out.String()
	}
	if code, out := run("verify"); code != 0 || !strings.Contains(out, "checked 2 items: 2 intact") {
		t.Fatalf("verify: %d %q", code, out)
	}

	// Rotate: k2 becomes active, k1 stays until every item is re-wrapped.
	t.Setenv("EVIDENCE_MASTER_KEY", k2)
	t.Setenv("EVIDENCE_MASTER_KEY_ID", "k2")
	t.Setenv("EVIDENCE_MASTER_KEYS", "k1="+k1)
	if code, out := run("rewrap"); code != 0 || !strings.Contains(out, "re-wrapped 2 data keys") {
		t.Fatalf("rewrap: %d %q", code, out)
	}
	t.Setenv("EVIDENCE_MASTER_KEYS", "")
	if code, out := run("verify", "evidence/"+ids[0], ids[1]); code != 0 || strings.Count(out, "intact (sha256") != 2 {
		t.Fatalf("verify with the new key alone: %d %q", code, out)
	}

	// Corrupt a chunk of the first item: verify names it and fails.
	var file struct {
		ID bson.ObjectID `bson:"_id"`
	}
	if err := db.Collection("evidence.files").FindOne(ctx, bson.D{{Key: "metadata.item", Value: ids[0]}}).Decode(&file); err != nil {
		t.Fatal(err)
	}
	var chunk struct {
		ID   bson.ObjectID `bson:"_id"`
		Data []byte        `bson:"data"`
	}
	if err := db.Collection("evidence.chunks").FindOne(ctx, bson.D{{Key: "files_id", Value: file.ID}, {Key: "n", Value: 1}}).Decode(&chunk); err != nil {
		t.Fatal(err)
	}
	chunk.Data[5] ^= 1
	if _, err := db.Collection("evidence.chunks").UpdateOne(ctx, bson.D{{Key: "_id", Value: chunk.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "data", Value: bson.Binary{Data: chunk.Data}}}}}); err != nil {
		t.Fatal(err)
	}
	code, out := run("verify")
	if code != 1 || !strings.Contains(out, "evidence/"+ids[0]+": NOT INTACT: segment 8 (GridFS chunk 1) fails authentication") || !strings.Contains(out, "1 intact, 1 not intact") {
		t.Fatalf("verify after corruption: %d %q", code, out)
	}
}
