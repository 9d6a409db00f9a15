package pcapexpr

import (
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

// ErrExpr is wrapped by every error Compile returns, so callers can tell a
// bad capture expression from an I/O error with errors.Is. Its text is
// "capture filter", tcpdump's name for what it compiles, so messages read
// `capture filter "vlan": unsupported keyword "vlan" at offset 0`.
var ErrExpr = errors.New("capture filter")

// acceptLen is what a compiled program returns for an accepted frame. It is
// libpcap's MAXIMUM_SNAPLEN, what tcpdump's programs return too; the tap only
// looks at zero or non-zero.
const acceptLen = 262144

// Compile compiles a capture expression in tcpdump (pcap-filter(7)) syntax
// for LINKTYPE_ETHERNET frames into a classic BPF program that accepts a
// frame by returning non-zero. It is pure Go and needs no libpcap; the
// supported subset is listed in the package documentation, and anything
// outside it is an error wrapping ErrExpr that names the part that is not
// supported. An empty expression is an error: a tap without an expression
// simply has no program.
//
// Compile is safe for concurrent use.
func Compile(expr string) ([]bpf.Instruction, error) {
	root, err := parse(expr)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrExpr, expr, err)
	}
	prog, err := generate(root)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrExpr, expr, err)
	}
	return prog, nil
}
