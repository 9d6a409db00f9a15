package main

import (
	"errors"
	"io"
	"os"

	"github.com/rxpath/rxpath/bench/report"
)

// markdownCmd prints the run in the JSON file args[0] as Markdown tables.
func markdownCmd(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("want one argument, the JSON file of a run (rxbench --json)")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := report.ReadJSON(f)
	if err != nil {
		return err
	}
	return report.WriteMarkdown(stdout, r)
}
