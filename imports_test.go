package rxpath_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportRules checks the import rules of docs/architecture.md
// ("Which package may import which") with go list: the consumer owns each
// seam, and no layer imports the one above it.
func TestImportRules(t *testing.T) {
	goTool, err := exec.LookPath("go") // go test puts its own first in PATH
	if err != nil {
		t.Skipf("no go tool to list packages: %v", err)
	}
	const mod = "github.com/rxpath/rxpath"
	deps := func(t *testing.T, pkgs ...string) map[string][]string {
		t.Helper()
		args := append([]string{"list", "-deps", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`}, pkgs...)
		out, err := exec.Command(goTool, args...).Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		m := map[string][]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if len(f) > 0 && strings.HasPrefix(f[0], mod) {
				for _, d := range f[1:] {
					if strings.HasPrefix(d, mod) {
						m[f[0]] = append(m[f[0]], strings.TrimPrefix(d, mod+"/"))
					}
				}
			}
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		pkgs  []string
		allow func(dep string) bool // may the listed packages depend on dep?
	}{
		{"stack imports neither driver nor poller", []string{"./stack/..."},
			func(d string) bool { return d == "stack" || strings.HasPrefix(d, "stack/") }},
		{"driver imports no other package of the module", []string{"./driver"},
			func(string) bool { return false }},
		{"OS helpers import no package of the module", []string{"./internal/sys/..."},
			func(d string) bool { return strings.HasPrefix(d, "internal/sys/") }},
		{"the library imports no harness or CLI package", []string{".", "./driver/...", "./umem/...", "./rxring/...", "./poller/...", "./tap/...", "./stack/..."},
			func(d string) bool {
				return !strings.HasPrefix(d, "internal/harness/") && !strings.HasPrefix(d, "internal/cli/")
			}},
		{"cmd/rxpath imports nothing under bench/", []string{"./cmd/rxpath"},
			func(d string) bool { return !strings.HasPrefix(d, "bench/") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for pkg, ds := range deps(t, tc.pkgs...) {
				for _, d := range ds {
					if !tc.allow(d) {
						t.Errorf("%s depends on %s", strings.TrimPrefix(pkg, mod+"/"), d)
					}
				}
			}
		})
	}
}
