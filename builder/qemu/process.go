package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process identifies a process beyond its pid, which the kernel reuses: by
// its start time and the boot it started in.
type process struct {
	PID int `json:"pid"`
	// Start is the process's start time in clock ticks after boot
	// (/proc/PID/stat, field 22).
	Start uint64 `json:"start"`
	// Boot is the kernel's boot ID (/proc/sys/kernel/random/boot_id).
	Boot string `json:"boot"`
}

func selfProcess() (process, error) { return processOf(os.Getpid()) }

// processOf returns the identity of the running process pid.
func processOf(pid int) (process, error) {
	start, _, err := procStat(pid)
	if err != nil {
		return process{}, err
	}
	boot, err := bootID()
	if err != nil {
		return process{}, err
	}
	return process{PID: pid, Start: start, Boot: boot}, nil
}

// running reports whether p still runs: a process with its pid exists, it
// started when p did, in this boot, and it is not a zombie.
func (p process) running() bool {
	start, state, err := procStat(p.PID)
	if err != nil || start != p.Start || state == 'Z' || state == 'X' {
		return false
	}
	boot, err := bootID()
	return err == nil && boot == p.Boot
}

// killGroup kills p's process group (qemu runs as the leader of its own)
// and waits until p is gone. It does nothing when p no longer runs, so a
// reused pid is never killed.
func (p process) killGroup(ctx context.Context) error {
	if !p.running() {
		return nil
	}
	if err := syscall.Kill(-p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", p.PID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for p.running() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for process %d to die: %w", p.PID, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// procStat returns a process's start time and state from /proc/PID/stat.
func procStat(pid int) (start uint64, state byte, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces and
	// parentheses itself: the fields that follow start after the last ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64) // field 22; f[0] is field 3
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: start time: %w", pid, err)
	}
	return start, f[0][0], nil
}

func bootID() (string, error) {
	data, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", fmt.Errorf("read boot ID: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}
