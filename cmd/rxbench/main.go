// Command rxbench compares rxpath's receive paths with kernel sockets, side
// by side in one run. The scenarios arrive with the benchmark issue; for
// now it only has the traffic generator used to measure `rxpath run`.
package main

import (
	"fmt"
	"os"
)

func main() {
	os.Exit(rxbench(os.Args[1:]))
}

func rxbench(args []string) int {
	if len(args) > 0 && args[0] == "gen" {
		if err := genCmd(args[1:]); err != nil {
			fmt.Fprintf(os.Stderr, "rxbench gen: %v\n", err)
			return 1
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "rxbench: the benchmark scenarios are not built yet; 'rxbench gen' generates traffic")
	return 2
}
