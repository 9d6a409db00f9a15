package replay

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Errors that callers of Read and ReadFile branch on.
var (
	// ErrFormat: the input is neither pcap nor pcapng.
	ErrFormat = errors.New("not a pcap or pcapng capture")
	// ErrLinkType: the capture holds frames of a link type other than
	// Ethernet (LINKTYPE_ETHERNET).
	ErrLinkType = errors.New("link type is not Ethernet")
)

// Packet is a recorded frame.
type Packet struct {
	// Data is the frame from the Ethernet header on, as captured (a
	// capture with a snap length may have cut it short).
	Data []byte
	// Time is when the frame was captured.
	Time time.Time
}

const (
	pcapngMagic = 0x0a0d0d0a // the section header block type, a palindrome
	gzipMagic   = 0x8b1f     // little-endian 1f 8b
)

// pcap file magics as read little-endian: microsecond and nanosecond
// resolution, written little- or big-endian.
func isPcapMagic(m uint32) bool {
	switch m {
	case 0xa1b2c3d4, 0xa1b23c4d, 0xd4c3b2a1, 0x4d3cb2a1:
		return true
	}
	return false
}

// ReadFile reads a pcap or pcapng file (optionally gzip-compressed); see
// Read.
func ReadFile(path string) ([]Packet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pkts, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return pkts, nil
}

// Read reads a whole capture. The format is detected by its magic number:
// pcap (microsecond or nanosecond, either byte order) or pcapng, either
// optionally gzip-compressed. Every frame must be Ethernet; otherwise the
// error wraps ErrLinkType. An input of another format gives an error
// wrapping ErrFormat.
func Read(r io.Reader) ([]Packet, error) {
	br := bufio.NewReader(r)
	magic, err := peekMagic(br)
	if err != nil {
		return nil, err
	}
	if uint16(magic) == gzipMagic {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
		if magic, err = peekMagic(br); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
	}
	switch {
	case magic == pcapngMagic:
		return readPcapng(br)
	case isPcapMagic(magic):
		return readPcap(br)
	}
	return nil, fmt.Errorf("magic %#08x: %w", magic, ErrFormat)
}

func peekMagic(br *bufio.Reader) (uint32, error) {
	b, err := br.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("%d byte input: %w", len(b), ErrFormat)
		}
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func readPcap(r io.Reader) ([]Packet, error) {
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("pcap: %w", err)
	}
	if lt := pr.LinkType(); lt != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("pcap: link type %v (%d): %w", lt, uint32(lt), ErrLinkType)
	}
	var pkts []Packet
	for {
		data, ci, err := pr.ReadPacketData()
		if err == io.EOF {
			return pkts, nil
		}
		if err != nil {
			return nil, fmt.Errorf("pcap: packet %d: %w", len(pkts), err)
		}
		pkts = append(pkts, Packet{Data: data, Time: ci.Timestamp})
	}
}

func readPcapng(r io.Reader) ([]Packet, error) {
	nr, err := pcapgo.NewNgReader(r, pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		return nil, fmt.Errorf("pcapng: %w", err)
	}
	var pkts []Packet
	for {
		data, ci, err := nr.ReadPacketData()
		if err == io.EOF {
			return pkts, nil
		}
		if err != nil {
			return nil, fmt.Errorf("pcapng: packet %d: %w", len(pkts), err)
		}
		if len(ci.AncillaryData) > 0 {
			if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok && lt != layers.LinkTypeEthernet {
				return nil, fmt.Errorf("pcapng: packet %d on interface %d: link type %v (%d): %w",
					len(pkts), ci.InterfaceIndex, lt, uint32(lt), ErrLinkType)
			}
		}
		pkts = append(pkts, Packet{Data: data, Time: ci.Timestamp})
	}
}
