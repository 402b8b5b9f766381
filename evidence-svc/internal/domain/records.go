package domain

import "time"

// Actions recorded in the access log (C76: every access is recorded).
const (
	ActionMetadataRead    = "metadata_read"
	ActionDownload        = "download"
	ActionVerify          = "verify"
	ActionMarkForDeletion = "mark_for_deletion"
	ActionDelete          = "delete"
	ActionUpload          = "upload"
)

// AccessRecord is one entry of the access log: who did what to which item,
// when, whether it was allowed, and for downloads whether the distressing
// acknowledgement was given. It never holds content or descriptions.
type AccessRecord struct {
	ID                      string    `bson:"_id"`
	Organization            string    `bson:"organization"`
	Evidence                string    `bson:"evidence"` // item id
	Actor                   string    `bson:"actor"`
	Action                  string    `bson:"action"`
	Time                    time.Time `bson:"time"`
	Granted                 bool      `bson:"granted"`
	AcknowledgedDistressing bool      `bson:"acknowledged_distressing"`
	DenialReason            string    `bson:"denial_reason,omitempty"`
}

// Verification is the result of checking an item's stored content against
// the hash taken at upload.
type Verification struct {
	Evidence     string    `bson:"_id"` // item id
	Organization string    `bson:"organization"`
	Intact       bool      `bson:"intact"`
	Expected     string    `bson:"expected_sha256"`
	Actual       string    `bson:"actual_sha256"`
	Problem      string    `bson:"problem,omitempty"`
	Time         time.Time `bson:"time"`
}
