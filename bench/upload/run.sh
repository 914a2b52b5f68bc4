#!/bin/sh
# Upload and readiness benchmarks: kiln's SSH communicator against OpenSSH,
# side by side in the same run, on a loopback sshd started for the run.
#   bench/upload/run.sh              # 512 MiB upload (3 rounds each), 5 readiness runs
#   KILN_BENCH_UPLOAD_MIB=128 bench/upload/run.sh
# Needs sshd (openssh-server) and sftp (openssh-client).
set -eu
cd "$(dirname "$0")/../.."
go test -run '^$' -bench 'Upload512MiB' -benchtime 1x -timeout 30m ./bench/upload
go test -run '^$' -bench 'ConnectReadiness' -benchtime 5x -timeout 10m ./bench/upload
