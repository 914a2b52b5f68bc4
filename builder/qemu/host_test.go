package qemu

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeHost builds a fake /proc, /sys and /dev tree.
func fakeHost(t *testing.T, flags string, pvm bool, kvmErr error) host {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	cpuinfo := "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: " + flags + "\n\nprocessor\t: 1\nflags\t\t: fpu\n"
	if err := os.WriteFile(filepath.Join(root, "proc/cpuinfo"), []byte(cpuinfo), 0o644); err != nil {
		t.Fatal(err)
	}
	if pvm {
		if err := os.MkdirAll(filepath.Join(root, "sys/module/kvm_pvm"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return host{root: root, kvmWorks: func(path string) error {
		if path != filepath.Join(root, "dev/kvm") {
			t.Errorf("probed %s", path)
		}
		return kvmErr
	}}
}

func TestDetectAccelerator(t *testing.T) {
	tests := []struct {
		name      string
		flags     string
		pvm       bool
		kvmErr    error
		want, why string
	}{
		{"vmx and working kvm", "fpu vme vmx sse", false, nil, "kvm", "answers the KVM API"},
		{"svm and working kvm", "fpu svm", false, nil, "kvm", "hardware virtualisation"},
		{"no virtualisation", "fpu vme sse hypervisor", false, nil, "tcg", "no vmx or svm"},
		{"pvm backend", "fpu vme", true, nil, "tcg", "PVM backend"},
		{"pvm even with vmx", "vmx", true, nil, "tcg", "kvm_pvm"},
		{"kvm does not answer", "vmx", false, errors.New("permission denied"), "tcg", "permission denied"},
		// vmx appearing as part of another flag name does not count.
		{"flag substring", "fpu vmxfoo", false, nil, "tcg", "no vmx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := detectAccelerator(fakeHost(t, tt.flags, tt.pvm, tt.kvmErr))
			if got != tt.want || !strings.Contains(why, tt.why) {
				t.Errorf("detectAccelerator = %q, %q; want %q with %q", got, why, tt.want, tt.why)
			}
		})
	}
	// No cpuinfo at all (not Linux): tcg, saying why.
	got, why := detectAccelerator(host{root: t.TempDir(), kvmWorks: func(string) error { return nil }})
	if got != "tcg" || !strings.Contains(why, "cannot read") {
		t.Errorf("without /proc: %q, %q", got, why)
	}
}

// TestProbeKVMNotADevice checks that a file that opens is not taken for
// KVM: the ioctl has to answer.
func TestProbeKVMNotADevice(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kvm")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := probeKVM(p); err == nil {
		t.Fatal("probeKVM accepted a plain file")
	}
	if err := probeKVM(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("probeKVM accepted a missing device")
	}
}

func TestReservePort(t *testing.T) {
	// Occupy one port of a two-port range: the other must be chosen.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	bp := busy.Addr().(*net.TCPAddr).Port
	lo, hi := bp, bp+1
	if hi > 65535 {
		lo, hi = bp-1, bp
	}
	free := lo
	if free == bp {
		free = hi
	}
	for range 10 {
		l, port, err := reservePort("127.0.0.1", lo, hi)
		if err != nil {
			t.Skipf("port %d is taken by someone else: %v", free, err)
		}
		if port != free {
			t.Fatalf("reservePort chose %d, want the free %d", port, free)
		}
		if a := l.Addr().(*net.TCPAddr); !a.IP.IsLoopback() || a.Port != port {
			t.Errorf("listener on %v", a)
		}
		l.Close()
	}
	// A range where everything is taken fails and says so.
	if _, _, err := reservePort("127.0.0.1", bp, bp); err == nil || !strings.Contains(err.Error(), strconv.Itoa(bp)) {
		t.Errorf("full range: %v", err)
	}
	if _, _, err := reservePort("127.0.0.1", 10, 5); err == nil {
		t.Error("inverted range accepted")
	}
}
