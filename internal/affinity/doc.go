// Package affinity pins OS threads to CPUs.
package affinity
