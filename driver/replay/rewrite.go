package replay

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/rxpath/rxpath/stack/header"
)

// Rewrite retargets a recording at the stack under test. It is applied
// once, to the queue's copy of the frames, when the queue is built.
type Rewrite struct {
	// DstMAC, if non-nil, replaces every frame's Ethernet destination.
	DstMAC net.HardwareAddr
	// DstIP, if valid, must be IPv4 and replaces the destination of
	// every IPv4 packet (behind up to two VLAN tags). The IPv4 header
	// checksum and the UDP or TCP checksum are updated incrementally
	// (RFC 1624), so a checksum that was right stays right and one that
	// was wrong stays wrong. A zero UDP checksum (none) stays zero.
	// Fragments other than the first carry no transport header and get
	// only the IPv4 header update.
	DstIP netip.Addr
	// SrcMAC, if non-nil, replaces every frame's Ethernet source.
	SrcMAC net.HardwareAddr
}

func (rw *Rewrite) validate() error {
	if rw.DstMAC != nil && len(rw.DstMAC) != 6 {
		return fmt.Errorf("replay rewrite: DstMAC %v is not a 6-byte Ethernet address", rw.DstMAC)
	}
	if rw.SrcMAC != nil && len(rw.SrcMAC) != 6 {
		return fmt.Errorf("replay rewrite: SrcMAC %v is not a 6-byte Ethernet address", rw.SrcMAC)
	}
	if rw.DstIP.IsValid() && !rw.DstIP.Unmap().Is4() {
		return fmt.Errorf("replay rewrite: DstIP %v is not an IPv4 address", rw.DstIP)
	}
	return nil
}

const (
	etherTypeIPv4 = 0x0800
	etherTypeVLAN = 0x8100
	etherTypeQinQ = 0x88a8
	etherType9100 = 0x9100

	protoTCP = 6
	protoUDP = 17
)

// apply rewrites frame b in place and reports whether it rewrote an IPv4
// destination. Frames too short for a header are left as they are.
func (rw *Rewrite) apply(b []byte) bool {
	if len(b) < 14 {
		return false
	}
	if rw.DstMAC != nil {
		copy(b[0:6], rw.DstMAC)
	}
	if rw.SrcMAC != nil {
		copy(b[6:12], rw.SrcMAC)
	}
	if !rw.DstIP.IsValid() {
		return false
	}
	off := 12 // the EtherType
	for tags := 0; tags < 2 && isVLAN(binary.BigEndian.Uint16(b[off:])); tags++ {
		if len(b) < off+6 {
			return false
		}
		off += 4
	}
	if binary.BigEndian.Uint16(b[off:]) != etherTypeIPv4 {
		return false
	}
	ip := b[off+2:]
	if len(ip) < 20 || ip[0]>>4 != 4 {
		return false
	}
	ihl := int(ip[0]&0x0f) * 4
	if ihl < 20 || len(ip) < ihl {
		return false
	}
	old := [4]byte(ip[16:20])
	dst := rw.DstIP.Unmap().As4()
	if old == dst {
		return true
	}
	copy(ip[16:20], dst[:])
	putCsum(ip[10:], updateCsum32(csum(ip[10:]), old, dst))
	if binary.BigEndian.Uint16(ip[6:])&0x1fff != 0 {
		return true // a later fragment: no transport header
	}
	l4 := ip[ihl:]
	switch ip[9] {
	case protoUDP:
		if len(l4) >= 8 {
			if c := csum(l4[6:]); c != 0 {
				c = updateCsum32(c, old, dst)
				if c == 0 {
					c = 0xffff // RFC 768: zero means no checksum
				}
				putCsum(l4[6:], c)
			}
		}
	case protoTCP:
		if len(l4) >= 18 {
			putCsum(l4[16:], updateCsum32(csum(l4[16:]), old, dst))
		}
	}
	return true
}

func isVLAN(etherType uint16) bool {
	return etherType == etherTypeVLAN || etherType == etherTypeQinQ || etherType == etherType9100
}

func csum(b []byte) uint16       { return binary.BigEndian.Uint16(b) }
func putCsum(b []byte, c uint16) { binary.BigEndian.PutUint16(b, c) }

// updateCsum32 updates the stored Internet checksum hc for a 32-bit field
// that changed from m to m2, two 16-bit steps of RFC 1624 through the
// project's one checksum implementation (package header).
func updateCsum32(hc uint16, m, m2 [4]byte) uint16 {
	hc = header.ChecksumUpdate16(hc, binary.BigEndian.Uint16(m[0:2]), binary.BigEndian.Uint16(m2[0:2]))
	return header.ChecksumUpdate16(hc, binary.BigEndian.Uint16(m[2:4]), binary.BigEndian.Uint16(m2[2:4]))
}
