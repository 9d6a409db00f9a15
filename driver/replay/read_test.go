package replay_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/replay"
)

// mixedFrames are UDP and TCP frames with nanosecond timestamps.
func mixedFrames(t *testing.T) []replay.Packet {
	var pkts []replay.Packet
	for i := range 6 {
		s := frameSpec{proto: layers.IPProtocolUDP, payload: bytes.Repeat([]byte{byte(i)}, 10+i), ipID: uint16(i)}
		if i%2 == 1 {
			s.proto = layers.IPProtocolTCP
		}
		pkts = append(pkts, replay.Packet{Data: craft(t, s), Time: t0.Add(time.Duration(i)*1500*time.Microsecond + time.Duration(i)*7)})
	}
	return pkts
}

func writePcap(t *testing.T, w io.Writer, nanos bool, lt layers.LinkType, pkts []replay.Packet) {
	t.Helper()
	pw := pcapgo.NewWriter(w)
	if nanos {
		pw = pcapgo.NewWriterNanos(w)
	}
	if err := pw.WriteFileHeader(65536, lt); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := pw.WritePacket(gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Data), Length: len(p.Data)}, p.Data); err != nil {
			t.Fatal(err)
		}
	}
}

func writePcapng(t *testing.T, w io.Writer, lt layers.LinkType, pkts []replay.Packet) {
	t.Helper()
	nw, err := pcapgo.NewNgWriter(w, lt)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := nw.WritePacket(gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Data), Length: len(p.Data)}, p.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := nw.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestReadFileRoundTrip(t *testing.T) {
	want := mixedFrames(t)
	for _, tc := range []struct {
		name  string
		res   time.Duration // timestamp resolution of the format
		write func(t *testing.T, w io.Writer)
	}{
		{"pcap", time.Microsecond, func(t *testing.T, w io.Writer) { writePcap(t, w, false, layers.LinkTypeEthernet, want) }},
		{"pcap-nanos", time.Nanosecond, func(t *testing.T, w io.Writer) { writePcap(t, w, true, layers.LinkTypeEthernet, want) }},
		{"pcapng", time.Nanosecond, func(t *testing.T, w io.Writer) { writePcapng(t, w, layers.LinkTypeEthernet, want) }},
		{"pcap-gzip", time.Microsecond, func(t *testing.T, w io.Writer) {
			zw := gzip.NewWriter(w)
			writePcap(t, zw, false, layers.LinkTypeEthernet, want)
			zw.Close()
		}},
		{"pcapng-gzip", time.Nanosecond, func(t *testing.T, w io.Writer) {
			zw := gzip.NewWriter(w)
			writePcapng(t, zw, layers.LinkTypeEthernet, want)
			zw.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rec."+tc.name)
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.write(t, f)
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := replay.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("read %d packets, want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i].Data, want[i].Data) {
					t.Errorf("packet %d: data differs:\n got %x\nwant %x", i, got[i].Data, want[i].Data)
				}
				if wt := want[i].Time.Truncate(tc.res); !got[i].Time.Equal(wt) {
					t.Errorf("packet %d: time %v, want %v", i, got[i].Time, wt)
				}
			}

			// Open plays the same bytes.
			q, err := replay.Open(path, replay.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			frames := make([]driver.Frame, 2*len(want))
			n := q.Receive(frames)
			if n != len(want) {
				t.Fatalf("Receive = %d, want %d", n, len(want))
			}
			for i := range n {
				if !bytes.Equal(frames[i].Data, want[i].Data) {
					t.Errorf("frame %d differs from the recording", i)
				}
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	pkts := mixedFrames(t)
	mixed := func(t *testing.T) []byte {
		var b bytes.Buffer
		nw, err := pcapgo.NewNgWriter(&b, layers.LinkTypeEthernet)
		if err != nil {
			t.Fatal(err)
		}
		id, err := nw.AddInterface(pcapgo.NgInterface{Name: "raw0", LinkType: layers.LinkTypeRaw, TimestampResolution: 9})
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range [][]byte{pkts[0].Data, pkts[0].Data[14:]} {
			ci := gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(d), Length: len(d), InterfaceIndex: i * id}
			if err := nw.WritePacket(ci, d); err != nil {
				t.Fatal(err)
			}
		}
		if err := nw.Flush(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	for _, tc := range []struct {
		name  string
		input func(t *testing.T) []byte
		want  error
	}{
		{"pcap-raw", func(t *testing.T) []byte {
			var b bytes.Buffer
			writePcap(t, &b, false, layers.LinkTypeRaw, nil)
			return b.Bytes()
		}, replay.ErrLinkType},
		{"pcapng-raw", func(t *testing.T) []byte {
			var b bytes.Buffer
			writePcapng(t, &b, layers.LinkTypeRaw, pkts[:1])
			return b.Bytes()
		}, replay.ErrLinkType},
		{"pcapng-mixed", mixed, replay.ErrLinkType},
		{"garbage", func(*testing.T) []byte { return []byte("GET / HTTP/1.1\r\n\r\n") }, replay.ErrFormat},
		{"empty", func(*testing.T) []byte { return nil }, replay.ErrFormat},
		{"short", func(*testing.T) []byte { return []byte{0xd4, 0xc3} }, replay.ErrFormat},
		{"truncated", func(t *testing.T) []byte {
			var b bytes.Buffer
			writePcap(t, &b, false, layers.LinkTypeEthernet, pkts)
			return b.Bytes()[:b.Len()-5]
		}, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := replay.Read(bytes.NewReader(tc.input(t)))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Read = %d packets, %v; want an error wrapping %v", len(got), err, tc.want)
			}
		})
	}
	if _, err := replay.ReadFile(filepath.Join(t.TempDir(), "missing.pcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile(missing) = %v, want os.ErrNotExist", err)
	}
	if _, err := replay.Open(filepath.Join(t.TempDir(), "x.pcap"), replay.Options{Speed: -1}); err == nil {
		t.Error("Open with Speed -1 succeeded")
	}
}

func TestReadEmpty(t *testing.T) {
	var b bytes.Buffer
	writePcap(t, &b, true, layers.LinkTypeEthernet, nil)
	pkts, err := replay.Read(&b)
	if err != nil || len(pkts) != 0 {
		t.Fatalf("Read(empty pcap) = %d packets, %v", len(pkts), err)
	}
	q := replay.New(pkts, replay.Options{})
	select {
	case <-q.Done():
	default:
		t.Error("Done is open on an empty recording")
	}
	if n := q.Receive(make([]driver.Frame, 4)); n != 0 {
		t.Errorf("Receive = %d on an empty recording", n)
	}
	if err := q.Check(); err != nil {
		t.Error(err)
	}
}
