package grpcapi_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/grpc/codes"

	"github.com/contactguard/contactguard/platform/identity"
	evidencev1 "github.com/contactguard/contactguard/proto/evidence/v1"
	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
	restrictionv1 "github.com/contactguard/contactguard/proto/restriction/v1"
)

// C72-C76: the reporter uploads; the content comes back byte for byte with
// the hash taken at upload; reporter, staff involved and managers read it;
// unrelated staff are denied and another organisation does not see it;
// every read is in the access log auditors list.
func TestUploadDownloadListVerifyAndAccess(t *testing.T) {
	f := start(t)
	inc := f.incident("i1")
	content := png(3<<20 + 12345) // several GridFS chunks and insert batches
	got, err := upload(as(t, "hc-cso-1"), f.client, screenshot(inc), "", content)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetSha256() != sum(content) || got.GetSizeBytes() != int64(len(content)) || got.GetContentType() != "image/png" ||
		got.GetFilename() != "post.png" || got.GetUploader() != "hc-cso-1" || got.GetCapturedBy() != "hc-cso-1" ||
		got.GetOrganization() != "highland-council" || got.GetState() != evidencev1.Evidence_STATE_ACTIVE || !strings.HasPrefix(got.GetName(), "evidence/") {
		t.Fatalf("uploaded = %v", got)
	}
	name := got.GetName()

	// The content is stored sealed: no stored chunk holds the plaintext.
	var chunk struct {
		Data []byte `bson:"data"`
	}
	if err := f.db.Collection("evidence.chunks").FindOne(context.Background(), bson.D{{Key: "n", Value: 0}}).Decode(&chunk); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(chunk.Data, content[100:164]) {
		t.Fatal("a stored chunk holds plaintext")
	}

	for _, reader := range []string{"hc-cso-1", "hc-om-1", "hc-mgr-1", "hc-hos-1"} {
		meta, body, err := download(as(t, reader), f.client, name, false)
		if err != nil {
			t.Fatalf("%s downloads: %v", reader, err)
		}
		if !bytes.Equal(body, content) || meta.GetSha256() != sum(body) {
			t.Fatalf("%s got %d bytes (sha %s), want %d (sha %s)", reader, len(body), sum(body), len(content), sum(content))
		}
		if _, err := f.client.GetEvidence(as(t, reader), &evidencev1.GetEvidenceRequest{Name: name}); err != nil {
			t.Fatalf("%s reads metadata: %v", reader, err)
		}
	}

	// C76: unrelated staff, a supervisor who is neither the reporter's line
	// manager nor the reviewer, and the auditor are denied, saying who may read.
	for _, staff := range []string{"hc-cso-2", "hc-sup-1", "hc-aud-1"} {
		_, err := f.client.GetEvidence(as(t, staff), &evidencev1.GetEvidenceRequest{Name: name})
		st := wantCode(t, err, codes.PermissionDenied)
		if !strings.Contains(st.Message(), "need-to-know") {
			t.Errorf("denial does not say why: %q", st.Message())
		}
		_, _, err = download(as(t, staff), f.client, name, true)
		wantCode(t, err, codes.PermissionDenied)
	}
	// Another organisation does not learn it exists.
	_, err = f.client.GetEvidence(as(t, "vb-smt-1"), &evidencev1.GetEvidenceRequest{Name: name})
	wantCode(t, err, codes.NotFound)

	// Lists show only what the caller may read.
	for staff, want := range map[string]int{"hc-cso-1": 1, "hc-om-1": 1, "hc-mgr-1": 1, "hc-cso-2": 0, "vb-smt-1": 0} {
		resp, err := f.client.ListEvidence(as(t, staff), &evidencev1.ListEvidenceRequest{})
		if err != nil {
			t.Fatalf("%s lists: %v", staff, err)
		}
		if len(resp.GetEvidence()) != want {
			t.Errorf("%s lists %d items, want %d", staff, len(resp.GetEvidence()), want)
		}
	}
	resp, err := f.client.ListEvidence(as(t, "hc-om-1"), &evidencev1.ListEvidenceRequest{Incident: inc})
	if err != nil || len(resp.GetEvidence()) != 1 {
		t.Fatalf("list by incident: %v %v", resp, err)
	}

	v, err := f.client.VerifyEvidence(as(t, "hc-cso-1"), &evidencev1.VerifyEvidenceRequest{Name: name})
	if err != nil || !v.GetIntact() || v.GetActualSha256() != sum(content) {
		t.Fatalf("verify = %v, %v", v, err)
	}
	all, err := f.client.VerifyAllEvidence(as(t, "hc-aud-1"), &evidencev1.VerifyAllEvidenceRequest{})
	if err != nil || all.GetChecked() != 1 || all.GetFailed() != 0 {
		t.Fatalf("verify all = %v, %v", all, err)
	}
	_, err = f.client.VerifyAllEvidence(as(t, "hc-cso-1"), &evidencev1.VerifyAllEvidenceRequest{})
	wantCode(t, err, codes.PermissionDenied)
	meta, err := f.client.GetEvidence(as(t, "hc-cso-1"), &evidencev1.GetEvidenceRequest{Name: name})
	if err != nil || !meta.GetLastVerification().GetIntact() {
		t.Fatalf("last verification not shown: %v %v", meta, err)
	}

	// The auditor lists the access log; staff cannot.
	_, err = f.client.ListAccessRecords(as(t, "hc-cso-1"), &evidencev1.ListAccessRecordsRequest{Parent: name})
	wantCode(t, err, codes.PermissionDenied)
	log, err := f.client.ListAccessRecords(as(t, "hc-aud-1"), &evidencev1.ListAccessRecordsRequest{Parent: name, PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, r := range log.GetAccessRecords() {
		key := r.GetActor() + " " + r.GetAction().String()
		if !r.GetGranted() {
			key += " denied"
			if r.GetDenialReason() == "" {
				t.Errorf("denied record without a reason: %v", r)
			}
		}
		count[key]++
	}
	for key, want := range map[string]int{
		"hc-cso-1 ACTION_UPLOAD":                1,
		"hc-cso-1 ACTION_DOWNLOAD":              1,
		"hc-om-1 ACTION_DOWNLOAD":               1,
		"hc-mgr-1 ACTION_METADATA_READ":         2, // a read and a list
		"hc-cso-2 ACTION_METADATA_READ denied":  1,
		"hc-cso-2 ACTION_DOWNLOAD denied":       1,
		"hc-aud-1 ACTION_VERIFY":                1,
		"hc-cso-1 ACTION_VERIFY":                1,
		"hc-om-1 ACTION_METADATA_READ":          3, // a read and two lists
		"hc-sup-1 ACTION_METADATA_READ denied":  1,
		"hc-aud-1 ACTION_METADATA_READ denied":  1,
		"hc-cso-1 ACTION_METADATA_READ":         3,
		"vb-smt-1 ACTION_METADATA_READ":         0,
		"vb-smt-1 ACTION_METADATA_READ denied":  0,
		"hc-cso-2 ACTION_METADATA_READ granted": 0,
	} {
		if count[key] != want {
			t.Errorf("access log has %d %q, want %d (all: %v)", count[key], key, want, count)
		}
	}
	everything, err := f.client.ListAccessRecords(as(t, "hc-aud-1"), &evidencev1.ListAccessRecordsRequest{Parent: "evidence/-", Actor: "hc-cso-2"})
	if err != nil || len(everything.GetAccessRecords()) != 2 {
		t.Fatalf("access log of every item for one actor: %v %v", everything, err)
	}
	// Paging through the log gives every record once.
	seenIDs, token := map[string]bool{}, ""
	for {
		page, err := f.client.ListAccessRecords(as(t, "hc-aud-1"), &evidencev1.ListAccessRecordsRequest{Parent: "evidence/-", PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.GetAccessRecords() {
			if seenIDs[r.GetName()] {
				t.Fatalf("record %s on two pages", r.GetName())
			}
			seenIDs[r.GetName()] = true
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(seenIDs) != len(log.GetAccessRecords()) { // one item; reading the log is not itself recorded
		t.Fatalf("paged %d records, listed %d at once", len(seenIDs), len(log.GetAccessRecords()))
	}
	_, err = f.client.ListAccessRecords(as(t, "vb-staff-1"), &evidencev1.ListAccessRecordsRequest{Parent: "evidence/-"})
	wantCode(t, err, codes.PermissionDenied)
}

// C75: a distressing item is named as such, flagged in lists, and opens
// only with the acknowledgement; the log says whether it was given.
func TestDistressingNeedsAcknowledgement(t *testing.T) {
	f := start(t)
	meta := screenshot(f.incident("i2"))
	meta.Distressing = true
	content := png(70 << 10)
	got, err := upload(as(t, "hc-cso-1"), f.client, meta, "", content)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetFilename() != "DISTRESSING - post.png" || !got.GetDistressing() {
		t.Fatalf("filename %q distressing %v", got.GetFilename(), got.GetDistressing())
	}
	list, err := f.client.ListEvidence(as(t, "hc-cso-1"), &evidencev1.ListEvidenceRequest{})
	if err != nil || len(list.GetEvidence()) != 1 || !list.GetEvidence()[0].GetDistressing() {
		t.Fatalf("list = %v, %v", list, err)
	}

	_, body, err := download(as(t, "hc-cso-1"), f.client, got.GetName(), false)
	st := wantCode(t, err, codes.FailedPrecondition)
	if !strings.Contains(st.Message(), "distressing") || !strings.Contains(st.Message(), "acknowledge") || len(body) != 0 {
		t.Fatalf("refusal %q, %d bytes", st.Message(), len(body))
	}
	m, body, err := download(as(t, "hc-cso-1"), f.client, got.GetName(), true)
	if err != nil || !bytes.Equal(body, content) || m.GetFilename() != "DISTRESSING - post.png" {
		t.Fatalf("acknowledged download: %v (%d bytes)", err, len(body))
	}

	log, err := f.client.ListAccessRecords(as(t, "hc-aud-1"), &evidencev1.ListAccessRecordsRequest{Parent: got.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	var refused, granted int
	for _, r := range log.GetAccessRecords() {
		if r.GetAction() != evidencev1.AccessRecord_ACTION_DOWNLOAD {
			continue
		}
		switch {
		case !r.GetGranted() && !r.GetAcknowledgedDistressing() && strings.Contains(r.GetDenialReason(), "distressing"):
			refused++
		case r.GetGranted() && r.GetAcknowledgedDistressing():
			granted++
		}
	}
	if refused != 1 || granted != 1 {
		t.Fatalf("log has %d refused and %d acknowledged downloads, want 1 and 1: %v", refused, granted, log)
	}
}

// Bad input gets a clear 4xx and leaves nothing half-stored.
func TestBadUploadsLeaveNothing(t *testing.T) {
	f := start(t)
	inc := f.incident("i3")
	other := "incidents/vb1"
	f.incidents.add(&incidentv1.Incident{Name: other, Organization: "valuation-board", Reporter: "vb-staff-1"})

	tests := []struct {
		name    string
		staff   string
		meta    func() *evidencev1.Evidence
		content []byte
		code    codes.Code
		says    string
	}{
		{"wrong type", "hc-cso-1", func() *evidencev1.Evidence { return screenshot(inc) }, append([]byte("MZ\x90\x00"), make([]byte, 5000)...), codes.InvalidArgument, "not accepted"},
		{"plain zip", "hc-cso-1", func() *evidencev1.Evidence { return screenshot(inc) }, append([]byte("PK\x03\x04"), make([]byte, 5000)...), codes.InvalidArgument, "application/zip"},
		{"too large", "hc-cso-1", func() *evidencev1.Evidence { return screenshot(inc) }, png(testMaxBytes + 1), codes.InvalidArgument, "larger than the limit of 4 MiB"},
		{"empty", "hc-cso-1", func() *evidencev1.Evidence { return screenshot(inc) }, nil, codes.InvalidArgument, "empty"},
		{"unknown incident", "hc-cso-1", func() *evidencev1.Evidence { return screenshot("incidents/nosuch") }, png(1000), codes.NotFound, "incidents/nosuch"},
		{"another organisation's incident", "hc-cso-1", func() *evidencev1.Evidence { return screenshot(other) }, png(1000), codes.NotFound, other},
		{"incident the uploader may not read", "hc-cso-2", func() *evidencev1.Evidence { return screenshot(inc) }, png(1000), codes.PermissionDenied, "may not read"},
		{"oversized metadata", "hc-cso-1", func() *evidencev1.Evidence {
			m := screenshot(inc)
			m.Description = strings.Repeat("x", 20<<10)
			return m
		}, png(1000), codes.InvalidArgument, "metadata"},
		{"long description", "hc-cso-1", func() *evidencev1.Evidence {
			m := screenshot(inc)
			m.Description = strings.Repeat("x", 3000)
			return m
		}, png(1000), codes.InvalidArgument, "evidence.description"},
		{"no kind", "hc-cso-1", func() *evidencev1.Evidence { m := screenshot(inc); m.Kind = 0; return m }, png(1000), codes.InvalidArgument, "evidence.kind"},
		{"restriction-svc not built", "hc-cso-1", func() *evidencev1.Evidence {
			m := screenshot("")
			m.Restriction = "restrictions/r1"
			return m
		}, png(1000), codes.PermissionDenied, "Unimplemented"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := upload(as(t, tt.staff), f.client, tt.meta(), "", tt.content)
			st := wantCode(t, err, tt.code)
			if !strings.Contains(st.Message(), tt.says) {
				t.Errorf("message %q does not say %q", st.Message(), tt.says)
			}
			f.nothingStored(t, tt.name)
		})
	}

	t.Run("truncated stream", func(t *testing.T) {
		ctx, cancel := context.WithCancel(as(t, "hc-cso-1"))
		stream, err := f.client.UploadEvidence(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_ = stream.Send(&evidencev1.UploadEvidenceRequest{Payload: &evidencev1.UploadEvidenceRequest_Evidence{Evidence: screenshot(inc)}})
		body := png(2 << 20)
		for i := 0; i < len(body); i += 256 << 10 {
			_ = stream.Send(&evidencev1.UploadEvidenceRequest{Payload: &evidencev1.UploadEvidenceRequest_Chunk{Chunk: body[i : i+256<<10]}})
		}
		time.Sleep(300 * time.Millisecond) // let some chunks reach GridFS
		cancel()                           // the client goes away mid-upload
		_, err = stream.CloseAndRecv()
		wantCode(t, err, codes.Canceled)
		f.nothingStored(t, "a truncated stream")
	})
}

// Verify reports a stored chunk that was altered, naming it; downloads of
// the item fail instead of serving altered content.
func TestVerifyReportsCorruptedChunk(t *testing.T) {
	f := start(t)
	content := png(5 << 19) // 2.5 MiB: five GridFS chunks of eight segments
	got, err := upload(as(t, "hc-cso-1"), f.client, screenshot(f.incident("i4")), "", content)
	if err != nil {
		t.Fatal(err)
	}
	// Flip one byte of GridFS chunk 2, as a disk fault or a tamperer would.
	chunks := f.db.Collection("evidence.chunks")
	var doc struct {
		ID   bson.ObjectID `bson:"_id"`
		Data []byte        `bson:"data"`
	}
	if err := chunks.FindOne(context.Background(), bson.D{{Key: "n", Value: 2}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	doc.Data[1000] ^= 0x40
	if _, err := chunks.UpdateOne(context.Background(), bson.D{{Key: "_id", Value: doc.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "data", Value: bson.Binary{Data: doc.Data}}}}}); err != nil {
		t.Fatal(err)
	}

	v, err := f.client.VerifyEvidence(as(t, "hc-aud-1"), &evidencev1.VerifyEvidenceRequest{Name: got.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if v.GetIntact() || !strings.Contains(v.GetProblem(), "GridFS chunk 2") || v.GetExpectedSha256() != sum(content) {
		t.Fatalf("verify = %v", v)
	}
	all, err := f.client.VerifyAllEvidence(as(t, "hc-mgr-1"), &evidencev1.VerifyAllEvidenceRequest{})
	if err != nil || all.GetChecked() != 1 || all.GetFailed() != 1 || all.GetFailures()[0].GetName() != got.GetName() {
		t.Fatalf("verify all = %v, %v", all, err)
	}
	_, body, err := download(as(t, "hc-cso-1"), f.client, got.GetName(), false)
	st := wantCode(t, err, codes.DataLoss)
	if !strings.Contains(st.Message(), "segment 16 (GridFS chunk 2)") || len(body) >= len(content) {
		t.Fatalf("download of a damaged item: %q after %d bytes", st.Message(), len(body))
	}

	// A missing chunk is reported too.
	if _, err := chunks.DeleteOne(context.Background(), bson.D{{Key: "n", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	v, err = f.client.VerifyEvidence(as(t, "hc-aud-1"), &evidencev1.VerifyEvidenceRequest{Name: got.GetName()})
	if err != nil || v.GetIntact() || !strings.Contains(v.GetProblem(), "GridFS chunk 1 is missing") {
		t.Fatalf("verify with a missing chunk = %v, %v", v, err)
	}
}

// Retention: only items of a lifted or expired restriction are marked;
// after the profile's period their content is deleted and a tombstone with
// the hash stays.
func TestRetentionLeavesTombstone(t *testing.T) {
	f := start(t)
	f.restrictions.set(&restrictionv1.Restriction{Name: "restrictions/r1", Organization: "highland-council", State: restrictionv1.Restriction_STATE_ACTIVE})
	meta := screenshot(f.incident("i5"))
	meta.Restriction = "restrictions/r1"
	content := png(200 << 10)
	a, err := upload(as(t, "hc-cso-1"), f.client, meta, "", content)
	if err != nil {
		t.Fatal(err)
	}
	b, err := upload(as(t, "hc-cso-1"), f.client, meta, "", png(1000))
	if err != nil {
		t.Fatal(err)
	}
	noRestriction, err := upload(as(t, "hc-cso-1"), f.client, screenshot(f.incident("i6")), "", png(1000))
	if err != nil {
		t.Fatal(err)
	}
	mgr := as(t, "hc-mgr-1")
	mark := func(name string) (*evidencev1.Evidence, error) {
		return f.client.MarkEvidenceForDeletion(mgr, &evidencev1.MarkEvidenceForDeletionRequest{Name: name, Reason: "restriction lifted on appeal"})
	}

	_, err = f.client.MarkEvidenceForDeletion(as(t, "hc-cso-1"), &evidencev1.MarkEvidenceForDeletionRequest{Name: a.GetName(), Reason: "x"})
	wantCode(t, err, codes.PermissionDenied)
	_, err = mark(a.GetName())
	if st := wantCode(t, err, codes.FailedPrecondition); !strings.Contains(st.Message(), "active") {
		t.Fatalf("message %q", st.Message())
	}
	_, err = mark(noRestriction.GetName())
	wantCode(t, err, codes.FailedPrecondition)

	f.restrictions.set(&restrictionv1.Restriction{Name: "restrictions/r1", Organization: "highland-council", State: restrictionv1.Restriction_STATE_LIFTED})
	marked, err := mark(a.GetName())
	if err != nil {
		t.Fatal(err)
	}
	year := 365 * 24 * time.Hour
	if marked.GetState() != evidencev1.Evidence_STATE_MARKED_FOR_DELETION || marked.GetMarkedBy() != "hc-mgr-1" ||
		marked.GetDeleteAfterTime().AsTime().Before(time.Now().Add(year-time.Hour)) {
		t.Fatalf("marked = %v", marked)
	}
	if _, err := mark(b.GetName()); err != nil {
		t.Fatal(err)
	}
	// Still readable while kept.
	if _, body, err := download(as(t, "hc-cso-1"), f.client, a.GetName(), false); err != nil || !bytes.Equal(body, content) {
		t.Fatalf("download while marked: %v", err)
	}
	_, err = f.client.DeleteEvidence(mgr, &evidencev1.DeleteEvidenceRequest{Name: a.GetName()})
	if st := wantCode(t, err, codes.FailedPrecondition); !strings.Contains(st.Message(), "kept until") {
		t.Fatalf("message %q", st.Message())
	}

	f.clock.advance(year + time.Hour)
	deleted, err := f.client.DeleteEvidence(mgr, &evidencev1.DeleteEvidenceRequest{Name: a.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if deleted.GetState() != evidencev1.Evidence_STATE_DELETED || deleted.GetSha256() != sum(content) || deleted.GetDeletedBy() != "hc-mgr-1" || deleted.GetDeleteTime() == nil {
		t.Fatalf("tombstone = %v", deleted)
	}
	// The retention job deletes the other one.
	if n, err := f.svc.PurgeDue(context.Background()); err != nil || n != 1 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	tomb, err := f.client.GetEvidence(as(t, "hc-cso-1"), &evidencev1.GetEvidenceRequest{Name: b.GetName()})
	if err != nil || tomb.GetState() != evidencev1.Evidence_STATE_DELETED || tomb.GetDeletedBy() != "system:retention" || tomb.GetSha256() == "" {
		t.Fatalf("tombstone = %v, %v", tomb, err)
	}
	_, _, err = download(as(t, "hc-cso-1"), f.client, a.GetName(), false)
	if st := wantCode(t, err, codes.FailedPrecondition); !strings.Contains(st.Message(), "tombstone") {
		t.Fatalf("message %q", st.Message())
	}
	// Only the item without a restriction keeps content.
	if n := f.count(t, "evidence.files"); n != 1 {
		t.Fatalf("%d files stored, want 1", n)
	}
	page1, err := f.client.ListEvidence(mgr, &evidencev1.ListEvidenceRequest{State: evidencev1.Evidence_STATE_DELETED, PageSize: 1})
	if err != nil || len(page1.GetEvidence()) != 1 || page1.GetNextPageToken() == "" {
		t.Fatalf("tombstones, page 1: %v, %v", page1, err)
	}
	page2, err := f.client.ListEvidence(mgr, &evidencev1.ListEvidenceRequest{State: evidencev1.Evidence_STATE_DELETED, PageSize: 1, PageToken: page1.GetNextPageToken()})
	if err != nil || len(page2.GetEvidence()) != 1 || page2.GetNextPageToken() != "" || page2.GetEvidence()[0].GetName() == page1.GetEvidence()[0].GetName() {
		t.Fatalf("tombstones, page 2: %v, %v", page2, err)
	}
	_, err = f.client.ListEvidence(mgr, &evidencev1.ListEvidenceRequest{PageToken: "not-a-token!"})
	wantCode(t, err, codes.InvalidArgument)
	all, err := f.client.VerifyAllEvidence(mgr, &evidencev1.VerifyAllEvidenceRequest{})
	if err != nil || all.GetChecked() != 1 || all.GetFailed() != 0 {
		t.Fatalf("verify all skips tombstones: %v, %v", all, err)
	}
}

// The appeal officer of a linked restriction reads its evidence; marking
// fails, saying why, while restriction-svc cannot answer.
func TestRestrictionRelations(t *testing.T) {
	f := start(t)
	// A strategic lead hears appeals (C24) and holds no organisation-wide role.
	officer := func() context.Context {
		return asIdentity(t, identity.Identity{StaffID: "hc-sl-1", Organization: "highland-council", Roles: []string{"staff", "strategic_lead"}})
	}
	meta := screenshot(f.incident("i7"))
	meta.Restriction = "restrictions/r2"
	f.restrictions.set(&restrictionv1.Restriction{Name: "restrictions/r2", Organization: "highland-council", State: restrictionv1.Restriction_STATE_UNDER_APPEAL,
		Appeals: []*restrictionv1.Appeal{{AppealOfficer: "hc-sl-1"}}})
	got, err := upload(as(t, "hc-cso-1"), f.client, meta, "", png(1000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.GetEvidence(officer(), &evidencev1.GetEvidenceRequest{Name: got.GetName()}); err != nil {
		t.Fatalf("appeal officer: %v", err)
	}
	list, err := f.client.ListEvidence(officer(), &evidencev1.ListEvidenceRequest{Restriction: "restrictions/r2"})
	if err != nil || len(list.GetEvidence()) != 1 {
		t.Fatalf("appeal officer lists: %v %v", list, err)
	}
	_, err = f.client.GetEvidence(as(t, "hc-cc-1"), &evidencev1.GetEvidenceRequest{Name: got.GetName()})
	wantCode(t, err, codes.PermissionDenied)

	f.restrictions.mu.Lock()
	f.restrictions.restrictions = nil // restriction-svc answers Unimplemented
	f.restrictions.mu.Unlock()
	_, err = f.client.GetEvidence(officer(), &evidencev1.GetEvidenceRequest{Name: got.GetName()})
	if st := wantCode(t, err, codes.PermissionDenied); !strings.Contains(st.Message(), "Unimplemented") {
		t.Fatalf("denial does not say restriction-svc could not answer: %q", st.Message())
	}
	_, err = f.client.MarkEvidenceForDeletion(as(t, "hc-mgr-1"), &evidencev1.MarkEvidenceForDeletionRequest{Name: got.GetName(), Reason: "lifted"})
	if st := wantCode(t, err, codes.FailedPrecondition); !strings.Contains(st.Message(), "Unimplemented") {
		t.Fatalf("message %q", st.Message())
	}
}

// C31, C24: those who must decide read the evidence they decide on: the
// reporter's line manager (told to review the incident), the manager who
// recorded the review, and the decider of the linked restriction. Another
// team leader is not among them.
func TestDecisionMakersRead(t *testing.T) {
	f := start(t)
	inc := f.incident("i9")
	item, err := upload(as(t, "hc-cso-1"), f.client, screenshot(inc), "", png(2000))
	if err != nil {
		t.Fatal(err)
	}
	read := func(staff string, roles ...string) error {
		who := identity.Identity{StaffID: staff, Organization: "highland-council", Roles: append([]string{"staff"}, roles...)}
		_, err := f.client.GetEvidence(asIdentity(t, who), &evidencev1.GetEvidenceRequest{Name: item.GetName()})
		return err
	}
	// hc-cso-1's line manager in the directory is hc-tl-1: one question to
	// the directory.
	asked := f.directory.questions()
	if err := read("hc-tl-1", "team_leader"); err != nil {
		t.Fatalf("the reporter's line manager: %v", err)
	}
	if n := f.directory.questions() - asked; n != 1 {
		t.Errorf("one read asked the directory %d times, want 1", n)
	}
	list, err := f.client.ListEvidence(as(t, "hc-tl-1"), &evidencev1.ListEvidenceRequest{Incident: inc})
	if err != nil || len(list.GetEvidence()) != 1 {
		t.Fatalf("the reporter's line manager lists the incident's evidence: %v %v", list, err)
	}
	st := wantCode(t, read("hc-tl-2", "team_leader"), codes.PermissionDenied)
	if !strings.Contains(st.Message(), "line manager of the linked incident's reporter") {
		t.Errorf("denial does not name the relations: %q", st.Message())
	}
	// The review is recorded by another team leader: now they may read.
	f.incidents.mu.Lock()
	f.incidents.incidents[inc].Review = &incidentv1.ManagerReview{Reviewer: "hc-tl-2"}
	f.incidents.mu.Unlock()
	asked = f.directory.questions()
	if err := read("hc-tl-2", "team_leader"); err != nil {
		t.Fatalf("the reviewer: %v", err)
	}
	if f.directory.questions() != asked {
		t.Error("the reviewer's read asked the directory; the incident alone grants it")
	}
	// While the directory cannot answer, the line manager is refused, saying
	// why; the reviewer does not depend on it.
	f.directory.setDown(true)
	st = wantCode(t, read("hc-tl-1", "team_leader"), codes.PermissionDenied)
	if !strings.Contains(st.Message(), "notify-svc could not check the line manager of hc-cso-1") {
		t.Errorf("denial does not say the directory could not answer: %q", st.Message())
	}
	if err := read("hc-tl-2", "team_leader"); err != nil {
		t.Fatalf("the reviewer while the directory is down: %v", err)
	}
	f.directory.setDown(false)
	// The decider of a restriction the evidence supports.
	meta := screenshot(f.incident("i10"))
	meta.Restriction = "restrictions/r9"
	f.restrictions.set(&restrictionv1.Restriction{Name: "restrictions/r9", Organization: "highland-council", State: restrictionv1.Restriction_STATE_ACTIVE,
		Decision: &restrictionv1.Decision{DecidedBy: "hc-sup-1"}})
	supported, err := upload(as(t, "hc-cso-1"), f.client, meta, "", png(2000))
	if err != nil {
		t.Fatal(err)
	}
	sup := asIdentity(t, identity.Identity{StaffID: "hc-sup-1", Organization: "highland-council", Roles: []string{"staff", "supervisor"}})
	if _, err := f.client.GetEvidence(sup, &evidencev1.GetEvidenceRequest{Name: supported.GetName()}); err != nil {
		t.Fatalf("the decider: %v", err)
	}
	_, err = f.client.GetEvidence(sup, &evidencev1.GetEvidenceRequest{Name: item.GetName()})
	wantCode(t, err, codes.PermissionDenied)
}

// A retried upload with the same request id returns the first item.
func TestRetriedUploadReturnsFirstItem(t *testing.T) {
	f := start(t)
	inc := f.incident("i8")
	a, err := upload(as(t, "hc-cso-1"), f.client, screenshot(inc), "req-1", png(5000))
	if err != nil {
		t.Fatal(err)
	}
	b, err := upload(as(t, "hc-cso-1"), f.client, screenshot(inc), "req-1", png(5000))
	if err != nil {
		t.Fatal(err)
	}
	if a.GetName() != b.GetName() || a.GetSha256() != b.GetSha256() {
		t.Fatalf("retry stored another item: %s %s", a.GetName(), b.GetName())
	}
	if n := f.count(t, "evidence.files"); n != 1 {
		t.Fatalf("%d files stored, want 1", n)
	}
}

// The sweep removes uploads a crash left pending, and keeps committed ones.
func TestSweepRemovesWhatACrashLeft(t *testing.T) {
	f := start(t)
	if _, err := upload(as(t, "hc-cso-1"), f.client, screenshot(f.incident("i9")), "", png(5000)); err != nil {
		t.Fatal(err)
	}
	// A crash mid-upload: chunks and a pending record, no file document.
	w, err := f.content.Create(context.Background(), "crashed", "highland-council")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 3<<20)); err != nil {
		t.Fatal(err)
	}
	// A crash after commit but before dropping the pending record.
	var first struct {
		ID     string `bson:"_id"`
		FileID string `bson:"file_id"`
	}
	if err := f.db.Collection("evidence").FindOne(context.Background(), bson.D{}).Decode(&first); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Collection("evidence_uploads").InsertOne(context.Background(), bson.D{
		{Key: "_id", Value: first.FileID}, {Key: "item", Value: first.ID},
		{Key: "organization", Value: "highland-council"}, {Key: "started", Value: time.Now()},
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the last batch land
	res, err := f.svc.Sweep(context.Background(), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if res.AbortedUploads != 1 || res.Committed != 1 {
		t.Fatalf("sweep = %+v", res)
	}
	if f.count(t, "evidence_uploads") != 0 || f.count(t, "evidence.files") != 1 {
		t.Fatal("sweep left pending records or removed committed content")
	}
	var left []bson.M
	cur, _ := f.db.Collection("evidence.chunks").Find(context.Background(), bson.D{}, nil)
	_ = cur.All(context.Background(), &left)
	if len(left) != 1 {
		t.Fatalf("%d chunks left, want the committed item's 1", len(left))
	}
	all, err := f.client.VerifyAllEvidence(as(t, "hc-aud-1"), &evidencev1.VerifyAllEvidenceRequest{})
	if err != nil || all.GetFailed() != 0 || all.GetChecked() != 1 {
		t.Fatalf("verify all after the sweep: %v %v", all, err)
	}
}
