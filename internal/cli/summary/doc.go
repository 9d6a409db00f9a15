// Package summary holds the types of the JSON summary `rxpath run --json`
// prints when it exits: the node's receive counters and, with --ip, each
// stack layer's and each sink's.
//
// cmd/rxpath fills them and exports them as metrics (package metrics reads
// their JSON tags), `rxpath stats` rebuilds them from those metrics, and
// the demo and the soak test decode them from a child's stdout. The JSON
// tags are the schema: TestSummarySchema, TestMetricsMatchSummary and
// TestStatsRebuildsRunOutput in cmd/rxpath pin it.
//
// The types are plain values, safe for concurrent reads.
package summary
