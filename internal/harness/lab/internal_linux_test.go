package lab

import "testing"

func TestCPUMask(t *testing.T) {
	tests := []struct {
		cpu  int
		want string
	}{
		{0, "00000001"},
		{1, "00000002"},
		{4, "00000010"},
		{31, "80000000"},
		{32, "00000001,00000000"},
		{70, "00000040,00000000,00000000"},
	}
	for _, tt := range tests {
		if got := cpuMask(tt.cpu); got != tt.want {
			t.Errorf("cpuMask(%d) = %q, want %q", tt.cpu, got, tt.want)
		}
	}
}
