//go:build !linux

package umem

// Off Linux the area is ordinary memory, so that the ledger and the
// packages above it can be built and unit-tested; Register reports
// ErrNotSupported.
func mapFrames(size int, _ bool) ([]byte, bool, error) {
	return make([]byte, size), false, nil
}

func unmapFrames([]byte) error { return nil }
