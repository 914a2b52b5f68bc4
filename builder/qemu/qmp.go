package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// qmpCommand connects to qemu's QMP socket, negotiates capabilities and
// runs one command. A successful call also proves that qemu finished
// initialising: the monitor greets only from qemu's main loop, after every
// device and port forward was set up.
func qmpCommand(ctx context.Context, socket, command string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return fmt.Errorf("qmp: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	r := bufio.NewReader(conn)
	var greeting struct {
		QMP json.RawMessage `json:"QMP"`
	}
	line, err := r.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("qmp: read greeting: %w", err)
	}
	if err := json.Unmarshal(line, &greeting); err != nil || greeting.QMP == nil {
		return fmt.Errorf("qmp: unexpected greeting %q", line)
	}
	for _, cmd := range []string{"qmp_capabilities", command} {
		if err := qmpExecute(conn, r, cmd); err != nil {
			return err
		}
	}
	return nil
}

func qmpExecute(conn net.Conn, r *bufio.Reader, cmd string) error {
	req, _ := json.Marshal(map[string]string{"execute": cmd})
	if _, err := conn.Write(append(req, '\n')); err != nil {
		return fmt.Errorf("qmp %s: %w", cmd, err)
	}
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return fmt.Errorf("qmp %s: %w", cmd, err)
		}
		var resp struct {
			Return *json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
		}
		if err := json.Unmarshal(line, &resp); err != nil {
			return fmt.Errorf("qmp %s: %w", cmd, err)
		}
		switch {
		case resp.Error != nil:
			return fmt.Errorf("qmp %s: %s: %s", cmd, resp.Error.Class, resp.Error.Desc)
		case resp.Return != nil:
			return nil
		}
		// An asynchronous event: read on.
	}
}
