// Package report is the pure half of rxbench: the figures a benchmark run
// collects, their spread over repetitions (min, median, max), the ratios
// that answer "how close to a minimal AF_XDP receiver (and to the XDP-drop
// ceiling), how much faster than kernel sockets", the goals by id with
// pass, miss, info or not-run, the text table, the JSON document and the
// chart.
//
// Package scenario fills a Run with raw Reps; Finalize summarizes every
// row, computes the ratios and evaluates the goals; WriteTable, WriteJSON
// and WritePlot render it. Nothing here touches the system, so all of it
// is tested without privilege.
//
// A Run is not safe for concurrent use: one goroutine fills it, then
// renders it.
package report
