package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// TestWriteMarkdown: every table README.md quotes, from the sample runs,
// through a JSON round trip (rxbench markdown reads the file).
func TestWriteMarkdown(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  *Run
		want []string
	}{
		{"udp, tcp, stack cost", sampleRun(), []string{
			`\n\| scenario \| frame \| rx Mpps \[min–max\] \| loss \| CPU ns/pkt \| busy ns/pkt \| ×xsk \| ×ceiling \| ×kernel \|\n\| --- \|`,
			`\n\| ceiling \| 60 \| 1\.250 \[1\.200–1\.300\] \| 0% \| `,
			`\n\| tap-devnull \| failed: disk full \| - \|`,
			`\n\| tcp-rxpath \| 3\.00 \[2\.90–3\.10\] \| 0% \| 0\.500 \| 2\.00 \|\n`,
			`\n\| stack-rxpath-tcp \| 200\.0 \| 250\.0 \| 0\.00 \| 7\.50 \(20\.00\) \|\n`,
			"\n\\| `raw-vs-xsk-minimal` \\| pass \\| 1\\.02 \\| ",
			"\n\\| `memnic-raw` \\| not run \\| - \\| scenario memnic-raw is not in this run \\|\n",
		}},
		{"http, conn-memory", appRun([]MemRep{memRep(1600, 190, 3000, 256)}), []string{
			`\n\| http-rxpath \| 75,000 \[70,000–80,000\] \| 4\.00 \| 25\.0 \| 0\.79 \| 18,750 \[17,500–20,000\] \| 9 \| 80\.0 \| 0\.79 \|\n`,
			`\n\| conn-memory \(server side\) \| rxpath \(Go heap\) \| kernel \(slab\) \|\n`,
			`\n\| bytes per idle ESTABLISHED connection \| 1,600 \[1,600–1,600\] \| 3,000 \[3,000–3,000\] \|\n`,
			`\n\| bytes per TIME_WAIT entry \| 190 \[190–190\] \| 256 \[256–256\] \|\n`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var j bytes.Buffer
			if err := WriteJSON(&j, tc.run); err != nil {
				t.Fatal(err)
			}
			r, err := ReadJSON(&j)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := WriteMarkdown(&b, r); err != nil {
				t.Fatal(err)
			}
			out := "\n" + b.String()
			for _, want := range tc.want {
				if !regexp.MustCompile(want).MatchString(out) {
					t.Errorf("markdown does not match %q:\n%s", want, out)
				}
			}
			// Every row of a table has its header's number of cells.
			var cols int
			for _, l := range strings.Split(out, "\n") {
				if l == "" {
					cols = 0
					continue
				}
				n := strings.Count(strings.ReplaceAll(l, `\|`, ""), "|")
				if cols == 0 {
					cols = n
				} else if n != cols {
					t.Errorf("row with %d separators in a table of %d: %s", n, cols, l)
				}
			}
		})
	}
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -4321: "-4,321"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
}
