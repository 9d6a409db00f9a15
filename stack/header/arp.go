package header

import "encoding/binary"

// ARPSize is the size of an ARP packet for IPv4 over Ethernet.
const ARPSize = 28

// ARP operation codes.
const (
	ARPRequest = 1
	ARPReply   = 2
)

const (
	arpHardwareEthernet = 1
	arpHardwareLen      = 6
	arpProtocolLen      = 4
)

// ARP is a view of an ARP packet (RFC 826). Only IPv4 over Ethernet is
// understood.
//
// Accessors assume IsValid returned true and panic otherwise. The view does
// not copy.
type ARP []byte

// IsValid reports whether a is an IPv4-over-Ethernet ARP request or reply:
// at least 28 bytes, hardware type 1, protocol type 0x0800, hardware length 6,
// protocol length 4 and operation 1 or 2. It never panics.
func (a ARP) IsValid() bool {
	if len(a) < ARPSize {
		return false
	}
	op := a.Op()
	return a.HardwareType() == arpHardwareEthernet &&
		a.ProtocolType() == EtherTypeIPv4 &&
		a.HardwareLen() == arpHardwareLen &&
		a.ProtocolLen() == arpProtocolLen &&
		(op == ARPRequest || op == ARPReply)
}

// HardwareType returns the hardware address space (1 for Ethernet).
func (a ARP) HardwareType() uint16 { return binary.BigEndian.Uint16(a[0:2]) }

// ProtocolType returns the protocol address space (0x0800 for IPv4).
func (a ARP) ProtocolType() uint16 { return binary.BigEndian.Uint16(a[2:4]) }

// HardwareLen returns the length of a hardware address.
func (a ARP) HardwareLen() uint8 { return a[4] }

// ProtocolLen returns the length of a protocol address.
func (a ARP) ProtocolLen() uint8 { return a[5] }

// Op returns the operation code.
func (a ARP) Op() uint16 { return binary.BigEndian.Uint16(a[6:8]) }

// SenderMAC returns the sender hardware address.
func (a ARP) SenderMAC() MAC { return MAC(a[8:14]) }

// SenderIP returns the sender protocol address.
func (a ARP) SenderIP() [4]byte { return [4]byte(a[14:18]) }

// TargetMAC returns the target hardware address.
func (a ARP) TargetMAC() MAC { return MAC(a[18:24]) }

// TargetIP returns the target protocol address.
func (a ARP) TargetIP() [4]byte { return [4]byte(a[24:28]) }

// EncodeARP writes a 28-byte IPv4-over-Ethernet ARP packet to b, which must
// be at least ARPSize long.
func EncodeARP(b []byte, op uint16, sha MAC, spa [4]byte, tha MAC, tpa [4]byte) {
	_ = b[ARPSize-1]
	binary.BigEndian.PutUint16(b[0:2], arpHardwareEthernet)
	binary.BigEndian.PutUint16(b[2:4], EtherTypeIPv4)
	b[4] = arpHardwareLen
	b[5] = arpProtocolLen
	binary.BigEndian.PutUint16(b[6:8], op)
	copy(b[8:14], sha[:])
	copy(b[14:18], spa[:])
	copy(b[18:24], tha[:])
	copy(b[24:28], tpa[:])
}
