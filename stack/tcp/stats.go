package tcp

import "sync/atomic"

// Stats are the TCP layer's counters, named after Linux's /proc/net/snmp
// and /proc/net/netstat (TcpExt) where one exists.
type Stats struct {
	ActiveOpens  uint64 `json:"active_opens"`
	PassiveOpens uint64 `json:"passive_opens"`
	AttemptFails uint64 `json:"attempt_fails"`
	EstabResets  uint64 `json:"estab_resets"`
	CurrEstab    int64  `json:"curr_estab"`
	InSegs       uint64 `json:"in_segs"`
	OutSegs      uint64 `json:"out_segs"`
	RetransSegs  uint64 `json:"retrans_segs"`
	InErrs       uint64 `json:"in_errs"`
	InCsumErrors uint64 `json:"in_csum_errors"`
	BadHeader    uint64 `json:"bad_header"`
	BadOptions   uint64 `json:"bad_options"` // malformed option lengths
	OutRsts      uint64 `json:"out_rsts"`
	NoPort       uint64 `json:"no_port"` // segments for no connection or listener (answered with RST)
	NotUnicast   uint64 `json:"not_unicast"`

	SyncookiesSent   uint64 `json:"syncookies_sent"`
	SyncookiesRecv   uint64 `json:"syncookies_recv"`
	SyncookiesFailed uint64 `json:"syncookies_failed"`
	// SyncookiesDataDropped counts data segments that failed the cookie
	// check while the listener was sending cookies: dropped without a RST,
	// so that a client whose handshake ACK and first data were lost
	// retransmits from ISN+1 and completes the handshake (Linux resets it).
	SyncookiesDataDropped uint64 `json:"syncookies_data_dropped"`
	// SyncookiesACKDropped counts bare ACKs that failed the cookie check
	// while the listener was sending cookies but echo the timestamp of a
	// cookie sent to their peer, dropped without a RST for the same
	// reason: a client whose whole first flight was lost answers a SYN-ACK
	// on its 4-tuple (a flood's, say) with a challenge ACK past ISN+1, and
	// a RST would kill a connection its retransmission saves.
	SyncookiesACKDropped uint64 `json:"syncookies_ack_dropped"`
	// SyncookiesTakeovers counts half-open connections that a later SYN
	// on the 4-tuple of a completed cookie handshake made, replaced by
	// that handshake when its ACK arrived (Conn.cookieTakeover).
	SyncookiesTakeovers uint64 `json:"syncookies_takeovers"`
	ListenOverflows     uint64 `json:"listen_overflows"` // accept queue full
	ListenDrops         uint64 `json:"listen_drops"`     // SYNs and handshake ACKs dropped at a listener
	ListenRSTDropped    uint64 `json:"listen_rst_dropped"`
	ListenBadACK        uint64 `json:"listen_bad_ack"` // SYN-ACK, or ACK without a valid cookie outside cookie mode (answered with RST)
	SynQueueDrops       uint64 `json:"syn_queue_drops"`
	ChallengeACKs       uint64 `json:"challenge_acks"`
	SYNChallenges       uint64 `json:"syn_challenges"`
	ChallengeLimited    uint64 `json:"challenge_ack_limited"` // challenge or dup ACKs suppressed by the per-connection rate limit
	RSTInWindow         uint64 `json:"rst_in_window"`         // RSTs not at RCV.NXT: challenged
	RSTOutOfWindow      uint64 `json:"rst_out_of_window"`
	RSTAccepted         uint64 `json:"rst_accepted"`
	ACKOutOfRange       uint64 `json:"ack_out_of_range"` // ACK outside [SND.UNA−MAX.SND.WND, SND.NXT]: discarded and ACKed
	PAWSRejected        uint64 `json:"paws_rejected"`
	OutOfWindow         uint64 `json:"out_of_window"` // failed the sequence acceptance test: ACKed and dropped
	DataNoACK           uint64 `json:"data_no_ack"`   // segments without ACK in synchronized states: dropped
	BeyondWindow        uint64 `json:"beyond_window_bytes"`
	ZeroWindowDrops     uint64 `json:"zero_window_drops"` // segments that carried data the window had no room for
	OFOQueued           uint64 `json:"ofo_queued"`
	OFODropped          uint64 `json:"ofo_dropped_bytes"`
	DuplicateBytes      uint64 `json:"duplicate_bytes"`
	DelayedACKs         uint64 `json:"delayed_acks"`
	WindowUpdates       uint64 `json:"window_updates"`
	FastRetransmits     uint64 `json:"fast_retransmits"`
	Timeouts            uint64 `json:"timeouts"`
	AbortOnData         uint64 `json:"abort_on_data"` // closed with unread data: RST sent
	AbortOnTimeout      uint64 `json:"abort_on_timeout"`
	TimeWaitEntered     uint64 `json:"time_wait"`
	TimeWaitOverflow    uint64 `json:"time_wait_overflow"`
	TimeWaitRSTIgnore   uint64 `json:"time_wait_rst_ignored"` // RFC 1337
	TimeWaitReused      uint64 `json:"time_wait_reused"`
	KeepaliveACKs       uint64 `json:"keepalive_acks"`
}

type counters struct {
	activeOpens, passiveOpens, attemptFails, estabResets                                                                                  atomic.Uint64
	currEstab                                                                                                                             atomic.Int64
	inSegs, outSegs, retransSegs, inErrs, csumErrors, badHeader, badOptions, outRsts, noPort                                              atomic.Uint64
	notUnicast                                                                                                                            atomic.Uint64
	cookiesSent, cookiesRecv, cookiesFailed, cookiesDataDropped, cookiesACKDropped, listenOverflows, listenDrops, listenRST, listenBadACK atomic.Uint64
	cookieTakeovers                                                                                                                       atomic.Uint64
	synQueueDrops, challengeACKs, synChallenges, challengeLimited, rstInWindow, rstOutOfWindow                                            atomic.Uint64
	rstAccepted, ackOutOfRange, pawsRejected, outOfWindow, dataNoACK, beyondWindow, zeroWindow                                            atomic.Uint64
	ofoQueued, ofoDropped, dupBytes, delayedACKs, windowUpdates, fastRetrans, timeouts                                                    atomic.Uint64
	abortOnData, abortOnTimeout, twEntered, twOverflow, twRSTIgnore, twReused, keepaliveACKs                                              atomic.Uint64
}

// Stats returns the counters.
func (t *TCP) Stats() Stats {
	c := &t.st
	return Stats{
		ActiveOpens: c.activeOpens.Load(), PassiveOpens: c.passiveOpens.Load(), AttemptFails: c.attemptFails.Load(),
		EstabResets: c.estabResets.Load(), CurrEstab: c.currEstab.Load(), InSegs: c.inSegs.Load(), OutSegs: c.outSegs.Load(),
		RetransSegs: c.retransSegs.Load(), InErrs: c.inErrs.Load(), InCsumErrors: c.csumErrors.Load(),
		BadHeader: c.badHeader.Load(), BadOptions: c.badOptions.Load(), OutRsts: c.outRsts.Load(), NoPort: c.noPort.Load(),
		NotUnicast: c.notUnicast.Load(), SyncookiesSent: c.cookiesSent.Load(), SyncookiesRecv: c.cookiesRecv.Load(),
		SyncookiesFailed: c.cookiesFailed.Load(), SyncookiesDataDropped: c.cookiesDataDropped.Load(), SyncookiesACKDropped: c.cookiesACKDropped.Load(), SyncookiesTakeovers: c.cookieTakeovers.Load(), ListenOverflows: c.listenOverflows.Load(), ListenDrops: c.listenDrops.Load(),
		ListenRSTDropped: c.listenRST.Load(), ListenBadACK: c.listenBadACK.Load(), SynQueueDrops: c.synQueueDrops.Load(),
		ChallengeACKs: c.challengeACKs.Load(), SYNChallenges: c.synChallenges.Load(), ChallengeLimited: c.challengeLimited.Load(),
		RSTInWindow: c.rstInWindow.Load(), RSTOutOfWindow: c.rstOutOfWindow.Load(), RSTAccepted: c.rstAccepted.Load(),
		ACKOutOfRange: c.ackOutOfRange.Load(), PAWSRejected: c.pawsRejected.Load(), OutOfWindow: c.outOfWindow.Load(),
		DataNoACK: c.dataNoACK.Load(), BeyondWindow: c.beyondWindow.Load(), ZeroWindowDrops: c.zeroWindow.Load(),
		OFOQueued: c.ofoQueued.Load(), OFODropped: c.ofoDropped.Load(), DuplicateBytes: c.dupBytes.Load(),
		DelayedACKs: c.delayedACKs.Load(), WindowUpdates: c.windowUpdates.Load(), FastRetransmits: c.fastRetrans.Load(),
		Timeouts: c.timeouts.Load(), AbortOnData: c.abortOnData.Load(), AbortOnTimeout: c.abortOnTimeout.Load(),
		TimeWaitEntered: c.twEntered.Load(), TimeWaitOverflow: c.twOverflow.Load(), TimeWaitRSTIgnore: c.twRSTIgnore.Load(),
		TimeWaitReused: c.twReused.Load(), KeepaliveACKs: c.keepaliveACKs.Load(),
	}
}
