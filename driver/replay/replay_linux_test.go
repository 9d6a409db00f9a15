package replay_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rxpath/rxpath/driver/replay"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/poller"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestReplaysTcpdumpCapture: tcpdump records real traffic in the peer
// namespace; the replay driver feeds that file through the real poller and
// the handler sees the same frames, byte for byte, in order.
func TestReplaysTcpdumpCapture(t *testing.T) {
	const n = 200
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Fatalf("tcpdump is required (installed by .ci/run): %v", err)
	}
	l := labtest.New(t, lab.Config{})
	if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "peer.pcap")
	td := exec.Command("ip", "netns", "exec", l.PeerNS, "tcpdump", "-i", l.PeerIf, "-U", "-n", "-w", file, "udp port 9000")
	var stderr lockedBuf
	td.Stderr = &stderr
	if err := td.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if td.ProcessState == nil {
			td.Process.Kill()
			td.Wait()
		}
	})
	labtest.WaitFor(t, "tcpdump to listen", func() bool { return strings.Contains(stderr.String(), "listening on") })
	c := labtest.UDPSender(t, l, 9000)
	buf := make([]byte, 100)
	for i := 0; i < n; i++ {
		c.Write(labtest.Payload(buf[:64+i%37], uint64(i)))
	}
	labtest.WaitFor(t, "the capture file", func() bool {
		st, err := os.Stat(file)
		return err == nil && st.Size() >= int64(24+n*(16+14+20+8+64))
	})
	time.Sleep(50 * time.Millisecond)
	td.Process.Signal(syscall.SIGINT)
	td.Wait()

	// An independent read of the file.
	want, err := labtest.ReadPcap(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != n {
		t.Fatalf("tcpdump captured %d frames, want %d", len(want), n)
	}

	q, err := replay.Open(file, replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	p := poller.New(q, func(b *poller.Batch) {
		for _, f := range b.Frames {
			got = append(got, append([]byte(nil), f.Data...))
		}
	}, poller.Options{})
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-q.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("replay never finished")
	}
	p.Stop()
	q.Close()
	if err := q.Check(); err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("handler saw %d frames, want %d", len(got), n)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d differs:\n got %x\nwant %x", i, got[i], want[i])
		}
	}
}
