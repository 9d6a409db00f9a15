package main

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"net/netip"
	"sort"
	"sync"

	"github.com/rxpath/rxpath/internal/cli/summary"
	"github.com/rxpath/rxpath/stack/tcp"
)

// sinkRecords bounds the finished connections a tcpSink remembers: the
// most recent ones are kept, older ones only in the totals. A record is
// about 100 bytes, so a sink taking connections for months stays near
// 1.6 MiB (a 30-minute soak opens about 3000).
const sinkRecords = 1 << 14

// tcpSink accepts connections on a port, drains them in handler mode and
// records each stream's length and SHA-256.
type tcpSink struct {
	port uint16
	l    *tcp.Listener
	wg   sync.WaitGroup

	mu       sync.Mutex
	open     map[*tcp.Conn]*sinkConn // handler installed, not yet ended
	done     []sinkRecord            // ring of the last sinkRecords ended
	next     int                     // where done's next record goes once full
	accepted uint64
	complete uint64
	evicted  uint64
	bytes    uint64 // of ended connections; open ones add theirs in stats
}

// sinkConn is a connection being drained. The poller writes it; stats and
// the end of the connection read it.
type sinkConn struct {
	remote netip.AddrPort
	mu     sync.Mutex
	h      hash.Hash // nil once the connection ended
	bytes  uint64
}

// sinkRecord is an ended connection: the hash state is gone, only its
// sum is kept.
type sinkRecord struct {
	remote   netip.AddrPort
	bytes    uint64
	sum      [sha256.Size]byte
	complete bool
}

func (s *tcpSink) options() tcp.ListenOptions {
	return tcp.ListenOptions{Backlog: 1024, SynQueue: 1024, Handler: func(c *tcp.Conn) func([]byte) {
		// The stack calls this only for a connection Accept returns (or
		// that closing the listener ends): serve ends every one.
		sc := &sinkConn{remote: c.RemoteAddrPort(), h: sha256.New()}
		s.mu.Lock()
		if s.open == nil {
			s.open = make(map[*tcp.Conn]*sinkConn)
		}
		s.open[c] = sc
		s.accepted++
		s.mu.Unlock()
		return func(b []byte) {
			sc.mu.Lock()
			if sc.h != nil {
				sc.h.Write(b)
				sc.bytes += uint64(len(b))
			}
			sc.mu.Unlock()
		}
	}}
}

// serve accepts connections and closes each once the peer is done.
func (s *tcpSink) serve() {
	for {
		c, err := s.l.AcceptTCP()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			<-c.Done()
			// Done closes on the peer's FIN (CLOSE-WAIT, which the sink
			// leaves only by closing below) or when the connection ended
			// otherwise: a reset, a timeout, the listener closing.
			s.end(c, c.State() == tcp.StateCloseWait)
			c.Close()
		}()
	}
}

// end turns c's open record into an ended one.
func (s *tcpSink) end(c *tcp.Conn, complete bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.open[c]
	if sc == nil {
		return
	}
	delete(s.open, c)
	sc.mu.Lock()
	rec := sinkRecord{remote: sc.remote, bytes: sc.bytes, complete: complete}
	sc.h.Sum(rec.sum[:0])
	sc.h = nil
	sc.mu.Unlock()
	s.bytes += rec.bytes
	if complete {
		s.complete++
	}
	if len(s.done) < sinkRecords {
		s.done = append(s.done, rec)
		return
	}
	s.done[s.next] = rec
	s.next = (s.next + 1) % sinkRecords
	s.evicted++
}

// stats summarises the sink; with records it lists the connections too
// (which costs a hash per open connection and a string per record, too
// much for every metrics scrape).
func (s *tcpSink) stats(records bool) summary.TCPSinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := summary.TCPSinkStats{Port: s.port, Accepted: s.accepted, Complete: s.complete, Open: uint64(len(s.open)),
		RecordsEvicted: s.evicted, Bytes: s.bytes}
	if records {
		st.Connections = make([]summary.TCPConnStats, 0, len(s.done)+len(s.open))
		for _, r := range s.done {
			st.Connections = append(st.Connections, summary.TCPConnStats{Remote: r.remote.String(), Bytes: r.bytes,
				SHA256: hex.EncodeToString(r.sum[:]), Done: r.complete})
		}
	}
	for _, sc := range s.open {
		sc.mu.Lock()
		st.Bytes += sc.bytes
		if records {
			// Sum appends the digest without disturbing the running hash.
			st.Connections = append(st.Connections, summary.TCPConnStats{Remote: sc.remote.String(), Bytes: sc.bytes,
				SHA256: hex.EncodeToString(sc.h.Sum(nil)), Open: true})
		}
		sc.mu.Unlock()
	}
	sort.SliceStable(st.Connections, func(i, j int) bool { return st.Connections[i].Remote < st.Connections[j].Remote })
	return st
}

// tcpEcho echoes every connection, one goroutine per connection in the
// application (the stack itself starts none).
func tcpEcho(l *tcp.Listener) {
	for {
		c, err := l.AcceptTCP()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
			c.CloseWrite()
		}()
	}
}

// httpHello serves a tiny page with net/http on an rxpath listener: the
// HTTP example written on Conn.
func httpHello(l *tcp.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello from rxpath: this response came through a user-space TCP stack\n")
	})
	(&http.Server{Handler: mux}).Serve(l)
}
