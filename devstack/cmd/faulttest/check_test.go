package main

import (
	"testing"
	"time"

	"github.com/contactguard/contactguard/devstack/mailsink"
)

func TestCompare(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	msg := func(sec int, to, subject, id string) mailsink.Message {
		return mailsink.Message{Received: t0.Add(time.Duration(sec) * time.Second), To: []string{to}, Subject: subject, MessageID: id}
	}
	isla, mairi := "isla.macleod@highland.example.org", "mairi.nicolson@valuation.example.org"
	expected := map[key]bool{
		{"HC-2026-AAAAAA", isla}:  true,
		{"HC-2026-BBBBBB", isla}:  true,
		{"VB-2026-CCCCCC", mairi}: true,
		{"HC-2026-DDDDDD", isla}:  true,
	}
	got := compare(expected, []mailsink.Message{
		msg(1, isla, "Incident HC-2026-AAAAAA reported: your review is needed", "<a@cg>"),
		msg(2, "<Isla.MacLeod@highland.example.org>", "Incident HC-2026-BBBBBB reported: your review is needed", "<b@cg>"),
		msg(5, isla, "Incident HC-2026-BBBBBB reported: your review is needed", "<b@cg>"),   // resent, same id
		msg(3, mairi, "Incident VB-2026-CCCCCC reported: your review is needed", "<c1@cg>"), // two ids: a duplicate
		msg(4, mairi, "Incident VB-2026-CCCCCC reported: your review is needed", "<c2@cg>"),
		msg(6, mairi, "Incident HC-2026-AAAAAA reported: your review is needed", "<x@cg>"), // wrong recipient
		msg(7, isla, "Incident HC-2026-AAAAAAB reported: your review is needed", "<y@cg>"), // another reference
		msg(8, isla, "Incident HC-2026-ZZZZZZ reported: your review is needed", "<z@cg>"),  // unknown reference
	})
	if got.Expected != 4 || got.Received != 3 || got.Messages != 8 {
		t.Errorf("expected %d received %d messages %d, want 4 3 8", got.Expected, got.Received, got.Messages)
	}
	if len(got.Missing) != 1 || got.Missing[0] != (key{"HC-2026-DDDDDD", isla}) {
		t.Errorf("missing %v", got.Missing)
	}
	if len(got.Duplicates) != 1 || got.Duplicates[0] != (key{"VB-2026-CCCCCC", mairi}) {
		t.Errorf("duplicates %v", got.Duplicates)
	}
	if got.Repeats != 1 || len(got.RepeatKeys) != 1 || got.RepeatKeys[0] != (key{"HC-2026-BBBBBB", isla}) {
		t.Errorf("repeats %d %v", got.Repeats, got.RepeatKeys)
	}
	if len(got.Unexpected) != 3 {
		t.Errorf("unexpected %d, want 3", len(got.Unexpected))
	}
	if want := t0.Add(3 * time.Second); !got.Last.Equal(want) {
		t.Errorf("last expected email at %s, want %s (first copy of the latest key)", got.Last, want)
	}
}
