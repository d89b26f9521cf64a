package verify

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Accepted is an order the system accepted during a load run: a 201 or a
// 202 with the order's id.
type Accepted struct {
	ID             string `json:"id"`
	Status         string `json:"status"`
	IdempotencyKey string `json:"idempotency_key"`
}

// Ambiguous is a request whose outcome the load generator could not learn
// (a timeout, a dropped connection, a 5xx): the order may or may not exist.
type Ambiguous struct {
	IdempotencyKey string `json:"idempotency_key"`
	Error          string `json:"error"`
}

// Expectations are what a load run saw, as `souk load --orders-out` writes
// them.
type Expectations struct {
	Accepted  []Accepted
	Ambiguous []Ambiguous
}

// ParseExpectations reads JSON lines: {"id","status","idempotency_key","at"}
// for an accepted order, {"idempotency_key","error"} for an ambiguous
// outcome. Blank lines are skipped; unknown members are ignored. A line
// that is not a JSON object, or has neither an id nor an error, is an error
// naming the line.
func ParseExpectations(r io.Reader) (*Expectations, error) {
	exp := &Expectations{}
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read expectations: %w", err)
		}
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			var l struct {
				ID             string `json:"id"`
				Status         string `json:"status"`
				IdempotencyKey string `json:"idempotency_key"`
				Error          string `json:"error"`
			}
			if jerr := json.Unmarshal(trimmed, &l); jerr != nil {
				return nil, fmt.Errorf("expectations line %d: %w", n, jerr)
			}
			switch {
			case l.ID != "":
				exp.Accepted = append(exp.Accepted, Accepted{ID: l.ID, Status: l.Status, IdempotencyKey: l.IdempotencyKey})
			case l.Error != "":
				exp.Ambiguous = append(exp.Ambiguous, Ambiguous{IdempotencyKey: l.IdempotencyKey, Error: l.Error})
			default:
				return nil, fmt.Errorf("expectations line %d: neither an id nor an error", n)
			}
		}
		if err == io.EOF {
			return exp, nil
		}
	}
}

// ReadExpectations parses the file at path (see ParseExpectations).
func ReadExpectations(path string) (*Expectations, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read expectations: %w", err)
	}
	defer f.Close()
	exp, err := ParseExpectations(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return exp, nil
}
