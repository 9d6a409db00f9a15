package rxring

import "unsafe"

// Every use of unsafe in this package is in this file. The constructors
// check bounds and alignment (newRing) before any of these views is made.

// Desc must match struct xdp_desc byte for byte.
var (
	_ [unsafe.Sizeof(Desc{}) - DescSize]byte
	_ [DescSize - unsafe.Sizeof(Desc{})]byte
	_ [unsafe.Offsetof(Desc{}.Len) - 8]byte
	_ [unsafe.Offsetof(Desc{}.Options) - 12]byte
)

// sizeAlign returns the size and alignment of T.
func sizeAlign[T any]() (size, align uint64) {
	var t T
	return uint64(unsafe.Sizeof(t)), uint64(unsafe.Alignof(t))
}

// isAligned reports whether &mem[off] is aligned to align (a power of two).
// off must index mem.
func isAligned(mem []byte, off, align uint64) bool {
	return uintptr(unsafe.Pointer(&mem[off]))&uintptr(align-1) == 0
}

// wordAt returns a pointer to the uint32 at mem[off:off+4], which must be
// in range and 4-byte aligned.
func wordAt(mem []byte, off uint64) *uint32 {
	return (*uint32)(unsafe.Pointer(&mem[off]))
}

// sliceAt returns n values of T laid over mem starting at off, which must
// be in range and aligned for T. T must hold no pointers.
func sliceAt[T any](mem []byte, off uint64, n uint32) []T {
	return unsafe.Slice((*T)(unsafe.Pointer(&mem[off])), n)
}

// alignedBytes returns n zeroed bytes whose first byte is aligned to align
// (a power of two).
func alignedBytes(n, align int) []byte {
	b := make([]byte, n+align-1)
	skip := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & uintptr(align-1))
	return b[skip : skip+n : skip+n]
}
