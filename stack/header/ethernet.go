package header

import "encoding/binary"

// EthernetSize is the size of an Ethernet II header without a VLAN tag.
const EthernetSize = 14

// EtherType values this stack knows about.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeIPv6 = 0x86dd
	EtherTypeVLAN = 0x8100
)

// Ethernet is a view of an Ethernet II header followed by its payload.
//
// Accessors assume IsValid returned true and panic otherwise. The view does
// not copy: it aliases the frame it was made from.
type Ethernet []byte

// IsValid reports whether e holds a full Ethernet header.
func (e Ethernet) IsValid() bool { return len(e) >= EthernetSize }

// Dst returns the destination MAC address.
func (e Ethernet) Dst() MAC { return MAC(e[0:6]) }

// Src returns the source MAC address.
func (e Ethernet) Src() MAC { return MAC(e[6:12]) }

// Type returns the EtherType field. Values below 0x0600 are 802.3 lengths;
// the caller decides what to do with them.
func (e Ethernet) Type() uint16 { return binary.BigEndian.Uint16(e[12:14]) }

// Payload returns the bytes after the header, including any trailer padding
// the link added to reach the minimum frame size.
func (e Ethernet) Payload() []byte { return e[EthernetSize:] }

// EncodeEthernet writes a 14-byte Ethernet header to b, which must be at
// least EthernetSize long.
func EncodeEthernet(b []byte, dst, src MAC, typ uint16) {
	_ = b[EthernetSize-1]
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:14], typ)
}
