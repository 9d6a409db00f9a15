// Package faulty wraps a driver queue to inject receive-side faults: loss
// and reordering, for tests and demos of the stack's recovery (rxpath run
// --inject-loss and --inject-reorder). It sits where a lossy link would:
// between the driver and the poller.
//
// Receive takes a batch from the wrapped queue, releases each frame chosen
// for loss straight back to the driver, and holds back at most one frame
// chosen for reordering, delivering it after the frame that follows (or on
// its own when nothing follows). So every frame still has exactly one
// owner: a dropped frame goes back to its driver at once, and the held
// frame is the wrapper's until it is delivered, or until Flush (called by
// the engine after the poller stops) or Close gives it back.
//
// Concurrency: a Queue follows the contract of package driver; Receive,
// Wait and Flush belong to the poller's goroutine (Flush once it stopped).
// The Lost and Reordered counters may be read from any goroutine.
package faulty
