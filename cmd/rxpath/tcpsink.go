package main

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"sort"
	"sync"

	"github.com/rxpath/rxpath/stack/tcp"
)

// tcpSink accepts connections on a port, drains them in handler mode and
// records each stream's length and SHA-256.
type tcpSink struct {
	port     uint16
	l        *tcp.Listener
	mu       sync.Mutex
	conns    []*sinkConn
	byRemote map[string]*sinkConn
	wg       sync.WaitGroup
}

type sinkConn struct {
	remote string
	mu     sync.Mutex // the poller writes, the summary reads
	h      hash.Hash
	bytes  uint64
	done   bool
}

// TCPConnStats is one drained connection in the summary.
type TCPConnStats struct {
	Remote string `json:"remote"`
	Bytes  uint64 `json:"bytes"`
	SHA256 string `json:"sha256"`
	Done   bool   `json:"complete"` // the peer finished with a FIN
}

// TCPSinkStats is the summary of one --tcp-sink port.
type TCPSinkStats struct {
	Port        uint16         `json:"port"`
	Connections []TCPConnStats `json:"connections"`
	Bytes       uint64         `json:"bytes"`
}

func (s *tcpSink) options() tcp.ListenOptions {
	return tcp.ListenOptions{Backlog: 1024, SynQueue: 1024, Handler: func(c *tcp.Conn) func([]byte) {
		sc := &sinkConn{remote: c.RemoteAddrPort().String(), h: sha256.New()}
		s.mu.Lock()
		s.conns = append(s.conns, sc)
		if s.byRemote == nil {
			s.byRemote = make(map[string]*sinkConn)
		}
		s.byRemote[sc.remote] = sc
		s.mu.Unlock()
		return func(b []byte) {
			sc.mu.Lock()
			sc.h.Write(b)
			sc.bytes += uint64(len(b))
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
			s.mu.Lock()
			sc := s.byRemote[c.RemoteAddrPort().String()]
			s.mu.Unlock()
			if sc != nil {
				sc.mu.Lock()
				sc.done = true
				sc.mu.Unlock()
			}
			c.Close()
		}()
	}
}

func (s *tcpSink) stats() TCPSinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := TCPSinkStats{Port: s.port}
	for _, c := range s.conns {
		c.mu.Lock()
		st.Connections = append(st.Connections, TCPConnStats{Remote: c.remote, Bytes: c.bytes,
			SHA256: hex.EncodeToString(c.h.Sum(nil)), Done: c.done})
		st.Bytes += c.bytes
		c.mu.Unlock()
	}
	sort.Slice(st.Connections, func(i, j int) bool { return st.Connections[i].Remote < st.Connections[j].Remote })
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
