//go:build race

package sockq

// raceEnabled: the race detector's bookkeeping in the syscall wrappers
// allocates, so allocation counts mean nothing there.
const raceEnabled = true
