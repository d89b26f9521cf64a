package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestLoggerTagsRecords(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, slog.LevelInfo, "order", "order-1")
	ctx := WithRequestID(context.Background(), "abc123")
	log.InfoContext(ctx, "placed", "order_id", "o1")
	log.Debug("hidden")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("want one JSON line, got %q: %v", buf.String(), err)
	}
	for k, want := range map[string]string{"service": "order", "instance": "order-1", "request_id": "abc123", "msg": "placed", "order_id": "o1"} {
		if got := rec[k]; got != want {
			t.Errorf("%s = %v, want %q", k, got, want)
		}
	}
}

func TestValidRequestID(t *testing.T) {
	for id, want := range map[string]bool{"abc-123_x.y": true, "": false, "a b": false, "x\ny": false, string(make([]byte, 65)): false} {
		if got := ValidRequestID(id); got != want {
			t.Errorf("ValidRequestID(%q) = %v, want %v", id, got, want)
		}
	}
	if id := NewRequestID(); !ValidRequestID(id) || len(id) != 16 {
		t.Errorf("NewRequestID() = %q", id)
	}
}
