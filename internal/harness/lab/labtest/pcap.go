package labtest

import (
	"errors"
	"io"
	"os"

	"github.com/gopacket/gopacket/pcapgo"
)

// ReadPcap reads every frame of the pcap file at path with gopacket's
// pcapgo, a reader independent of rxpath's own. It returns the frames and
// nil at a clean end of file; on an error (a record cut short while a
// writer is still appending, say) it returns the frames read before it.
func ReadPcap(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, err
	}
	var frames [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return frames, nil
		}
		if err != nil {
			return frames, err
		}
		frames = append(frames, data) // ReadPacketData returns a fresh slice
	}
}
