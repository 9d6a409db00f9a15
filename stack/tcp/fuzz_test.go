package tcp_test

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/rxpath/rxpath/stack/tcp"
)

// FuzzSegments drives an established connection (and its listener) with
// arbitrary segments relative to the live sequence numbers, plus clock
// steps. Each 8-byte record is: flags, seq offset (int16), ack offset
// (int16), payload length, window, options selector. The stack must never
// panic, must keep its connection count bounded, and must end with no
// connection and no TIME_WAIT state once the listener closes and time
// passes.
func FuzzSegments(f *testing.F) {
	f.Add([]byte{0x10, 0, 0, 0, 0, 10, 255, 0})                                // in-order data
	f.Add([]byte{0x10, 0, 100, 0, 0, 10, 255, 1, 0x11, 0, 0, 0, 0, 0, 255, 0}) // hole then FIN
	f.Add([]byte{0x04, 0, 5, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0})        // RST in window, SYN
	f.Add([]byte{0x10, 0, 0, 0x7f, 0xff, 1, 0, 2})                             // ACK far ahead
	f.Fuzz(fuzzSegments)
}

func fuzzSegments(t *testing.T, in []byte) {
	wd := time.AfterFunc(5*time.Second, func() {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		panic("fuzz input hung:\n" + string(buf[:n]))
	})
	defer wd.Stop()
	{
		h := newHarness(t, tcp.Options{RcvBuf: 16 << 10, TimeWait: time.Second})
		l, err := h.tcp.Listen(netipAP(80), tcp.ListenOptions{Handler: func(*tcp.Conn) func([]byte) { return func([]byte) {} }})
		if err != nil {
			t.Fatal(err)
		}
		// Handshake by hand (no Accept needed in handler mode).
		h.send(seg{sport: 4000, dport: 80, seq: 999, flags: "S", opts: []layers.TCPOption{opt(layers.TCPOptionKindSACKPermitted), tsOpt(1, 0)}})
		segs := h.out()
		if len(segs) != 1 {
			t.Fatalf("handshake: %v", describe(segs))
		}
		sndNxt, rcvNxt := uint32(1000), segs[0].Seq+1
		h.send(seg{sport: 4000, dport: 80, seq: sndNxt, ack: rcvNxt, flags: "A", opts: []layers.TCPOption{tsOpt(2, 0)}})
		payload := make([]byte, 256*6)
		ts := uint32(3)
		for len(in) >= 8 {
			r := in[:8]
			in = in[8:]
			var flags string
			for bit, c := range "FSRPA" {
				if r[0]&(1<<bit) != 0 {
					flags += string(c)
				}
			}
			if r[0]&0x80 != 0 {
				h.advance(time.Duration(r[7]) * 10 * time.Millisecond)
				continue
			}
			seq := sndNxt + uint32(int16(binary.BigEndian.Uint16(r[1:3])))
			ack := rcvNxt + uint32(int16(binary.BigEndian.Uint16(r[3:5])))
			n := int(r[5]) * 6
			var opts []layers.TCPOption
			switch r[7] % 4 {
			case 1:
				ts++
				opts = []layers.TCPOption{tsOpt(ts, 0)}
			case 2:
				opts = []layers.TCPOption{tsOpt(ts-5, 0)} // stale: PAWS
			case 3:
				opts = []layers.TCPOption{opt(layers.TCPOptionKindMSS, 1, 0)}
			}
			h.send(seg{sport: 4000, dport: 80, seq: seq, ack: ack, flags: flags, data: payload[:n], win: uint16(r[6]) << 8, opts: opts})
			if seq == sndNxt && r[0]&0x10 != 0 {
				sndNxt += uint32(n)
			}
			for _, s := range h.out() { // follow what we sent
				if s.Seq+uint32(len(s.Payload)) != rcvNxt && int32(s.Seq+uint32(len(s.Payload))-rcvNxt) > 0 {
					rcvNxt = s.Seq + uint32(len(s.Payload))
				}
			}
			if c := h.tcp.Conns(); c > 2 {
				t.Fatalf("%d connections from one peer port", c)
			}
		}
		l.Close()
		for i := 0; i < 300; i++ { // time passes in steps, as it does
			h.advance(time.Second)
		}
		if c := h.tcp.Conns(); c != 0 {
			t.Fatalf("%d connections left after the listener closed", c)
		}
		if tw := h.tcp.TimeWaits(); tw != 0 {
			t.Fatalf("%d TIME_WAIT entries left", tw)
		}
	}
}
