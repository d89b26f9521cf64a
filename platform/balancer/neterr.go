package balancer

import (
	"context"
	"errors"
	"net"
	"syscall"
)

var (
	errConnRefused = syscall.ECONNREFUSED
	errConnReset   = syscall.ECONNRESET
	errBrokenPipe  = syscall.EPIPE
)

// isDialError reports whether err happened while connecting: refused,
// unreachable, or the dial timed out. Such a request never reached the
// endpoint. A dial cut short by a cancelled context says nothing about the
// endpoint and does not count.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" && !errors.Is(err, context.Canceled)
}
