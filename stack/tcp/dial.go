package tcp

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/rxpath/rxpath/stack/header"
	"github.com/rxpath/rxpath/stack/tcp/internal/seqnum"
)

// Dial opens a connection to raddr (active open), blocking until it is
// established, refused, times out, or ctx ends.
func (t *TCP) Dial(ctx context.Context, raddr netip.AddrPort) (*Conn, error) {
	if !raddr.Addr().Is4() {
		return nil, fmt.Errorf("tcp dial %v: not IPv4", raddr)
	}
	r4 := raddr.Addr().As4()
	l4 := t.s.SourceFor(r4)
	var c *Conn
	t.mu.Lock()
	for tries := 0; tries < 28232; tries++ {
		p := t.nextPort
		t.nextPort++
		if t.nextPort < 32768 || t.nextPort > 60999 {
			t.nextPort = 32768
		}
		k := key{laddr: l4, raddr: r4, lport: p, rport: raddr.Port()}
		if _, used := t.conns[k]; used || t.listeners[p] != nil {
			continue
		}
		c = newConn(t, k, -1)
		t.conns[k] = c
		t.connsPeak = max(t.connsPeak, len(t.conns))
		t.st.currEstab.Add(1)
		break
	}
	t.mu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("tcp dial %v: no free local port: %w", raddr, ErrAddrInUse)
	}
	c.mu.Lock()
	c.state = StateSynSent
	c.iss = seqnum.Value(t.cookies.ISN(tuple(c.k)))
	c.tsOffset = t.cookies.TSOffset(tuple(c.k))
	c.sndUna, c.sndNxt = c.iss, c.iss.Add(1)
	c.sndHigh = c.sndNxt
	c.rcvWScale = rcvWScaleFor(t.opts.RcvBuf)
	c.sendSYN()
	c.armRTO()
	t.st.activeOpens.Add(1)
	for c.state == StateSynSent || c.state == StateSynReceived {
		ch := c.waitChan(false)
		c.wwaits++
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			c.mu.Lock()
			c.wwaits--
			if c.state == StateSynReceived {
				// RFC 9293 §3.10.4, CLOSE in SYN-RECEIVED (a
				// simultaneous open): send a FIN and enter FIN-WAIT-1;
				// the connection finishes its close in the background.
				c.mu.Unlock()
				c.Close()
			} else {
				// CLOSE in SYN-SENT: delete the TCB. A late SYN-ACK
				// finds no connection and gets a RST then.
				c.terminate(ctx.Err())
				c.mu.Unlock()
			}
			return nil, fmt.Errorf("tcp dial %v: %w", raddr, ctx.Err())
		}
		c.mu.Lock()
		c.woken(false)
		c.wwaits--
	}
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("tcp dial %v: %w", raddr, err)
	}
	return c, nil
}

// sendSYN sends the SYN of an active open with every option we support.
func (c *Conn) sendSYN() {
	o := header.TCPOptions{MSS: uint16(c.t.ourMSS()), HasMSS: true, HasWS: true, WS: c.rcvWScale, SACKPermitted: true,
		HasTS: true, TSVal: c.tsNow()}
	var ob [40]byte
	n := header.EncodeTCPOptions(ob[:], o)
	c.sendWithOptions(header.TCPFlagSYN, c.iss, ob[:n], nil, 0, 0)
}
