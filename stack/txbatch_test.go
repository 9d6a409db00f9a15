package stack_test

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/header"
)

// recLink records what the stack transmits, and how: one call per
// WritePacket, one per WritePackets. With batch unset it is a plain
// LinkEndpoint.
type recLink struct {
	frames [][]byte
	calls  int
}

func (l *recLink) MAC() net.HardwareAddr { return ourMAC }
func (l *recLink) MTU() int              { return 1500 }
func (l *recLink) WritePacket(_ int, f []byte) bool {
	l.calls++
	l.frames = append(l.frames, append([]byte(nil), f...))
	return true
}

type batchLink struct{ recLink }

func (l *batchLink) WritePackets(_ int, fs [][]byte) int {
	l.calls++
	for _, f := range fs {
		l.frames = append(l.frames, append([]byte(nil), f...))
	}
	return len(fs)
}

// TestTxBatch: staged frames reach the link in order, in one call when
// it takes batches and one by one when it does not, only at Flush, and a
// full arena flushes by itself.
func TestTxBatch(t *testing.T) {
	peer := [4]byte{10, 99, 0, 1}
	frame := func(i, size int) []byte {
		b := make([]byte, header.EthernetSize+size)
		b[header.EthernetSize] = byte(i)
		return b
	}
	for _, tc := range []struct {
		name  string
		link  interface{ rec() *recLink }
		calls int
	}{
		{"batch", batchWrap{&batchLink{}}, 1},
		{"single", singleWrap{&recLink{}}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := stack.New(stack.Options{MAC: ourMAC, Addrs: []netip.Prefix{netip.MustParsePrefix("10.99.0.2/24")}})
			if err != nil {
				t.Fatal(err)
			}
			s.AddStaticNeighbor(peer, header.MAC{2, 0, 0, 0, 0, 1})
			if err := s.Attach(tc.link.(stack.LinkEndpoint)); err != nil {
				t.Fatal(err)
			}
			r := tc.link.rec()
			r.frames, r.calls = nil, 0 // the gratuitous ARP
			b := s.NewTxBatch(0)
			for i := 0; i < 5; i++ {
				if err := s.WriteIPv4Batch(b, peer, frame(i, 100)); err != nil {
					t.Fatal(err)
				}
			}
			if len(r.frames) != 0 || b.Len() != 5 {
				t.Fatalf("%d frames sent, %d staged before Flush; want 0 and 5", len(r.frames), b.Len())
			}
			b.Flush()
			if len(r.frames) != 5 || r.calls != tc.calls || b.Len() != 0 {
				t.Fatalf("Flush: %d frames in %d calls, %d left staged; want 5 in %d, 0", len(r.frames), r.calls, b.Len(), tc.calls)
			}
			for i, f := range r.frames {
				if f[header.EthernetSize] != byte(i) || !bytes.Equal(f[:6], []byte{2, 0, 0, 0, 0, 1}) {
					t.Fatalf("frame %d: %x, want payload marker %d behind the neighbour's MAC", i, f[:header.EthernetSize+1], i)
				}
			}
			// 16 KiB of 1000-byte frames: the arena fills and flushes
			// before the 17th is staged.
			r.frames = nil
			for i := 0; i < 17; i++ {
				s.WriteIPv4Batch(b, peer, frame(i, 1000))
			}
			if len(r.frames) != 16 || b.Len() != 1 {
				t.Fatalf("full arena: %d sent, %d staged; want 16 and 1", len(r.frames), b.Len())
			}
			b.Flush()
			if st := s.Stats(); st.TxFrames != 1+22 || st.TxRingFull != 0 { // the gratuitous ARP, then ours
				t.Fatalf("stats: %d frames sent, %d ring full; want 23, 0", st.TxFrames, st.TxRingFull)
			}
		})
	}
}

type batchWrap struct{ *batchLink }

func (w batchWrap) rec() *recLink { return &w.recLink }

type singleWrap struct{ *recLink }

func (w singleWrap) rec() *recLink { return w.recLink }
