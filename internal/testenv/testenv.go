// Package testenv is shared by kiln's tests: it finds the external tools that
// integration tests need (sshd, moto_server, qemu) and decides what a missing
// one means. Normally the test is skipped; with KILN_REQUIRE_INTEGRATION=1, as
// CI sets it, a missing tool fails the test, so CI never passes by skipping.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"testing"
)

// Required reports whether integration tools are mandatory in this run.
func Required() bool { return os.Getenv("KILN_REQUIRE_INTEGRATION") == "1" }

// Tool returns the path of the named executable, searching PATH and then the
// extra directories given (for tools in sbin). When it is missing the test is
// skipped, or fails when integration tools are required.
func Tool(t testing.TB, name string, extraDirs ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range extraDirs {
		p := d + "/" + name
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	Missing(t, name+" not found in PATH")
	return ""
}

// Missing skips the test because of why, or fails it when integration tools
// are required.
func Missing(t testing.TB, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("integration prerequisite missing (KILN_REQUIRE_INTEGRATION=1): %s", why)
	}
	t.Skipf("skipping: %s (set KILN_REQUIRE_INTEGRATION=1 to make this fail)", why)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Use it
// only for programs that cannot be handed a listener; there is a small race.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
