package udp

// ParkedReaders is how many readers are parked on c, for tests that must
// know a reader sleeps before they deliver.
func (c *Conn) ParkedReaders() int { return int(c.waiters.Load()) }
