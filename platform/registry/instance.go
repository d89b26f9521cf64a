package registry

import "time"

// Instance is one running instance of a service as it registers itself.
type Instance struct {
	ID        string            `json:"id"`      // unique within the service: "order-1"
	Service   string            `json:"service"` // "order"
	Addr      string            `json:"addr"`    // host:port where callers reach it
	PID       int               `json:"pid,omitempty"`
	Started   time.Time         `json:"started"`
	Heartbeat time.Time         `json:"heartbeat"` // refreshed by the lease holder
	Meta      map[string]string `json:"meta,omitempty"`
}
