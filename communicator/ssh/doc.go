// Package ssh is kiln's SSH communicator: it runs commands on, and moves files
// to and from, a machine being built, over golang.org/x/crypto/ssh and
// github.com/pkg/sftp.
//
// A builder embeds Config in its own config (`hcl:",squash"`), so the
// Packer-named ssh_* options sit in the source block, and calls Connect once
// the machine is booting, handing over what it knows in ConnectOptions: the
// address, a login key it generated and the host key it installed. Connect
// waits for a completed SSH handshake (not an open port), verifies the host
// key strictly, and returns a Comm that keeps one connection for the whole
// build; every command and transfer is a session over it, and a lost
// connection is re-established by the next call. Uploads go over SFTP with
// many requests in flight (or scp, ssh_file_transfer_method = "scp"); an
// SFTP upload from a seekable source continues where it stopped when the
// connection is lost. Keepalives, and ssh_read_write_timeout, notice a
// machine that vanished without closing the connection. A cancelled Run
// kills the remote command and its process group, also where OpenSSH refuses
// the signal request (root logins): each command carries a random mark, and
// a second session kills the processes that carry it.
//
// Errors a caller branches on are typed: *HostKeyError (never retried),
// *AuthError (what was offered, what the server accepts), and, through the
// communicator contract, *communicator.ExitError and
// communicator.ErrDisconnected.
//
// It sits in kiln's plumbing layer, below the builders and above the
// communicator contract. It never prints: connection notes and transfer
// progress go to the event.Sink in ConnectOptions.
package ssh
