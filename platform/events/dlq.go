package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/souk/souk/platform/fault"
)

// DeadLetter is an event a consumer gave up on, as stored in the DLQ stream.
type DeadLetter struct {
	Seq      uint64    `json:"seq"`      // in the DLQ stream
	Consumer string    `json:"consumer"` // durable name
	Subject  string    `json:"subject"`  // original subject
	Error    string    `json:"error"`    // the handler's last error, or why it was not called
	Attempts int       `json:"attempts"`
	Failed   time.Time `json:"failed"`
	Event    Event     `json:"event"` // zero but for Headers and Subject when the body did not decode
}

// deadLetterWire is the body of a message in the DLQ. It keeps the original
// message verbatim (headers and body), so a redrive republishes exactly what
// was published, even a body that did not decode.
type deadLetterWire struct {
	Consumer  string      `json:"consumer"`
	Stream    string      `json:"stream"`
	StreamSeq uint64      `json:"stream_seq"`
	Subject   string      `json:"subject"`
	Error     string      `json:"error"`
	Attempts  int         `json:"attempts"`
	Failed    time.Time   `json:"failed"`
	Headers   nats.Header `json:"headers,omitempty"`
	Body      []byte      `json:"body"`
}

func (b *Bus) publishDeadLetter(ctx context.Context, w deadLetterWire) error {
	body, err := json.Marshal(w)
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: b.dlqPrefix + "." + w.Consumer, Header: nats.Header{}, Data: body}
	// A dead letter written again after a failed Term is dropped as a duplicate.
	msg.Header.Set(nats.MsgIdHdr, fmt.Sprintf("%s.%s.%d", w.Consumer, w.Stream, w.StreamSeq))
	if _, err := b.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("publish dead letter to %s: %w", msg.Subject, err)
	}
	return nil
}

func decodeDeadLetter(seq uint64, data []byte) (DeadLetter, deadLetterWire, error) {
	var w deadLetterWire
	if err := json.Unmarshal(data, &w); err != nil {
		return DeadLetter{}, w, fmt.Errorf("decode dead letter %d: %w", seq, err)
	}
	dl := DeadLetter{Seq: seq, Consumer: w.Consumer, Subject: w.Subject, Error: w.Error, Attempts: w.Attempts, Failed: w.Failed}
	_ = json.Unmarshal(w.Body, &dl.Event) // a poison body leaves Event zero
	dl.Event.Subject = w.Subject
	dl.Event.StreamSeq = w.StreamSeq
	dl.Event.Headers = inHeaders(w.Headers)
	return dl, w, nil
}

// DeadLetters returns up to limit dead letters, oldest first; limit <= 0
// means all. It returns an empty list when the DLQ stream does not exist
// and the broker's error otherwise.
func (b *Bus) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	stream, err := b.js.Stream(ctx, b.dlqStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return []DeadLetter{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	total := int(stream.CachedInfo().State.Msgs)
	if limit <= 0 || limit > total {
		limit = total
	}
	out := make([]DeadLetter, 0, limit)
	if limit == 0 {
		return out, nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{b.dlqPrefix + ".>"},
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	for len(out) < limit {
		batch, err := cons.Fetch(limit-len(out), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, fmt.Errorf("list dead letters: %w", err)
		}
		n, last := 0, false
		for msg := range batch.Messages() {
			n++
			md, err := msg.Metadata()
			if err != nil {
				return nil, fmt.Errorf("list dead letters: %w", err)
			}
			dl, _, err := decodeDeadLetter(md.Sequence.Stream, msg.Data())
			if err != nil {
				return nil, fmt.Errorf("list dead letters: %w", err)
			}
			out = append(out, dl)
			last = md.NumPending == 0
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("list dead letters: %w", err)
		}
		if last || n == 0 {
			break
		}
	}
	return out, nil
}

// Redrive republishes dead letter seq to its original subject, with its
// original headers and body, then deletes it from the DLQ. The event keeps
// its id, so consumers that already handled it skip it (their inbox); its
// JetStream message id is "<event id>.redrive.<seq>" so the republish is not
// dropped as a duplicate of the original. It returns a NotFound error when
// there is no dead letter seq.
func (b *Bus) Redrive(ctx context.Context, seq uint64) error {
	stream, err := b.js.Stream(ctx, b.dlqStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fault.NotFoundf("no dead letter %d", seq)
	}
	if err != nil {
		return fmt.Errorf("redrive %d: %w", seq, err)
	}
	raw, err := stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return fault.NotFoundf("no dead letter %d", seq)
	}
	if err != nil {
		return fmt.Errorf("redrive %d: %w", seq, err)
	}
	dl, w, err := decodeDeadLetter(seq, raw.Data)
	if err != nil {
		return fmt.Errorf("redrive: %w", err)
	}
	msg := &nats.Msg{Subject: w.Subject, Header: nats.Header{}, Data: w.Body}
	for k, v := range w.Headers {
		msg.Header[k] = v
	}
	id := dl.Event.ID
	if id == "" {
		id = "dlq"
	}
	msg.Header.Set(nats.MsgIdHdr, id+".redrive."+strconv.FormatUint(seq, 10))
	if _, err := b.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("redrive %d to %s: %w", seq, w.Subject, unavailable(err))
	}
	if err := stream.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		// Republished but still in the DLQ: a second redrive within two
		// minutes is dropped as a duplicate.
		return fmt.Errorf("redrive %d: delete from %s: %w", seq, b.dlqStream, err)
	}
	return nil
}

// RedriveAll redrives every dead letter and returns how many it redrove.
// It stops at the first failure.
func (b *Bus) RedriveAll(ctx context.Context) (int, error) {
	dls, err := b.DeadLetters(ctx, 0)
	if err != nil {
		return 0, fmt.Errorf("redrive all: %w", err)
	}
	n := 0
	for _, dl := range dls {
		err := b.Redrive(ctx, dl.Seq)
		switch {
		case err == nil:
			n++
		case fault.Is(err, fault.NotFound): // redriven meanwhile by someone else
		default:
			return n, fmt.Errorf("redrive all: %w", err)
		}
	}
	return n, nil
}
