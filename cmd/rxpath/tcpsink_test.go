package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/rxpath/rxpath/internal/cli/summary"
	"github.com/rxpath/rxpath/stack/tcp"
)

// TestTCPSinkRecords: an ended connection keeps only its sum, the newest
// sinkRecords are listed and the older ones counted, the totals still
// cover every connection, and listing an open connection's running hash
// does not disturb it. The real sink on the lab is in tcp_test.go; this
// drives the bookkeeping directly, with connections that are only keys.
func TestTCPSinkRecords(t *testing.T) {
	s := &tcpSink{port: 5001}
	handler := s.options().Handler
	const n = sinkRecords + 10
	var wantBytes uint64
	for i := range n {
		c := new(tcp.Conn)
		recv := handler(c)
		data := []byte(fmt.Sprint(i))
		recv(data)
		wantBytes += uint64(len(data))
		s.end(c, i%2 == 0)
	}
	open := new(tcp.Conn)
	recv := handler(open)
	recv([]byte("hello, "))
	mid := s.stats(true)
	recv([]byte("world"))
	wantBytes += uint64(len("hello, world"))

	st := s.stats(true)
	if st.Accepted != n+1 || st.Complete != (n+1)/2 || st.Open != 1 || st.RecordsEvicted != 10 || st.Bytes != wantBytes {
		t.Fatalf("accepted %d complete %d open %d evicted %d bytes %d; want %d %d 1 10 %d",
			st.Accepted, st.Complete, st.Open, st.RecordsEvicted, st.Bytes, n+1, (n+1)/2, wantBytes)
	}
	if len(st.Connections) != sinkRecords+1 {
		t.Fatalf("%d connections listed, want the newest %d ended and the open one", len(st.Connections), sinkRecords)
	}
	// The ten oldest are gone: no record of connection 0..9 remains.
	sums := map[string]bool{}
	for _, c := range st.Connections {
		sums[c.SHA256] = true
	}
	for i := range n {
		h := sha256.Sum256([]byte(fmt.Sprint(i)))
		if listed := sums[hex.EncodeToString(h[:])]; listed != (i >= 10) {
			t.Errorf("connection %d listed %v", i, listed)
		}
	}
	// The open one's digest covers the bytes so far, at each listing.
	for _, tc := range []struct {
		st   summary.TCPSinkStats
		data string
	}{{mid, "hello, "}, {st, "hello, world"}} {
		var rec []summary.TCPConnStats
		for _, c := range tc.st.Connections {
			if c.Open {
				rec = append(rec, c)
			}
		}
		h := sha256.Sum256([]byte(tc.data))
		if len(rec) != 1 || rec[0].SHA256 != hex.EncodeToString(h[:]) || rec[0].Bytes != uint64(len(tc.data)) || rec[0].Done {
			t.Errorf("open connections %+v, want one with the sha256 of %q", rec, tc.data)
		}
	}
	// Without records (what every metrics scrape takes) only the counts.
	if brief := s.stats(false); brief.Connections != nil || brief.Accepted != st.Accepted || brief.Bytes != st.Bytes {
		t.Errorf("brief stats %+v", brief)
	}
	// The end of the open connection finalises it; a second end is a no-op.
	s.end(open, true)
	s.end(open, true)
	if st := s.stats(false); st.Open != 0 || st.Complete != (n+1)/2+1 || st.RecordsEvicted != 11 || st.Bytes != wantBytes {
		t.Errorf("after the end: %+v", st)
	}
	recv([]byte("late")) // the stack no longer calls it; if it did, ignored
	if st := s.stats(false); st.Bytes != wantBytes {
		t.Errorf("bytes after the end moved to %d", st.Bytes)
	}
}
