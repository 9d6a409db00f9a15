//go:build race

package udp_test

// raceEnabled: the race detector's sync.Pool drops a quarter of what is
// put in it, so allocation counts mean nothing under it.
const raceEnabled = true
