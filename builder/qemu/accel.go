package qemu

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// host is what accelerator detection looks at. Tests point root at a fake
// tree and replace kvmWorks.
type host struct {
	// root is prepended to /proc, /sys and /dev paths ("" or "/" for the
	// real machine).
	root string
	// kvmWorks checks that the KVM device at path answers the KVM API.
	kvmWorks func(path string) error
}

var realHost = host{root: "/", kvmWorks: probeKVM}

// detectAccelerator chooses kvm only where it will really work: the CPU
// shows hardware virtualisation (vmx or svm), /dev/kvm answers the KVM API,
// and KVM is not the PVM backend (kvm_pvm), which opens and answers but
// hangs stock kernels. Otherwise it chooses tcg. why says what decided.
func detectAccelerator(h host) (accel, why string) {
	if _, err := os.Stat(filepath.Join(h.root, "sys/module/kvm_pvm")); err == nil {
		return "tcg", "accelerator tcg: /dev/kvm is the PVM backend (module kvm_pvm is loaded), which hangs stock guest kernels"
	}
	flags, err := cpuFlags(filepath.Join(h.root, "proc/cpuinfo"))
	if err != nil {
		return "tcg", fmt.Sprintf("accelerator tcg: cannot read the CPU flags (%v)", err)
	}
	if !slices.Contains(flags, "vmx") && !slices.Contains(flags, "svm") {
		return "tcg", "accelerator tcg: the CPU shows no hardware virtualisation (no vmx or svm flag in /proc/cpuinfo)"
	}
	dev := filepath.Join(h.root, "dev/kvm")
	if err := h.kvmWorks(dev); err != nil {
		return "tcg", fmt.Sprintf("accelerator tcg: the CPU has virtualisation but KVM does not answer (%v)", err)
	}
	return "kvm", "accelerator kvm: the CPU has hardware virtualisation and /dev/kvm answers the KVM API"
}

// cpuFlags returns the flags of the first processor in a /proc/cpuinfo file.
func cpuFlags(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "flags" {
			return strings.Fields(val), nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, nil
}

// kvmAPIVersion is the only KVM API version Linux has shipped.
const kvmAPIVersion = 12

// probeKVM opens the KVM device and asks for its API version
// (ioctl KVM_GET_API_VERSION): opening alone proves nothing.
func probeKVM(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	const kvmGetAPIVersion = 0xAE00 // _IO(KVMIO, 0x00)
	v, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), kvmGetAPIVersion, 0)
	if errno != 0 {
		return fmt.Errorf("%s: KVM_GET_API_VERSION: %w", path, errno)
	}
	if v != kvmAPIVersion {
		return errors.New(path + ": unexpected KVM API version " + fmt.Sprint(v))
	}
	return nil
}
