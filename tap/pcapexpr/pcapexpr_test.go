package pcapexpr

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/rxpath/rxpath/tap/internal/framecorpus"
	"golang.org/x/net/bpf"
)

// differentialExprs are compiled both by Compile and by tcpdump's
// libpcap, and must accept and reject the same frames of the corpus.
var differentialExprs = append([]string{
	// long programs
	orList("host 10.0.0.%d", 40), orList("port %d", 90), "not (" + orList("tcp dst port %d", 25) + ") and ip",
	"(" + orList("net 10.%d.0.0/16", 20) + ") and (" + orList("udp port %d", 60) + ")",
}, []string{
	// protocols
	"ip", "ip6", "arp", "rarp", "tcp", "udp", "sctp", "icmp", "icmp6", "igmp",
	"not ip", "not arp", "! tcp",
	"ip proto 1", "ip proto 17", `ip proto \tcp`, "ip6 proto 58", "proto 17", `proto \udp`,
	"ether proto 0x800", `ether proto \arp`, "ether proto 0x86dd",
	// hosts
	"host 10.0.0.1", "src host 10.0.0.1", "dst host 10.0.0.2", "src 10.0.0.1", "dst 192.168.1.5",
	"src or dst host 172.16.3.4", "src and dst host 10.0.0.1", "ip host 10.0.0.1", "ip src 10.0.0.2",
	"arp host 10.0.0.1", "arp src host 10.0.0.2", "arp dst 10.0.0.2", "rarp host 10.0.0.1",
	"host fe80::1", "src host fe80::2", "ip6 dst host 2001:db8::1", "ip6 host fe80::1",
	"host 10.0.0.1 and host 10.0.0.2", "host 10.0.0.1 or 10.0.0.2", "host 10.0.0.1 and not 10.0.0.2",
	"ether host 02:00:00:00:00:01", "ether src 02:00:00:00:00:01", "ether dst 02:00:00:00:00:02",
	"ether src host 02:00:00:00:00:02", "ether host ff:ff:ff:ff:ff:ff",
	// nets
	"net 10.0.0.0/24", "net 10.0.0.0/8", "src net 192.168.0.0/16", "dst net 172.16.0.0/12", "net 10",
	"net 192.168", "net 10.0.0.0 mask 255.255.255.0", "ip net 10.0.0.0/30", "arp net 10.0.0.0/24",
	"net 0.0.0.0/0", "net 10.0.0.1/32", "net fe80::/64", "net fe80::/10", "src net 2001:db8::/32",
	"ip6 net 2001:db8:1::/48", "net 2001:db8::1/128",
	// ports
	"port 80", "tcp port 80", "udp port 53", "sctp port 443", "src port 80", "dst port 1000",
	"tcp src port 22", "udp dst port 53", "port 80 or port 443", "tcp dst port 80 or 443",
	"src and dst port 80", "port domain", "port http", "udp port domain",
	"portrange 1000-1500", "tcp portrange 1000-1500", "udp dst portrange 50-100", "src portrange 400-450",
	"portrange 1500-1000",
	// combinations and precedence
	"tcp and port 80", "tcp or udp", "host 10.0.0.1 and port 80", "host 10.0.0.1 and not port 22",
	"not (tcp and port 80)", "(tcp or udp) and port 80", "tcp and (port 80 or port 443)",
	"host 10.0.0.1 or host 10.0.0.2 and tcp", "tcp and port 80 or udp", "not tcp and not udp",
	"src host 10.0.0.1 and dst port 80", "icmp or arp", "not (icmp or arp) and ip",
	"(host 10.0.0.1 and (tcp or icmp)) or (arp and not host 10.0.0.2)", "not not tcp",
	"tcp && port 80 || udp && !port 53", "ip and not net 10.0.0.0/8", "ip6 and not host fe80::1",
	"host 10.0.0.1 and (port 80 or 443)", "src and dst net 10.0.0.0/8",
	"ip src net 10.0.0.0/24 and tcp dst portrange 80-443", "udp and not port 53 and not port 5353",
	"not (port 80 or port 443 or port 22)", "arp or (ip and udp)", "sctp src port 80",
	"ether dst ff:ff:ff:ff:ff:ff and not arp", "tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack = 0",
	"icmp and icmp[icmptype] != icmp-echo", "ip6 and udp port 5353", "not ip6 and not ip and not arp",
	// lengths, broadcast, multicast, relations
	"greater 100", "less 60", "len > 80", "len <= 54", "ether broadcast", "ether multicast", "broadcast",
	"multicast", "ip multicast", "ip6 multicast", "not ether multicast and ip",
	"tcp[13] & 2 != 0", "tcp[tcpflags] & tcp-syn != 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
	"tcp[tcpflags] & (tcp-rst|tcp-fin) != 0", "tcp[tcpflags] = tcp-ack", "udp[0:2] = 53", "udp[2:2] < 1000",
	"icmp[icmptype] == icmp-echo", "icmp[0] = 3 and icmp[1] = 3", "icmp6[icmp6type] == icmp6-neighborsolicit",
	"ip[0] & 0xf > 5", "ip[2:2] >= 60", "ip[8] = 64", "ip[6:2] & 0x1fff != 0", "ether[0] & 1 = 0",
	"ether[12:2] = 0x86dd", "arp[7] = 2", "ip6[6] = 44", "ip[12:4] = 0x0a000001", "tcp[4:4] >= 0",
}...)

// orList is "PRIM(0) or PRIM(1) or ...": long enough that jumps to the
// accept and reject returns need trampolines.
func orList(format string, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(format, i)
	}
	return strings.Join(parts, " or ")
}

func tcpdumpProgram(expr string, optimize bool) ([]bpf.Instruction, error) {
	args := []string{"-ddd", "-y", "EN10MB"}
	if !optimize {
		args = append(args, "-O")
	}
	cmd := exec.Command("tcpdump", append(args, expr)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tcpdump -ddd %q: %w: %s", expr, err, strings.TrimSpace(stderr.String()))
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	if !sc.Scan() {
		return nil, errors.New("tcpdump printed nothing")
	}
	count, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
	if err != nil {
		return nil, fmt.Errorf("tcpdump count line %q: %w", sc.Text(), err)
	}
	var prog []bpf.Instruction
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 {
			return nil, fmt.Errorf("tcpdump line %q: want code jt jf k", sc.Text())
		}
		var v [4]uint64
		for i := range f {
			if v[i], err = strconv.ParseUint(f[i], 10, 32); err != nil {
				return nil, fmt.Errorf("tcpdump line %q: %w", sc.Text(), err)
			}
		}
		raw := bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])}
		prog = append(prog, raw.Disassemble())
	}
	if len(prog) != count {
		return nil, fmt.Errorf("tcpdump printed %d instructions, announced %d", len(prog), count)
	}
	return prog, nil
}

// TestDifferential compiles each expression with Compile and
// with tcpdump's libpcap (tcpdump -ddd) and checks that both programs, run
// in x/net/bpf's VM, decide every frame of the corpus the same way.
func TestDifferential(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump not installed: the differential filter test needs it as the reference compiler")
	}
	if _, err := tcpdumpProgram("ip", true); err != nil {
		t.Skipf("tcpdump cannot compile filters here: %v", err)
	}
	frames, whole := framecorpus.Frames(t)
	t.Logf("corpus: %d frames, %d of them whole", len(frames), whole)
	for _, expr := range differentialExprs {
		t.Run(expr, func(t *testing.T) {
			got, err := Compile(expr)
			if err != nil {
				t.Fatal(err)
			}
			gotVM, err := bpf.NewVM(got)
			if err != nil {
				t.Fatalf("our program: %v", err)
			}
			for _, optimize := range []bool{false, true} {
				want, err := tcpdumpProgram(expr, optimize)
				if err != nil {
					t.Fatal(err)
				}
				wantVM, err := bpf.NewVM(want)
				if err != nil {
					t.Fatalf("tcpdump's program: %v", err)
				}
				compare(t, frames, whole, wantVM, gotVM, optimize)
			}
			if t.Failed() {
				t.Logf("our program:\n%s", disasm(got))
			}
		})
	}
}

// compare runs both programs over the frames. libpcap's optimizer moves
// and merges loads, which changes what a frame too short for a load
// decides, so the optimized program is only compared on whole frames;
// unoptimized (tcpdump -O) code is compared on every frame.
func compare(t *testing.T, frames [][]byte, whole int, wantVM, gotVM *bpf.VM, optimized bool) {
	t.Helper()
	accepted, mismatches := 0, 0
	for i, fr := range frames {
		if optimized && i >= whole {
			break
		}
		w, err := wantVM.Run(fr)
		if err != nil {
			t.Fatalf("tcpdump's program on frame %d: %v", i, err)
		}
		g, err := gotVM.Run(fr)
		if err != nil {
			t.Fatalf("our program on frame %d: %v", i, err)
		}
		if w != 0 {
			accepted++
		}
		if (w != 0) != (g != 0) {
			mismatches++
			if mismatches <= 3 {
				t.Errorf("frame %d (%d bytes) % x: tcpdump (optimized %v) accepts=%v, ours accepts=%v", i, len(fr), fr[:min(len(fr), 64)], optimized, w != 0, g != 0)
			}
		}
	}
	if mismatches > 0 {
		t.Errorf("%d frames decided differently from tcpdump (optimized %v)", mismatches, optimized)
	}
	if !optimized && (accepted == 0 || accepted == len(frames)) {
		t.Logf("note: tcpdump's program accepts %d of %d frames", accepted, len(frames))
	}
}

func disasm(prog []bpf.Instruction) string {
	var sb strings.Builder
	for i, ins := range prog {
		fmt.Fprintf(&sb, "(%03d) %v\n", i, ins)
	}
	return sb.String()
}

func TestErrors(t *testing.T) {
	tests := []struct {
		expr string
		want string // substring of the error
	}{
		{"", "empty expression"},
		{"vlan", `unsupported keyword "vlan"`},
		{"vlan 100 and tcp", `unsupported keyword "vlan"`},
		{"tcp and mpls", `unsupported keyword "mpls"`},
		{"host example.com", "host names are not supported"},
		{"port 99999", "out of range"},
		{"port nosuchservice", `unknown port "nosuchservice"`},
		{"net 10.0.0.1/24", "non-network bits set"},
		{"host 02:00:00:00:00:01", "without \"ether\""},
		{"tcp host 10.0.0.1", `"tcp" modifier applied to host`},
		{"ip6 host 10.0.0.1", "IPv4 address"},
		{"ip host fe80::1", "IPv6 address"},
		{"tcp port 80 and (", "unexpected end of expression"},
		{"(tcp", `expected ")"`},
		{"tcp )", `unexpected ")"`},
		{"80", "needs a qualifier"},
		{"10.0.0.1", "needs a qualifier"},
		{"ip port 80", `"ip" modifier applied to port`},
		{"ip6 tcp", "unexpected"},
		{"tcp[13] + 1 > 0", "arithmetic"},
		{"tcp[x] > 0", "only constant offsets"},
		{"ip[2:3] = 1", "bad size"},
		{"ip broadcast", "needs a netmask"},
		{"ether", `"ether" needs a qualifier`},
		{"tcp # comment", "unsupported character"},
		{"portrange 80", "want LOW-HIGH"},
		{"ether proto 46", "802.3 length"},
		{"gateway 10.0.0.1", `unsupported keyword "gateway"`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := Compile(tt.expr)
			if err == nil {
				t.Fatalf("Compile(%q) = nil error, want one containing %q", tt.expr, tt.want)
			}
			if !errors.Is(err, ErrExpr) {
				t.Errorf("error %v does not wrap ErrExpr", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile(%q) error = %q, want it to contain %q", tt.expr, err, tt.want)
			}
			// The wording predates the package; scripts may match it.
			if prefix := fmt.Sprintf("capture filter %q: ", tt.expr); !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("Compile(%q) error = %q, want it to start with %q", tt.expr, err, prefix)
			}
		})
	}
}

// TestTooLarge checks that the kernel's 4096-instruction limit is an
// error, not a truncated program.
func TestTooLarge(t *testing.T) {
	var parts []string
	for i := range 400 {
		parts = append(parts, fmt.Sprintf("host 10.%d.%d.1", i/200, i%200))
	}
	_, err := Compile(strings.Join(parts, " or "))
	if err == nil || !strings.Contains(err.Error(), "exceeds the limit of 4096") {
		t.Fatalf("err = %v, want the instruction limit error", err)
	}
}

func FuzzCompile(f *testing.F) {
	for _, e := range differentialExprs {
		f.Add(e)
	}
	f.Add("tcp[tcpflags] & (tcp-syn|tcp-ack|tcp-fin) != 0 and not (src net 10/8 or dst portrange 1-2)")
	all, _ := framecorpus.Frames(f)
	frames := all[:64]
	f.Fuzz(func(t *testing.T, expr string) {
		prog, err := Compile(expr)
		if err != nil {
			if !errors.Is(err, ErrExpr) {
				t.Fatalf("error %v does not wrap ErrExpr", err)
			}
			return
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatalf("Compile(%q) made an invalid program: %v\n%s", expr, err, disasm(prog))
		}
		for _, fr := range frames {
			if _, err := vm.Run(fr); err != nil {
				t.Fatalf("run: %v", err)
			}
		}
	})
}
