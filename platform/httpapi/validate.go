package httpapi

import (
	"strconv"

	"github.com/souk/souk/platform/fault"
)

// Validator collects one message per invalid field, so a client learns of
// every problem in one round trip.
type Validator struct {
	fields []fault.FieldError
}

// Check records msg for field unless ok.
func (v *Validator) Check(ok bool, field, msg string) {
	if !ok {
		v.fields = append(v.fields, fault.FieldError{Field: field, Message: msg})
	}
}

// Err returns a fault.Invalid error listing the fields, or nil.
func (v *Validator) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return fault.Fields(v.fields...)
}

// ParseLimit reads a page-size query parameter: def when empty, else an
// integer from 1 to max, or a fault.Invalid error naming "limit".
func ParseLimit(s string, def, max int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, fault.Fields(fault.FieldError{Field: "limit", Message: "must be an integer from 1 to " + strconv.Itoa(max)})
	}
	return n, nil
}
