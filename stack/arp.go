package stack

import (
	"container/list"
	"sync"
	"time"

	"github.com/rxpath/rxpath/stack/header"
)

// Neighbour resolution limits, as Linux's defaults.
const (
	arpPendingMax = 3           // packets queued per unresolved neighbour (arp_queue)
	arpRetry      = time.Second // retransmit an unanswered request after this
	arpMaxTries   = 3           // then give up and drop what waits
	arpFrameSize  = header.EthernetSize + header.ARPSize
)

type neighState uint8

const (
	incomplete neighState = iota
	reachable
)

type neighEntry struct {
	ip      [4]byte
	mac     header.MAC
	state   neighState
	updated time.Time // learned, or last request sent
	used    time.Time // last resolve for a frame of ours; zero if none yet
	tries   int
	pending []pendingFrame
	elem    *list.Element // in neighbors.idle or .busy, most recent at the front
}

type pendingFrame struct {
	queue int
	frame []byte
}

// neighbors is the ARP cache, bounded. Entries we send through (busy)
// outrank entries only learned from someone's request (idle): a new
// entry evicts the least recently used idle one, and only our own sends
// may evict a busy one, unless it has gone unused for the timeout. A
// request from a new sender when nothing can go is answered but not
// learned. So a flood of requests from made-up senders churns through
// idle entries and never pushes out a neighbour we are talking to; Linux
// gets the same from its garbage collector, which spares entries in use.
type neighbors struct {
	s       *Stack
	max     int
	timeout time.Duration

	mu     sync.Mutex
	m      map[[4]byte]*neighEntry
	idle   list.List              // learned from requests, never sent through
	busy   list.List              // sent through; ordered by last use
	static map[[4]byte]header.MAC // permanent entries, never evicted
}

func newNeighbors(s *Stack, max int, timeout time.Duration) *neighbors {
	return &neighbors{s: s, max: max, timeout: timeout, m: make(map[[4]byte]*neighEntry), static: make(map[[4]byte]header.MAC)}
}

func (n *neighbors) len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.m)
}

// entryLocked returns ip's entry, or nil if there is none and create is
// not set. A new entry is for a send of ours (send) or learned from a
// request; when the cache is full it evicts one (see neighbors), and a
// learned one is refused (nil) if none may go.
func (n *neighbors) entryLocked(ip [4]byte, create, send bool, now time.Time) *neighEntry {
	if e := n.m[ip]; e != nil {
		if send {
			n.touchLocked(e, now)
		}
		return e
	}
	if !create {
		return nil
	}
	if len(n.m) >= n.max {
		var old *neighEntry
		if b := n.idle.Back(); b != nil {
			old = b.Value.(*neighEntry)
		} else if b := n.busy.Back(); b != nil {
			if e := b.Value.(*neighEntry); send || now.Sub(e.used) >= n.timeout {
				old = e
			}
		}
		if old == nil {
			n.s.st.arpCacheRefused.Add(1)
			return nil
		}
		n.removeLocked(old)
		n.s.st.arpCacheFull.Add(1)
		n.s.st.txPendingDrop.Add(uint64(len(old.pending)))
	}
	e := &neighEntry{ip: ip}
	n.m[ip] = e
	if send {
		e.used = now
		e.elem = n.busy.PushFront(e)
	} else {
		e.elem = n.idle.PushFront(e)
	}
	return e
}

// touchLocked records a send through e, making it busy.
func (n *neighbors) touchLocked(e *neighEntry, now time.Time) {
	if e.used.IsZero() {
		n.idle.Remove(e.elem)
		e.elem = n.busy.PushFront(e)
	} else {
		n.busy.MoveToFront(e.elem)
	}
	e.used = now
}

func (n *neighbors) removeLocked(e *neighEntry) {
	if e.used.IsZero() {
		n.idle.Remove(e.elem)
	} else {
		n.busy.Remove(e.elem)
	}
	delete(n.m, e.ip)
}

// resolve returns dst's MAC. When it is not known it queues a copy of the
// frame, asks (at most once a second, three times), and returns ok=false
// with a nil error, or ErrNeighborPending when the queue is full.
func (n *neighbors) resolve(queue int, dst [4]byte, frame []byte) (mac header.MAC, ok bool, err error) {
	now := n.s.clock()
	n.mu.Lock()
	if m, ok := n.static[dst]; ok {
		n.mu.Unlock()
		return m, true, nil
	}
	e := n.entryLocked(dst, true, true, now)
	if e.state == reachable {
		age := now.Sub(e.updated)
		if age < n.timeout {
			mac = e.mac
			n.mu.Unlock()
			return mac, true, nil
		}
		// Expired (Linux's STALE, then PROBE): keep sending to the
		// address we know while we ask again, a request a second,
		// arpMaxTries of them; a reply makes it fresh (learn). Only
		// when they all go unanswered does the entry wait for a reply
		// like a new one. Stopping at expiry instead would drop what
		// we send for a round trip every ARPTimeout, and for seconds
		// while a flood crowds the replies out of the rx ring.
		if over := age - n.timeout; over < arpMaxTries*arpRetry {
			ask := over >= time.Duration(e.tries)*arpRetry
			if ask {
				e.tries++
				n.s.st.arpProbes.Add(1)
			}
			mac = e.mac
			n.mu.Unlock()
			if ask {
				n.request(queue, dst)
			}
			return mac, true, nil
		}
		e.state, e.tries = incomplete, 0
	}
	ask := false
	if e.tries == 0 || now.Sub(e.updated) >= arpRetry {
		if e.tries >= arpMaxTries {
			// Unanswered: drop what waited and start over.
			n.s.st.txPendingDrop.Add(uint64(len(e.pending)))
			e.pending, e.tries = nil, 0
		}
		e.tries++
		e.updated = now
		ask = true
	}
	if len(e.pending) >= arpPendingMax {
		n.s.st.txPendingDrop.Add(1)
		err = ErrNeighborPending
	} else {
		e.pending = append(e.pending, pendingFrame{queue, append([]byte(nil), frame...)})
	}
	n.mu.Unlock()
	if ask {
		n.request(queue, dst)
	}
	return mac, false, err
}

// expire is the neighbour timer (neigh_timer_handler): each entry still
// being resolved is asked again once arpRetry has passed since its last
// request, and after arpMaxTries unanswered requests it is given up: the
// frames that waited are dropped and counted, and the entry goes. Without
// it only the next send to that address would retry or give up, and the
// waiting frames would be held until then.
func (n *neighbors) expire() {
	type ask struct {
		queue int
		ip    [4]byte
	}
	var asks []ask
	now := n.s.clock()
	n.mu.Lock()
	for _, e := range n.m {
		if e.state != incomplete || e.tries == 0 || now.Sub(e.updated) < arpRetry {
			continue
		}
		if e.tries >= arpMaxTries {
			n.s.st.txPendingDrop.Add(uint64(len(e.pending)))
			n.removeLocked(e)
			continue
		}
		e.tries++
		e.updated = now
		a := ask{queue: -1, ip: e.ip}
		if len(e.pending) > 0 {
			a.queue = e.pending[0].queue
		}
		asks = append(asks, a)
	}
	n.mu.Unlock()
	for _, a := range asks {
		n.request(a.queue, a.ip)
	}
}

// Expire runs the link layer's timers: it retries ARP requests a second
// apart and gives up on a neighbour after three unanswered ones, dropping
// (and counting in tx_pending_dropped) what waited for it. ipv4's Expire
// calls it; a stack used without ipv4 calls it about once a second.
func (s *Stack) Expire() { s.neigh.expire() }

// request broadcasts "who has dst".
func (n *neighbors) request(queue int, dst [4]byte) {
	n.sendARP(queue, header.ARPRequest, header.BroadcastMAC, header.MAC{}, n.s.SourceFor(dst), dst)
}

// gratuitous announces ip (a request with sender and target both ip).
func (n *neighbors) gratuitous(ip [4]byte) {
	n.sendARP(-1, header.ARPRequest, header.BroadcastMAC, header.MAC{}, ip, ip)
}

func (n *neighbors) sendARP(queue int, op uint16, ethDst, tha header.MAC, spa, tpa [4]byte) {
	var f [arpFrameSize]byte
	header.EncodeEthernet(f[:], ethDst, n.s.mac, header.EtherTypeARP)
	header.EncodeARP(f[header.EthernetSize:], op, n.s.mac, spa, tha, tpa)
	if n.s.transmit(queue, f[:]) == nil {
		n.s.st.arpSent.Add(1)
	}
}

// handleARP is the ARP receive path (arp_process): answer requests for our
// addresses, learn from requests addressed to us and from replies we asked
// for, ignore everything else.
func (n *neighbors) handleARP(p *Packet) {
	a := header.ARP(p.Data)
	if !a.IsValid() {
		n.s.st.arpMalformed.Add(1)
		return
	}
	sha, spa, tpa := a.SenderMAC(), a.SenderIP(), a.TargetIP()
	if sha.IsMulticast() || spa == [4]byte{} && a.Op() == header.ARPReply || n.s.IsLocal(spa) {
		// A multicast sender, a reply from nobody, or someone claiming
		// our address: never learn from it.
		n.s.st.arpMalformed.Add(1)
		return
	}
	switch a.Op() {
	case header.ARPRequest:
		if !n.s.IsLocal(tpa) {
			n.s.st.arpIgnored.Add(1)
			return
		}
		n.s.st.arpRequests.Add(1)
		if spa != [4]byte{} { // not an address probe (RFC 5227)
			n.learn(spa, sha, true)
		}
		n.sendARP(p.Queue, header.ARPReply, sha, sha, tpa, spa)
	case header.ARPReply:
		if !n.learn(spa, sha, false) {
			n.s.st.arpIgnored.Add(1)
			return
		}
		n.s.st.arpReplies.Add(1)
	}
}

// learn records ip at mac. Without create it only completes an entry we
// asked about (one being resolved, or an expired one being probed). It
// flushes the packets that waited and reports whether it learned.
func (n *neighbors) learn(ip [4]byte, mac header.MAC, create bool) bool {
	now := n.s.clock()
	n.mu.Lock()
	e := n.entryLocked(ip, create, false, now)
	if e == nil || !create && e.state != incomplete && e.tries == 0 {
		n.mu.Unlock()
		return false
	}
	e.mac, e.state, e.updated, e.tries = mac, reachable, now, 0
	pending := e.pending
	e.pending = nil
	n.mu.Unlock()
	for _, pf := range pending {
		header.EncodeEthernet(pf.frame, mac, n.s.mac, header.EtherTypeIPv4)
		n.s.transmit(pf.queue, pf.frame)
	}
	return true
}

// AddStaticNeighbor pins ip to mac, like `ip neigh add ... nud permanent`:
// the entry never expires, is never evicted and is not changed by ARP.
func (s *Stack) AddStaticNeighbor(ip [4]byte, mac header.MAC) {
	s.neigh.mu.Lock()
	defer s.neigh.mu.Unlock()
	s.neigh.static[ip] = mac
}
