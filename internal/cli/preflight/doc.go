// Package preflight checks, before rxpath binds an interface, what would
// make the bind fail or the run disappoint, and says what to do about it:
// privileges (naming the capabilities), the interface and its link state,
// the MTU against the UMEM frame and native XDP, the queue count from
// ethtool channels, an XDP program already attached, RLIMIT_MEMLOCK
// against the UMEM, and RSS spreading traffic to queues left unbound.
//
// Linux reports these as an errno from deep inside bind(2) or
// bpf_link_create(2), long after the cause; rxpath run checks them first
// (skippable with --no-preflight) and prints one line per finding. The
// messages are documented in the README's "Running on a NIC" section and
// each failure is tested in cmd/rxpath.
package preflight
