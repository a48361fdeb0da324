// Package outbound holds what the Bitrix24 and Metabot clients share about calling endpoints
// that the operator's users name: an optional egress policy checked on the address actually
// dialled, a process-wide budget of response bytes in flight, a reader that refuses oversized
// bodies, and the fixed vocabulary that transport failures and remote messages are reported
// in. Everything here may end up in a Kubernetes condition, an event or a log line, so nothing
// here quotes an address, a port, a certificate or a raw error text.
package outbound
