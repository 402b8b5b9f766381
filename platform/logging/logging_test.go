package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

func TestLogLinesCarryRequestID(t *testing.T) {
	var buf bytes.Buffer
	log := NewTo(&buf, "test-svc", "info")
	ctx := WithRequestID(context.Background(), "abc123")
	log.InfoContext(ctx, "hello", "k", "v")
	log.DebugContext(ctx, "hidden")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	if rec["request_id"] != "abc123" || rec["service"] != "test-svc" || rec["msg"] != "hello" {
		t.Errorf("record = %v", rec)
	}
}

func TestNewRequestIDIsRandom(t *testing.T) {
	a, b := NewRequestID(), NewRequestID()
	if a == b || len(a) != 16 {
		t.Errorf("ids %q %q", a, b)
	}
}
