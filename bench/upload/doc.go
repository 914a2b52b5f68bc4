// Package upload holds kiln's side-by-side benchmarks of the SSH
// communicator against OpenSSH, run by run.sh:
//
//   - BenchmarkUpload512MiB uploads a 512 MiB file to a loopback OpenSSH sshd
//     with kiln's communicator and with OpenSSH's own sftp client (batch mode,
//     same key, same server), interleaved in the same run, and reports both
//     throughputs and their ratio;
//   - BenchmarkConnectReadiness starts Connect, then sshd 3 s later, and
//     reports how long after sshd listens Connect returns.
//
// Results and the machine they were measured on are in RESULTS.md.
package upload
