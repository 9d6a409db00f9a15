// Package metrics exports a counters snapshot, the struct a program
// already prints as its JSON summary, as Prometheus metrics, and reads
// such metrics back into the struct.
//
// The struct is the single source of truth. NewSchema walks its type once
// with reflection and derives one metric per numeric field, named after
// the JSON field names on the way down:
//
//	<namespace>_<section>_..._<field>[_total]
//
// so `rx_frames` at the top of rxpath's summary is rxpath_rx_frames_total
// and `queues[].driver.kernel.rx_ring_full` is
// rxpath_queue_driver_kernel_rx_ring_full_total{queue="0"}. A field's JSON
// name comes from its json tag, or is the snake_case of its Go name when
// it has none; an embedded struct without a tag is flattened, as
// encoding/json does. Options.Names renames a path's part of the name.
//
// Types: unsigned integers are counters (the name gets _total); signed
// integers, floats and bools (0 or 1) are gauges, as are the unsigned
// fields listed in Options.Gauges (levels such as a buffer ledger's free
// count). Pointers to structs are followed when non-nil, so an optional
// section simply has no samples while it is absent. The string fields of
// a struct become the labels of one <prefix>_info gauge whose value is 1:
// rxpath_info{iface="eth0",driver="xdp",mode="native",...}.
//
// Slices of structs must be described in Options.Slices, keyed by JSON
// path: either each element's metrics carry labels taken from the
// element's own fields (a queue index, a port, a rule), or, to bound the
// label cardinality where elements are unbounded (one per connection),
// only the element count is exported. NewSchema refuses a slice it was not
// told about, and options naming a field that does not exist, so a new or
// renamed field cannot silently go missing or change type.
//
// Every metric has HELP text: Options.Help for the field, else the help of
// the nearest described section, followed by the JSON path it mirrors.
//
// Schema.Collector returns a prometheus.Collector that calls a snapshot
// function at every scrape and converts what it returns, so the metrics
// and the JSON summary are the same numbers by construction. Schema.Decode
// inverts the mapping: it rebuilds the struct from parsed metric families
// (see Parse), which lets a client reuse the formatting written for the
// struct. Values travel as float64, so counters are exact up to 2^53.
//
// In rxpath, `rxpath run --metrics` serves the run's Summary through a
// Collector, and `rxpath stats` decodes it again to print run's own stats
// lines; both live in cmd/rxpath (metrics.go, stats.go).
//
// Concurrency: a Schema is immutable and safe for concurrent use, and so
// is its Collector provided the snapshot function is: Collect calls it
// once per scrape, and scrapes may run concurrently.
package metrics
