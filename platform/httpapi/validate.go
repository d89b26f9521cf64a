package httpapi

import "github.com/souk/souk/platform/fault"

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
