package netdev

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Lookup returns the interface named name. Call it on a thread that is in
// the interface's network namespace.
func Lookup(name string) (Info, error) {
	links, err := List()
	if err != nil {
		return Info{}, err
	}
	for _, l := range links {
		if l.Name == name {
			return l, nil
		}
	}
	return Info{}, fmt.Errorf("interface %q: %w", name, ErrNoInterface)
}

// List returns every interface in the calling thread's network namespace.
func List() ([]Info, error) {
	rib, err := syscall.NetlinkRIB(unix.RTM_GETLINK, unix.AF_UNSPEC)
	if err != nil {
		return nil, os.NewSyscallError("netlink RTM_GETLINK", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return nil, fmt.Errorf("parse netlink: %w", err)
	}
	var out []Info
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		ifi := m.Data[:unix.SizeofIfInfomsg]
		info := Info{
			Index: int(int32(binary.NativeEndian.Uint32(ifi[4:8]))),
		}
		flags := binary.NativeEndian.Uint32(ifi[8:12])
		info.Up = flags&unix.IFF_UP != 0
		info.Running = flags&unix.IFF_RUNNING != 0
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return nil, fmt.Errorf("parse link attributes: %w", err)
		}
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFLA_IFNAME:
				info.Name = cstring(a.Value)
			case unix.IFLA_MTU:
				info.MTU = int(u32(a.Value))
			case unix.IFLA_ADDRESS:
				info.MAC = net.HardwareAddr(append([]byte(nil), a.Value...))
			case unix.IFLA_NUM_RX_QUEUES:
				info.NumRxQueues = int(u32(a.Value))
			case unix.IFLA_NUM_TX_QUEUES:
				info.NumTxQueues = int(u32(a.Value))
			case unix.IFLA_XDP | unix.NLA_F_NESTED, unix.IFLA_XDP:
				parseXDP(a.Value, &info)
			}
		}
		out = append(out, info)
	}
	return out, nil
}

func parseXDP(b []byte, info *Info) {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		t := binary.NativeEndian.Uint16(b[2:4]) &^ unix.NLA_F_NESTED
		if l < 4 || l > len(b) {
			return
		}
		v := b[4:l]
		switch t {
		case unix.IFLA_XDP_ATTACHED:
			if len(v) > 0 {
				info.XDPAttached = v[0]
			}
		case unix.IFLA_XDP_PROG_ID:
			info.XDPProgID = u32(v)
		}
		b = b[min((l+3)&^3, len(b)):]
	}
}

func u32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binary.NativeEndian.Uint32(b)
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
