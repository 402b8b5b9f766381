package main

import (
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/contactguard/contactguard/devstack/mailsink"
)

// key is one expected email: (incident reference, recipient address).
type key struct{ Ref, To string }

// count is what the sink holds for one key.
type count struct {
	IDs      map[string]int // Message-ID -> messages with it
	Messages int
	First    time.Time // when the first of them arrived
}

// tally compares the sink with the expected emails.
type tally struct {
	Expected   int
	Received   int   // expected keys with at least one message
	Missing    []key // expected keys without a message
	Duplicates []key // keys with more than one distinct Message-ID
	Repeats    int   // messages beyond the first with the same Message-ID
	RepeatKeys []key
	Unexpected []mailsink.Message // messages that match no expected key
	Messages   int                // everything in the sink
	Last       time.Time          // arrival of the last expected email (its first copy)
	Counts     map[key]*count
}

// referencePattern matches a ContactGuard reference (HC-2026-56PY9C).
var referencePattern = regexp.MustCompile(`\b[A-Z][A-Z0-9]*-\d{4}-[A-Z0-9]+\b`)

func address(s string) string {
	return strings.ToLower(strings.Trim(strings.TrimSpace(s), "<>"))
}

// compare tallies msgs against the expected keys. A message belongs to a key
// when its subject names the key's reference and it went to the key's
// recipient.
func compare(expected map[key]bool, msgs []mailsink.Message) tally {
	t := tally{Expected: len(expected), Messages: len(msgs), Counts: map[key]*count{}}
	refs := map[string]bool{}
	for k := range expected {
		refs[k.Ref] = true
	}
	for _, m := range msgs {
		matched := false
		for _, ref := range referencePattern.FindAllString(m.Subject, -1) {
			if !refs[ref] {
				continue
			}
			for _, to := range m.To {
				k := key{ref, address(to)}
				if !expected[k] {
					continue
				}
				c := t.Counts[k]
				if c == nil {
					c = &count{IDs: map[string]int{}}
					t.Counts[k] = c
				}
				c.IDs[strings.TrimSpace(m.MessageID)]++
				c.Messages++
				if c.First.IsZero() || m.Received.Before(c.First) {
					c.First = m.Received
				}
				matched = true
			}
		}
		if !matched {
			t.Unexpected = append(t.Unexpected, m)
		}
	}
	for k := range expected {
		c := t.Counts[k]
		if c == nil {
			t.Missing = append(t.Missing, k)
			continue
		}
		t.Received++
		if len(c.IDs) > 1 {
			t.Duplicates = append(t.Duplicates, k)
		}
		if r := c.Messages - len(c.IDs); r > 0 {
			t.Repeats += r
			t.RepeatKeys = append(t.RepeatKeys, k)
		}
		if c.First.After(t.Last) {
			t.Last = c.First
		}
	}
	for _, ks := range [][]key{t.Missing, t.Duplicates, t.RepeatKeys} {
		sort.Slice(ks, func(i, j int) bool { return ks[i].Ref < ks[j].Ref || ks[i].Ref == ks[j].Ref && ks[i].To < ks[j].To })
	}
	return t
}
