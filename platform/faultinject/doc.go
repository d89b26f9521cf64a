// Package faultinject crashes or delays a process at named points of its
// code, for the tests that prove the system survives a crash at every step
// of a saga. It is off unless SOUK_FAULT is set, and a point that is not
// named there costs one map lookup on a nil map.
//
// SOUK_FAULT is a comma-separated list of point=action:
//
//	order.after_reserve=exit      exit the process at once (like SIGKILL: no
//	                              cleanup, no deferred calls), once: a marker
//	                              file in the state folder remembers the hit,
//	                              so the restarted process runs through
//	order.before_charge=delay:2s  sleep 2s each time
//	payment.charge=error          return an error each time
//
// Points every service has without code of its own (platform/boot):
//
//	<service>.after <route pattern>   after a handler returned, before its
//	                                  response is flushed: "payment.after
//	                                  POST /internal/charges" crashes after
//	                                  the charge committed, before the
//	                                  caller hears of it
//	<service>.outbox.before_publish   in the outbox relay, before and after
//	<service>.outbox.after_publish    publishing a batch (after: published
//	                                  but not yet marked)
//	<durable>.after_handle            an event consumer's handler committed
//	                                  its effect, the ack is not sent yet
//	                                  ("notification-order-placed.after_handle")
//
// Exiting "once" is what a crash test needs: crash at the step, restart,
// and watch recovery finish the work.
package faultinject
