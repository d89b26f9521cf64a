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
// Exiting "once" is what a crash test needs: crash at the step, restart,
// and watch recovery finish the work.
package faultinject
