// Package auto opens a real interface with the best socket driver it
// offers: AF_XDP (package afxdp) where the kernel and the NIC allow it,
// AF_PACKET (package afpacket) otherwise.
//
// The choice lives here, and not in package driver, so that driver
// defines Queue, Frame and Device without importing the drivers that
// implement them. This is the one package that imports both socket
// drivers. Open returns a driver.Device whose Backend is the driver's own
// device; XDP and Packet give it back typed, for callers that need more
// than the Queue interface (the UMEM ledger, the XDP program's id, the
// fanout group).
//
// A fallback is never silent: Device.Reason says why AF_XDP was refused,
// and Open logs it. A missing interface is not a reason to fall back.
package auto
