// Package queue defines the receive-queue interface shared by package
// driver and the drivers below it. It is internal so that the drivers can
// implement it without importing package driver, which imports them all to
// choose one; users see these types through the aliases in package driver,
// whose documentation states the contract.
//
// A Queue is what Linux calls one RX ring of a NIC with the buffers that
// feed it, plus a TX ring for replies. Its Buffers ledger says where each
// buffer is (free, owned by the kernel for receive or transmit, or held by
// the application) and counts bad and foreign releases; Check verifies that
// the counts add up once the queue is quiescent.
package queue
