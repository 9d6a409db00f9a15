package rxring

import (
	"encoding/binary"
	"testing"
)

// FuzzRing drives a fill ring and its kernel view with a random sequence of
// operations and checks them against a plain slice queue.
//
// Each op byte: the low 3 bits pick the operation, the high 5 bits its
// count.
func FuzzRing(f *testing.F) {
	f.Add(uint32(0), []byte{0x08, 0x41, 0x22, 0x13, 0xF4, 0x05, 0xFE})
	f.Add(uint32(0xFFFFFFF8), []byte{0xF8, 0xF8, 0x11, 0x0A, 0xF9, 0x3B, 0x0C, 0x0D, 0xFF})
	f.Add(uint32(0xFFFFFFFF), []byte{0x40, 0x40, 0x40, 0x41, 0x41, 0x41})
	f.Fuzz(func(t *testing.T, start uint32, ops []byte) {
		const size = 16
		mem, off := ringMem(size, AddrSize, start)
		user := must(NewFillRing(mem, off, size))
		kern := must(NewKernelFill(mem, off, size))
		var (
			queue    []uint64 // submitted, not yet consumed
			reserved uint32   // reserved, not yet submitted
			next     uint64   // next value to write
			buf      = make([]uint64, 32)
		)
		for _, op := range ops {
			n := uint32(op >> 3)
			switch op & 7 {
			case 0, 1: // Reserve and Set
				idx, got := user.Reserve(n)
				free := size - uint32(len(queue)) - reserved
				if got != min(n, free) {
					t.Fatalf("Reserve(%d) got %d with %d free", n, got, free)
				}
				if want := start + uint32(next); got > 0 && idx != want {
					t.Fatalf("Reserve(%d) idx = %#x, want %#x", n, idx, want)
				}
				for i := range got {
					user.Set(idx+i, next+uint64(i))
				}
				next += uint64(got)
				reserved += got
			case 2: // Submit part of the reservation
				n = min(n, reserved)
				user.Submit(n)
				first := next - uint64(reserved)
				for i := range uint64(n) {
					queue = append(queue, first+i)
				}
				reserved -= n
			case 3, 4: // kernel consumes
				got := kern.Consume(buf[:n])
				if want := min(int(n), len(queue)); got != want {
					t.Fatalf("kernel Consume(%d) = %d, want %d", n, got, want)
				}
				for i, v := range buf[:got] {
					if v != queue[i] {
						t.Fatalf("kernel got %d, want %d", v, queue[i])
					}
				}
				queue = queue[got:]
			case 5: // Produce, only when nothing is reserved
				if reserved != 0 {
					continue
				}
				in := buf[:n]
				for i := range in {
					in[i] = next + uint64(i)
				}
				got := user.Produce(in)
				if want := min(int(n), size-len(queue)); got != want {
					t.Fatalf("Produce(%d) = %d, want %d", n, got, want)
				}
				queue = append(queue, in[:got]...)
				next += uint64(got)
			default: // state
				if got, want := user.Pending(), uint32(len(queue)); got != want {
					t.Fatalf("Pending() = %d, want %d", got, want)
				}
				if got, want := user.Free(), size-uint32(len(queue))-reserved; got != want {
					t.Fatalf("Free() = %d, want %d", got, want)
				}
				prod := binary.NativeEndian.Uint32(mem[off.Producer:])
				cons := binary.NativeEndian.Uint32(mem[off.Consumer:])
				if prod-cons != uint32(len(queue)) {
					t.Fatalf("shared producer %#x - consumer %#x != %d queued", prod, cons, len(queue))
				}
			}
		}
	})
}
