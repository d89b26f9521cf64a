package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/souk/souk/platform/fault"
)

// Event is a fact a service publishes: ORDER_PLACED from order, keyed by
// the aggregate it is about. Its body is the JSON of the tagged fields;
// Headers travel as NATS headers. Subject, Delivery and StreamSeq are set
// on delivery only.
type Event struct {
	ID      string            `json:"id"`     // UUIDv7; the dedupe key of JetStream and of consumers' inboxes
	Type    string            `json:"type"`   // "ORDER_PLACED"
	Source  string            `json:"source"` // publishing service: "order"
	Key     string            `json:"key"`    // aggregate id
	Time    time.Time         `json:"time"`
	Data    json.RawMessage   `json:"data"`
	Headers map[string]string `json:"-"`

	Subject   string `json:"-"` // "order.order_placed"
	Delivery  int    `json:"-"` // 1 on the first delivery
	StreamSeq uint64 `json:"-"` // sequence in the source's stream
}

// New returns an event with a new UUIDv7 id, the time now in UTC and data
// marshalled to JSON. It returns an Invalid error for a bad type or source
// and the marshalling error for data that is not JSON-able.
func New(typ, source, key string, data any) (Event, error) {
	if err := validate(typ, source); err != nil {
		return Event{}, err
	}
	b, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("new event %s: %w", typ, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Event{}, fmt.Errorf("new event %s: %w", typ, err)
	}
	return Event{ID: id.String(), Type: typ, Source: source, Key: key, Time: time.Now().UTC(), Data: b}, nil
}

// SubjectOf returns the subject of events of type typ from source:
// "<source>.<lowercase type>", e.g. "order.order_placed".
func SubjectOf(source, typ string) string { return source + "." + strings.ToLower(typ) }

// StreamOf returns the name of source's stream, e.g. "ORDER_EVENTS". It
// holds the subjects "<source>.>".
func StreamOf(source string) string { return strings.ToUpper(source) + "_EVENTS" }

// validate checks that typ and source make a valid subject and stream name.
func validate(typ, source string) error {
	if !validSource(source) {
		return fault.Invalidf("event source %q must be lowercase letters, digits, '-' or '_', and not %q", source, dlqSource)
	}
	if !validToken(typ) {
		return fault.Invalidf("event type %q must be letters, digits, '-' or '_'", typ)
	}
	return nil
}

// dlqSource is the subject prefix of dead letters; no service may use it.
const dlqSource = "dlq"

func validSource(s string) bool {
	return validToken(s) && s == strings.ToLower(s) && s != dlqSource
}

// validToken reports whether s is a non-empty subject token that is also
// valid in stream and consumer names.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
