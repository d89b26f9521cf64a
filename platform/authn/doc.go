// Package authn issues and verifies the tokens that carry identity through
// Souk.
//
// Two kinds of bearer token exist, told apart by their signing algorithm and
// issuer, never by a claim the bearer controls:
//
//   - User tokens are EdDSA (Ed25519) JWTs signed by the auth service, with a
//     kid naming the key; anyone verifies them with the public keys from
//     auth's JWKS. Their role claim is "customer" or "admin".
//   - Service tokens are HS256 JWTs signed with the cluster's shared service
//     secret (SOUK_SERVICE_SECRET; a Kubernetes Secret in cluster mode), so
//     internal calls do not depend on the auth service being up. Their
//     principal always has role "service", whatever the claims say.
//
// A Verifier checks signature, issuer, audience, expiry and not-before, and
// rejects "alg: none" and any algorithm but those two. Verified tokens are
// cached until they expire, so a hot path pays the ~90 µs of an Ed25519 check
// once per token, not once per request. Unknown key ids trigger a JWKS
// refresh at most once a second, which is how key rotation reaches verifiers
// without a restart: the auth service publishes the new key before signing
// with it and keeps the old one until its last token has expired.
//
// All types are safe for concurrent use.
package authn
