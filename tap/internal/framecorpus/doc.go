// Package framecorpus builds a fixed corpus of Ethernet frames for tests:
// the frames the capture tap's tests write and read back, and the frames
// the pcap-filter(7) compiler's differential test runs both its programs
// and tcpdump's over.
//
// It is imported only by tests (package tap and tap/pcapexpr), so both
// share one corpus instead of two copies that drift apart. It builds the
// frames with gopacket's serializers and fails the test through
// testing.TB if one cannot be built.
package framecorpus
