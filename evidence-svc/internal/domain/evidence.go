// Package domain holds evidence storage's rules (policy-map.md section 4:
// C36, C72-C76, C78): what an item records, how distressing material is
// named, who may read an item, which content types are accepted, and when
// an item may be marked for deletion and deleted. It does no I/O: the
// application layer gathers the facts, asks the domain, and records the
// resulting event.
package domain

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
)

// AggregateType names evidence items in the event log.
const AggregateType = "evidence"

// Event types recorded for an item. The content itself is never changed:
// the only changes are the retention steps.
const (
	EventUploaded          = "evidence.uploaded"
	EventMarkedForDeletion = "evidence.marked_for_deletion"
	EventDeleted           = "evidence.deleted"
)

// Kinds of evidence (policy-map.md section 4).
var Kinds = []string{
	"screenshot", "web_page_link", "email", "letter", "call_recording", "photo", "document", "witness_statement",
}

// States of an item.
const (
	StateActive            = "active"
	StateMarkedForDeletion = "marked_for_deletion"
	StateDeleted           = "deleted"
)

// DistressingMarker starts the stored and downloaded file name of a
// distressing item (C75), so it is never opened by accident from a folder.
const DistressingMarker = "DISTRESSING - "

// Limits on metadata.
const (
	MaxDescription = 2000
	MaxFilename    = 200
	MaxURL         = 2048
	MaxReason      = 1000
	// Clock skew allowed between a capturing device and the server.
	futureTolerance = 5 * time.Minute
)

var (
	staffIDPattern     = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	incidentPattern    = regexp.MustCompile(`^incidents/[0-9a-z]{1,64}$`)
	restrictionPattern = regexp.MustCompile(`^restrictions/[0-9A-Za-z_-]{1,64}$`)
	namingPattern      = regexp.MustCompile(`^publicNamings/[0-9A-Za-z_-]{1,64}$`)
	earliest           = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Draft is the metadata an uploader gives with the content.
type Draft struct {
	Kind             string    `json:"kind" bson:"kind"`
	OriginalFilename string    `json:"original_filename,omitempty" bson:"original_filename"`
	CaptureTime      time.Time `json:"capture_time,omitzero" bson:"capture_time"`
	CapturedBy       string    `json:"captured_by,omitempty" bson:"captured_by"`
	SourceURL        string    `json:"source_url,omitempty" bson:"source_url"`
	Description      string    `json:"description,omitempty" bson:"description"`
	Incident         string    `json:"incident,omitempty" bson:"incident"`
	Restriction      string    `json:"restriction,omitempty" bson:"restriction"`
	PublicNaming     string    `json:"public_naming,omitempty" bson:"public_naming"`
	Distressing      bool      `json:"distressing,omitempty" bson:"distressing"`
}

// Validate checks and normalises a draft as received, naming the field at
// fault (prefix is the path of the metadata in the request, e.g.
// "evidence"). The capturer defaults to the uploader.
func (d *Draft) Validate(prefix, uploader string, now time.Time) error {
	field := func(name string) string { return prefix + "." + name }
	d.Description = strings.TrimSpace(d.Description)
	d.SourceURL = strings.TrimSpace(d.SourceURL)
	d.CapturedBy = strings.TrimSpace(d.CapturedBy)
	d.OriginalFilename = strings.TrimSpace(d.OriginalFilename)

	if d.Kind == "" {
		return apperr.Invalid(field("kind"), "say what kind of evidence this is (one of %s)", strings.Join(Kinds, ", "))
	}
	if !slices.Contains(Kinds, d.Kind) {
		return apperr.Invalid(field("kind"), "unknown kind %q (one of %s)", d.Kind, strings.Join(Kinds, ", "))
	}
	if d.Incident == "" && d.Restriction == "" && d.PublicNaming == "" {
		return apperr.Invalid(field("incident"), "evidence belongs to an incident, a restriction or a staff-named-publicly case: give at least one of incident, restriction, public_naming")
	}
	for _, l := range []struct {
		name, value, example string
		re                   *regexp.Regexp
	}{
		{"incident", d.Incident, "incidents/abc123", incidentPattern},
		{"restriction", d.Restriction, "restrictions/abc123", restrictionPattern},
		{"public_naming", d.PublicNaming, "publicNamings/abc123", namingPattern},
	} {
		if l.value != "" && !l.re.MatchString(l.value) {
			return apperr.Invalid(field(l.name), "must be a name such as %s, got %q", l.example, clip(l.value))
		}
	}
	if err := maxLen(field("description"), d.Description, MaxDescription); err != nil {
		return err
	}
	if len(d.OriginalFilename) > 4*MaxFilename {
		return apperr.Invalid(field("original_filename"), "is %d bytes long; at most %d characters are allowed", len(d.OriginalFilename), MaxFilename)
	}
	if !utf8.ValidString(d.OriginalFilename) {
		return apperr.Invalid(field("original_filename"), "is not valid UTF-8")
	}
	if err := maxLen(field("original_filename"), d.OriginalFilename, MaxFilename); err != nil {
		return err
	}
	if d.SourceURL != "" {
		if len(d.SourceURL) > MaxURL {
			return apperr.Invalid(field("source_url"), "is %d characters long; at most %d are allowed", len(d.SourceURL), MaxURL)
		}
		u, err := url.Parse(d.SourceURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return apperr.Invalid(field("source_url"), "must be an http or https address of the online material, got %q", clip(d.SourceURL))
		}
	}
	if d.Kind == "web_page_link" && d.SourceURL == "" {
		return apperr.Invalid(field("source_url"), "a web page link needs the address of the page")
	}
	if d.CapturedBy == "" {
		d.CapturedBy = uploader
	}
	if !staffIDPattern.MatchString(d.CapturedBy) {
		return apperr.Invalid(field("captured_by"), "is not a staff id: %q", clip(d.CapturedBy))
	}
	switch {
	case d.CaptureTime.IsZero():
	case d.CaptureTime.After(now.Add(futureTolerance)):
		return apperr.Invalid(field("capture_time"), "is in the future (%s); give the time the material was captured", d.CaptureTime.UTC().Format(time.RFC3339))
	case d.CaptureTime.Before(earliest):
		return apperr.Invalid(field("capture_time"), "is before %d; check the date", earliest.Year())
	}
	return nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func maxLen(field, v string, n int) error {
	if c := utf8.RuneCountInString(v); c > n {
		return apperr.Invalid(field, "is %d characters long; at most %d are allowed", c, n)
	}
	return nil
}

// Content describes stored content, known when the upload ends.
type Content struct {
	FileID      string `json:"file_id" bson:"file_id"` // where the sealed content is stored
	ContentType string `json:"content_type" bson:"content_type"`
	Size        int64  `json:"size" bson:"size"`
	SHA256      string `json:"sha256" bson:"sha256"`
}

// Uploaded is the payload of EventUploaded.
type Uploaded struct {
	Draft
	Content
	Filename string `json:"filename"`
	Uploader string `json:"uploader"`
}

// MarkedForDeletion is the payload of EventMarkedForDeletion.
type MarkedForDeletion struct {
	Reason      string    `json:"reason"`
	Restriction string    `json:"restriction"`
	DeleteAfter time.Time `json:"delete_after"`
}

// Deleted is the payload of EventDeleted: the content is gone, the hash
// stays as the tombstone.
type Deleted struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Item is the current state of an evidence item: a fold of its events.
type Item struct {
	ID           string `bson:"_id"`
	Organization string `bson:"organization"`
	Draft        `bson:",inline"`
	Content      `bson:",inline"`
	Filename     string    `bson:"filename"`
	Uploader     string    `bson:"uploader"`
	CreateTime   time.Time `bson:"create_time"`
	UpdateTime   time.Time `bson:"update_time"`
	State        string    `bson:"state"`
	Version      int64     `bson:"version"`

	DeleteAfter    time.Time `bson:"delete_after,omitempty"`
	DeletionReason string    `bson:"deletion_reason,omitempty"`
	MarkedBy       string    `bson:"marked_by,omitempty"`
	DeleteTime     time.Time `bson:"delete_time,omitempty"`
	DeletedBy      string    `bson:"deleted_by,omitempty"`
}

// Name is the item's resource name.
func (it Item) Name() string { return "evidence/" + it.ID }

// HasContent reports whether the item's content is still stored.
func (it Item) HasContent() bool { return it.State != StateDeleted }

// Upload returns the first event of a new item.
func Upload(id, org, uploader string, d Draft, c Content, now time.Time) (eventlog.Event, error) {
	return eventlog.Next(nil, eventlog.Change{
		AggregateType: AggregateType, AggregateID: id, Type: EventUploaded,
		Organization: org, Actor: uploader, Time: now,
		Data: Uploaded{Draft: d, Content: c, Filename: StoredFilename(d.OriginalFilename, d.Kind, c.ContentType, id, d.Distressing), Uploader: uploader},
	})
}

// Fold returns the state of the item whose events are history, in order.
func Fold(history []eventlog.Event) (Item, error) {
	var it Item
	for i, e := range history {
		if i == 0 && e.Type != EventUploaded {
			return Item{}, fmt.Errorf("evidence %s: first event is %s, not %s", e.AggregateID, e.Type, EventUploaded)
		}
		switch e.Type {
		case EventUploaded:
			var p Uploaded
			if err := e.Decode(&p); err != nil {
				return Item{}, err
			}
			it = Item{
				ID: e.AggregateID, Organization: e.Organization, Draft: p.Draft, Content: p.Content,
				Filename: p.Filename, Uploader: p.Uploader, CreateTime: e.Time, State: StateActive,
			}
		case EventMarkedForDeletion:
			var p MarkedForDeletion
			if err := e.Decode(&p); err != nil {
				return Item{}, err
			}
			it.State, it.DeleteAfter, it.DeletionReason, it.MarkedBy = StateMarkedForDeletion, p.DeleteAfter, p.Reason, e.Actor
		case EventDeleted:
			it.State, it.DeleteTime, it.DeletedBy = StateDeleted, e.Time, e.Actor
		default:
			return Item{}, fmt.Errorf("evidence %s: unknown event type %s", e.AggregateID, e.Type)
		}
		it.UpdateTime = e.Time
		it.Version = e.Seq
	}
	return it, nil
}

// Restriction states after which evidence may be marked for deletion.
var endedRestrictionStates = []string{"lifted", "expired"}

// MarkForDeletion returns the event marking the item for deletion after the
// retention period. restrictionState is the current state of the item's
// restriction ("lifted", "active", ...): only items linked to a lifted or
// expired restriction may be marked.
func MarkForDeletion(history []eventlog.Event, it Item, actor, reason, restrictionState string, retention time.Duration, now time.Time) (eventlog.Event, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case it.State == StateDeleted:
		return eventlog.Event{}, apperr.Precondition("%s is already deleted; its tombstone stays", it.Name())
	case it.State == StateMarkedForDeletion:
		return eventlog.Event{}, apperr.Precondition("%s is already marked for deletion after %s", it.Name(), it.DeleteAfter.UTC().Format(time.RFC3339))
	case it.Restriction == "":
		return eventlog.Event{}, apperr.Precondition("%s is not linked to a restriction: only evidence of a lifted or expired restriction can be marked for deletion", it.Name())
	case !slices.Contains(endedRestrictionStates, restrictionState):
		return eventlog.Event{}, apperr.Precondition("%s is %s: evidence can be marked for deletion only once its restriction is lifted or expired", it.Restriction, restrictionState)
	case reason == "":
		return eventlog.Event{}, apperr.Invalid("reason", "say why the item may be deleted")
	case retention <= 0:
		return eventlog.Event{}, apperr.Precondition("the organisation's profile sets no evidence retention period (evidence_retention_days)")
	}
	if err := maxLen("reason", reason, MaxReason); err != nil {
		return eventlog.Event{}, err
	}
	return eventlog.Next(history, eventlog.Change{
		AggregateType: AggregateType, AggregateID: it.ID, Type: EventMarkedForDeletion,
		Organization: it.Organization, Actor: actor, Time: now,
		Data: MarkedForDeletion{Reason: reason, Restriction: it.Restriction, DeleteAfter: now.Add(retention).UTC().Truncate(time.Millisecond)},
	})
}

// Delete returns the event recording that the item's content is deleted,
// allowed once it is marked and its retention period has passed. The item
// stays as a tombstone with its hash.
func Delete(history []eventlog.Event, it Item, actor string, now time.Time) (eventlog.Event, error) {
	switch {
	case it.State == StateDeleted:
		return eventlog.Event{}, apperr.Precondition("%s is already deleted", it.Name())
	case it.State != StateMarkedForDeletion:
		return eventlog.Event{}, apperr.Precondition("%s is not marked for deletion: mark it first (only evidence of a lifted or expired restriction)", it.Name())
	case now.Before(it.DeleteAfter):
		return eventlog.Event{}, apperr.Precondition("%s is kept until %s (the profile's retention period)", it.Name(), it.DeleteAfter.UTC().Format(time.RFC3339))
	}
	return eventlog.Next(history, eventlog.Change{
		AggregateType: AggregateType, AggregateID: it.ID, Type: EventDeleted,
		Organization: it.Organization, Actor: actor, Time: now,
		Data: Deleted{SHA256: it.SHA256, Size: it.Size},
	})
}

// StoredFilename is the name an item is stored and downloaded under: the
// original name without any path, control or quoting characters, with an
// extension matching the detected type, and for distressing items the
// marker in front (C75). Without an original name it is made from the kind
// and id.
func StoredFilename(original, kind, contentType, id string, distressing bool) string {
	name := original
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), r == '"', r == '\\', r == '/', r == ':', r == '*', r == '?', r == '<', r == '>', r == '|', r == ';':
			return '_'
		}
		return r
	}, name)
	name = strings.Trim(strings.TrimSpace(name), ".")
	// The marker means distressing, and only that: never keep one from the
	// original name.
	for strings.HasPrefix(strings.ToUpper(name), strings.ToUpper(DistressingMarker)) {
		name = strings.TrimSpace(name[len(DistressingMarker):])
	}
	if name == "" {
		name = kind + "-" + id
	}
	if exts := extensionsOf(contentType); len(exts) > 0 && !slices.Contains(exts, strings.ToLower(path.Ext(name))) {
		name += exts[0]
	}
	if r := []rune(name); len(r) > MaxFilename {
		name = string(r[len(r)-MaxFilename:])
	}
	if distressing {
		name = DistressingMarker + name
	}
	return name
}
