// Package services names the services Souk is made of. Each lives in its
// own subpackage (services/order, services/payment, ...) and runs as its own
// process; this list is what the launcher starts and what the gateway's
// /health expects to find registered.
package services

// All lists every service but the gateway, in the launcher's start order.
var All = []string{"auth", "user", "catalog", "search", "inventory", "order", "payment", "notification", "warehouse", "recommendation"}

// Gateway is the entry point's service name.
const Gateway = "gateway"
