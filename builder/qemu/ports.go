package qemu

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
)

// reservePort binds a listener on addr at a port in lo..hi, starting at a
// random port so parallel builds rarely try the same one first. The caller
// closes the listener right before qemu binds the port itself; if another
// process takes the port in that moment, qemu fails with "address in use"
// and the caller reserves another.
func reservePort(addr string, lo, hi int) (net.Listener, int, error) {
	if lo < 1 || hi > 65535 || lo > hi {
		return nil, 0, fmt.Errorf("invalid port range %d..%d", lo, hi)
	}
	n := hi - lo + 1
	start := rand.IntN(n)
	var lastErr error
	for i := range n {
		port := lo + (start+i)%n
		l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
		if err == nil {
			return l, port, nil
		}
		lastErr = err
	}
	return nil, 0, fmt.Errorf("no free port on %s in %d..%d: %w", addr, lo, hi, lastErr)
}
