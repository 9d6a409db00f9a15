//go:build !race

package sockq

const raceEnabled = false
