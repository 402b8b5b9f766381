package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactguard/contactguard/notify-svc/internal/mail"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/testenv"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newStore(t *testing.T) *Store {
	t.Helper()
	s := NewStore(testenv.Mongo(t))
	if err := s.EnsureIndexes(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	return s
}

// uniqueAddress is a recipient no other test (in any package) sends to, so
// the shared mail sink can be filtered by it.
func uniqueAddress(t *testing.T, n int) string {
	return fmt.Sprintf("%s-%d@notify-test.example.org", strings.ReplaceAll(testenv.UniqueName(t), "_", "-"), n)
}

func newDelivery(id, to string) Delivery {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return Delivery{
		ID: id, Organization: "highland-council", EventID: "abc#00000001", EventType: "incident.reported",
		Reference: "HC-2026-ABC123", Recipient: "hc-tl-1", RecipientEmail: to, Reason: "line manager",
		From: "ContactGuard - The Highland Council <contactguard@highland.example.org>", Subject: "Incident HC-2026-ABC123 reported",
		Text: "Reference: HC-2026-ABC123\n", HTML: "<p>Reference: HC-2026-ABC123</p>",
		Status: StatusQueued, NextAttemptTime: now, CreateTime: now, UpdateTime: now,
	}
}

func get(t *testing.T, s *Store, id string) Delivery {
	t.Helper()
	d, err := s.Get(testCtx(t), "highland-council", id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return d
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen; last state: %s", what, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// closedAddr is an address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func smtpTo(addr string) func(context.Context, mail.Message) error {
	return func(ctx context.Context, m mail.Message) error {
		return mail.Send(ctx, mail.Config{Addr: addr, TLS: "none", Timeout: 10 * time.Second}, m)
	}
}

// run starts s.Run and returns a function that stops it and waits.
func run(t *testing.T, s *Sender) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Sender.Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

type sinkMessage struct {
	To        []string `json:"to"`
	Subject   string   `json:"subject"`
	MessageID string   `json:"message_id"`
	Text      string   `json:"text"`
}

// sinkMessagesTo returns the sink's messages addressed to any of recipients.
func sinkMessagesTo(t *testing.T, recipients map[string]bool) []sinkMessage {
	t.Helper()
	url := testenv.Require(t, "CG_TEST_MAILSINK_URL")
	resp, err := http.Get(strings.TrimSuffix(url, "/") + "/api/messages")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/messages: %s", resp.Status)
	}
	var all []sinkMessage
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		t.Fatal(err)
	}
	var out []sinkMessage
	for _, m := range all {
		for _, to := range m.To {
			if recipients[to] {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

func TestQueueIsIdempotentPerID(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	first := newDelivery("abc-00000001-hc-tl-1", "isla.macleod@highland.example.org")
	second := first
	second.Subject = "a different rendering of the same (event, recipient)"

	fresh, err := s.Queue(ctx, first)
	if err != nil || !fresh {
		t.Fatalf("first Queue = %v, %v; want true, nil", fresh, err)
	}
	fresh, err = s.Queue(ctx, second)
	if err != nil || fresh {
		t.Fatalf("second Queue = %v, %v; want false, nil", fresh, err)
	}
	if got := get(t, s, first.ID); got.Subject != first.Subject {
		t.Errorf("the second Queue replaced the record: subject %q", got.Subject)
	}
	if list, err := s.List(ctx, Query{Organization: "highland-council", Limit: 10}); err != nil || len(list) != 1 {
		t.Errorf("List = %d records, %v; want 1", len(list), err)
	}
}

func TestDueSelectsQueuedAndFailedWhoseTimeHasCome(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	tests := []struct {
		id     string
		status string
		next   time.Time
		due    bool
	}{
		{"queued-past", StatusQueued, now.Add(-time.Minute), true},
		{"failed-past", StatusFailed, now.Add(-time.Second), true},
		{"queued-now", StatusQueued, now, true},
		{"queued-future", StatusQueued, now.Add(time.Minute), false},
		{"failed-future", StatusFailed, now.Add(time.Minute), false},
		{"sent-past", StatusSent, now.Add(-time.Minute), false},
		{"dead-past", StatusDead, now.Add(-time.Minute), false},
	}
	for _, tt := range tests {
		d := newDelivery(tt.id, "x@example.org")
		d.Status, d.NextAttemptTime = tt.status, tt.next
		if _, err := s.Queue(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	due, err := s.Due(ctx, now, 50)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range due {
		got = append(got, d.ID)
	}
	// Oldest first.
	if want := "[queued-past failed-past queued-now]"; fmt.Sprint(got) != want {
		t.Errorf("Due = %v, want %s", got, want)
	}
}

func TestGetAndListAreScopedToTheOrganisation(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	own := newDelivery("own", "a@example.org")
	other := newDelivery("other", "b@example.org")
	other.Organization = "valuation-board"
	for _, d := range []Delivery{own, other} {
		if _, err := s.Queue(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Get(ctx, "highland-council", "other"); !errors.Is(err, apperr.ErrNotFound) {
		t.Errorf("Get of another organisation's delivery = %v, want not found", err)
	}
	list, err := s.List(ctx, Query{Organization: "highland-council", Limit: 10})
	if err != nil || len(list) != 1 || list[0].ID != "own" {
		t.Errorf("List = %+v, %v; want only own", list, err)
	}
	if _, err := s.List(ctx, Query{Limit: 10}); err == nil {
		t.Error("List without an organisation was allowed")
	}
}

func TestAttemptRecordsTheOutcome(t *testing.T) {
	smtpAddr := testenv.Require(t, "CG_TEST_SMTP_ADDR")
	closed := closedAddr(t)
	tests := []struct {
		name     string
		send     func(context.Context, mail.Message) error
		attempts int // attempts before this one
		status   string
		retry    bool // a next attempt is scheduled
	}{
		{"accepted by the sink is sent", smtpTo(smtpAddr), 0, StatusSent, false},
		{"server unreachable is retried", smtpTo(closed), 0, StatusFailed, true},
		{"server unreachable at the last attempt is dead", smtpTo(closed), 1, StatusDead, false},
		{"temporary refusal is retried", func(context.Context, mail.Message) error {
			return fmt.Errorf("SMTP RCPT TO: %w", &textproto.Error{Code: 451, Msg: "try later"})
		}, 0, StatusFailed, true},
		{"permanent refusal is dead at once", func(context.Context, mail.Message) error {
			return fmt.Errorf("SMTP RCPT TO: %w", &textproto.Error{Code: 550, Msg: "no such user"})
		}, 0, StatusDead, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newStore(t)
			sender := &Sender{Store: store, Send: tt.send, Logger: discard, MaxAttempts: 2, RetryBase: time.Minute, RetryMax: time.Hour}
			d := newDelivery("d1", uniqueAddress(t, 1))
			d.Attempts = tt.attempts
			if _, err := store.Queue(testCtx(t), d); err != nil {
				t.Fatal(err)
			}
			before := time.Now()
			sender.attempt(testCtx(t), get(t, store, d.ID))

			got := get(t, store, d.ID)
			if got.Status != tt.status || got.Attempts != tt.attempts+1 {
				t.Fatalf("status %s attempts %d, want %s %d (last error %q)", got.Status, got.Attempts, tt.status, tt.attempts+1, got.LastError)
			}
			if (tt.status == StatusSent) != (got.LastError == "") {
				t.Errorf("last error %q", got.LastError)
			}
			if (tt.status == StatusSent) == got.SendTime.IsZero() {
				t.Errorf("send time %v", got.SendTime)
			}
			// Retries wait RetryBase (a minute here) after the attempt.
			if tt.retry && got.NextAttemptTime.Before(before.Add(time.Minute-time.Millisecond)) {
				t.Errorf("next attempt %v is not a retry delay after %v", got.NextAttemptTime, before)
			}
			if due, err := store.Due(testCtx(t), time.Now(), 10); err != nil || len(due) != 0 {
				t.Errorf("still due right after the attempt: %+v, %v", due, err)
			}
		})
	}
}

func TestSenderSendsAQueuedDeliveryOnce(t *testing.T) {
	smtpAddr := testenv.Require(t, "CG_TEST_SMTP_ADDR")
	store := newStore(t)
	rdb, prefix := testenv.Redis(t)
	wake := make(chan struct{}, 1)
	sender := &Sender{
		Store: store, Redis: rdb, LeaseKey: prefix + ":sender-lease", Send: smtpTo(smtpAddr), Logger: discard,
		MaxAttempts: 2, RetryBase: 10 * time.Millisecond, RetryMax: time.Second, Wake: wake,
	}
	to := uniqueAddress(t, 1)
	d := newDelivery("abc-00000001-hc-tl-1", to)
	if _, err := store.Queue(testCtx(t), d); err != nil {
		t.Fatal(err)
	}
	stop := run(t, sender)
	wake <- struct{}{}
	eventually(t, "delivery marked sent", func() (bool, string) {
		got := get(t, store, d.ID)
		return got.Status == StatusSent, fmt.Sprintf("%+v", got)
	})
	stop() // nothing is sent after Run returns

	got := get(t, store, d.ID)
	if got.Attempts != 1 || got.SendTime.IsZero() || got.LastError != "" {
		t.Errorf("sent record = %+v", got)
	}
	msgs := sinkMessagesTo(t, map[string]bool{to: true})
	if len(msgs) != 1 {
		t.Fatalf("the sink received %d messages for %s, want 1", len(msgs), to)
	}
	if msgs[0].MessageID != "<"+d.MessageID()+">" || msgs[0].Subject != d.Subject || !strings.Contains(msgs[0].Text, "HC-2026-ABC123") {
		t.Errorf("received %+v", msgs[0])
	}
}

func TestSenderGivesUpAfterMaxAttempts(t *testing.T) {
	store := newStore(t)
	rdb, prefix := testenv.Redis(t)
	sender := &Sender{
		Store: store, Redis: rdb, LeaseKey: prefix + ":sender-lease", Send: smtpTo(closedAddr(t)), Logger: discard,
		MaxAttempts: 2, RetryBase: 10 * time.Millisecond, RetryMax: time.Second, Wake: make(chan struct{}, 1),
	}
	d := newDelivery("abc-00000001-hc-tl-1", uniqueAddress(t, 1))
	if _, err := store.Queue(testCtx(t), d); err != nil {
		t.Fatal(err)
	}
	run(t, sender)
	eventually(t, "delivery dead", func() (bool, string) {
		got := get(t, store, d.ID)
		return got.Status == StatusDead, fmt.Sprintf("%+v", got)
	})
	got := get(t, store, d.ID)
	if got.Attempts != 2 || !strings.Contains(got.LastError, "connect") || !got.SendTime.IsZero() {
		t.Errorf("dead record = %+v", got)
	}
}

func TestTwoSendersNeverSendADeliveryTwice(t *testing.T) {
	smtpAddr := testenv.Require(t, "CG_TEST_SMTP_ADDR")
	store := newStore(t)
	rdb, prefix := testenv.Redis(t)
	const n = 20
	recipients := map[string]bool{}
	var ids []string
	for i := range n {
		to := uniqueAddress(t, i)
		recipients[to] = true
		d := newDelivery(fmt.Sprintf("evt-%02d-hc-tl-1", i), to)
		ids = append(ids, d.ID)
		if _, err := store.Queue(testCtx(t), d); err != nil {
			t.Fatal(err)
		}
	}
	var stops []func()
	for range 2 {
		wake := make(chan struct{}, 1)
		wake <- struct{}{}
		stops = append(stops, run(t, &Sender{
			Store: store, Redis: rdb, LeaseKey: prefix + ":sender-lease", Send: smtpTo(smtpAddr), Logger: discard,
			MaxAttempts: 3, RetryBase: 10 * time.Millisecond, RetryMax: time.Second, Wake: wake,
		}))
	}
	eventually(t, "all deliveries sent", func() (bool, string) {
		sent := 0
		for _, id := range ids {
			if get(t, store, id).Status == StatusSent {
				sent++
			}
		}
		return sent == n, fmt.Sprintf("%d of %d sent", sent, n)
	})
	for _, stop := range stops {
		stop()
	}

	msgs := sinkMessagesTo(t, recipients)
	seen := map[string]int{}
	for _, m := range msgs {
		seen[m.MessageID]++
	}
	if len(msgs) != n || len(seen) != n {
		t.Errorf("the sink received %d messages with %d distinct Message-IDs, want %d each: %v", len(msgs), len(seen), n, seen)
	}
	for _, id := range ids {
		if d := get(t, store, id); d.Attempts != 1 {
			t.Errorf("%s attempted %d times", id, d.Attempts)
		}
	}
}
