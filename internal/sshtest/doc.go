// Package sshtest is an in-process SSH server (x/crypto/ssh with pkg/sftp)
// on 127.0.0.1 for tests of logic and faults. Commands run through the local
// /bin/sh with their real exit statuses; SFTP serves the local file system.
// Both start in $HOME, as sshd's do in the user's home directory.
//
// Knobs in Options make it misbehave the ways real machines do: present the
// wrong host key, refuse every login, accept TCP connections and never
// answer (as a NAT port forward does before the machine is up), or answer
// only after a delay; and Server.Drop cuts every connection, or DropAfter
// cuts one once a number of SFTP bytes has arrived, for tests of
// connections lost mid-command and mid-upload.
//
// It is test plumbing: only tests import it. For the real protocol details
// of OpenSSH, use internal/testsshd.
package sshtest
