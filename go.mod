module github.com/rxpath/rxpath

go 1.26.8

require (
	github.com/cilium/ebpf v0.22.0
	github.com/google/btree v1.1.3
	github.com/google/go-cmp v0.7.0
	github.com/gopacket/gopacket v1.7.7
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.49.0
)
