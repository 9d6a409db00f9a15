package driver

import "fmt"

// Kind selects a driver.
type Kind int

// Driver kinds.
const (
	// Auto picks AF_XDP when it can and falls back to AF_PACKET.
	Auto Kind = iota
	// XDP is AF_XDP (package afxdp).
	XDP
	// Packet is AF_PACKET TPACKET_V3 (package afpacket).
	Packet
)

// String returns "auto", "xdp" or "packet", as ParseKind accepts.
func (k Kind) String() string {
	switch k {
	case XDP:
		return "xdp"
	case Packet:
		return "packet"
	}
	return "auto"
}

// ParseKind parses "auto", "xdp" or "packet".
func ParseKind(s string) (Kind, error) {
	switch s {
	case "", "auto":
		return Auto, nil
	case "xdp", "afxdp":
		return XDP, nil
	case "packet", "afpacket":
		return Packet, nil
	}
	return 0, fmt.Errorf("unknown driver %q (want auto, xdp or packet)", s)
}
