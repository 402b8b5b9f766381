// Package eventlog records every change as an append-only event and carries
// events to other services through Redis Streams.
//
// FerretDB has no transactions and no isolated updates (ARCHITECTURE.md), so
// the commit point of a change is the insert of its event, whose _id is
// "<aggregate id>#<sequence>": a concurrent writer appending the same
// sequence gets a duplicate key and a conflict. The aggregate's state is a
// fold of its events; the events are also its timeline (C73). Each event
// holds the hash of the one before it, so the history is tamper-evident.
// A Relay publishes unpublished events to a stream; Consumers process them
// at least once, so their handlers must be idempotent by event id.
// See docs/adr/0001-event-log-and-outbox.md.
package eventlog

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Event is one recorded change to one aggregate.
type Event struct {
	ID            string    `bson:"_id" json:"id"`
	AggregateType string    `bson:"aggregate_type" json:"aggregate_type"`
	AggregateID   string    `bson:"aggregate_id" json:"aggregate_id"`
	Seq           int64     `bson:"seq" json:"seq"`
	Type          string    `bson:"type" json:"type"`
	Organization  string    `bson:"organization" json:"organization"`
	Actor         string    `bson:"actor" json:"actor"`
	Time          time.Time `bson:"time" json:"time"`
	// Payload is the JSON of the event type's data.
	Payload  string `bson:"payload" json:"payload"`
	PrevHash string `bson:"prev_hash" json:"prev_hash"`
	Hash     string `bson:"hash" json:"hash"`
	// Published is set by the relay once the event is on the stream.
	Published bool `bson:"published" json:"-"`
}

// Change describes a new event before it is placed in its history.
type Change struct {
	AggregateType string
	AggregateID   string
	Type          string
	Organization  string
	Actor         string
	Time          time.Time
	Data          any
}

// Next returns the event that follows history (the aggregate's events in
// order, empty for a new aggregate).
func Next(history []Event, c Change) (Event, error) {
	payload, err := json.Marshal(c.Data)
	if err != nil {
		return Event{}, fmt.Errorf("encode %s payload: %w", c.Type, err)
	}
	e := Event{
		AggregateType: c.AggregateType,
		AggregateID:   c.AggregateID,
		Seq:           int64(len(history)) + 1,
		Type:          c.Type,
		Organization:  c.Organization,
		Actor:         c.Actor,
		// MongoDB keeps milliseconds: truncate so a reloaded event hashes the same.
		Time:    c.Time.UTC().Truncate(time.Millisecond),
		Payload: string(payload),
	}
	if n := len(history); n > 0 {
		e.PrevHash = history[n-1].Hash
	}
	e.ID = fmt.Sprintf("%s#%08d", e.AggregateID, e.Seq)
	e.Hash = e.computeHash()
	return e, nil
}

func (e Event) computeHash() string {
	h := sha256.New()
	for _, part := range []string{e.ID, e.AggregateType, e.AggregateID, e.Type, e.Organization, e.Actor, e.Time.Format(time.RFC3339Nano), e.Payload, e.PrevHash} {
		fmt.Fprintf(h, "%d:%s;", len(part), part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Decode unmarshals the payload into v.
func (e Event) Decode(v any) error {
	if err := json.Unmarshal([]byte(e.Payload), v); err != nil {
		return fmt.Errorf("decode %s payload of %s: %w", e.Type, e.ID, err)
	}
	return nil
}

// VerifyChain checks that each event's hash matches its content and links
// to the one before; it returns the first broken event's id.
func VerifyChain(history []Event) (brokenID string, ok bool) {
	prev := ""
	for i, e := range history {
		if e.Seq != int64(i)+1 || e.PrevHash != prev || e.computeHash() != e.Hash {
			return e.ID, false
		}
		prev = e.Hash
	}
	return "", true
}
