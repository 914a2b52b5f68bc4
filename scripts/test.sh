#!/usr/bin/env bash
# test.sh — kiln's test command: sets up what the tests need, then runs them
# all for real.
#
#   scripts/test.sh                          every package (go test ./...)
#   scripts/test.sh -run TestKnownHosts      extra arguments go to go test
#   scripts/test.sh -run TestX ./communicator/ssh   packages named: only those
#
# 1. scripts/install-deps.sh: OpenSSH, QEMU, qemu-img, debootstrap, xorriso,
#    patch, moto_server, staticcheck; as root it installs what is missing
#    (sudo is not needed), otherwise it prints the exact command and stops;
# 2. scripts/base-image.sh: the qemu tests' Debian base image, built on first
#    use (root, a few minutes; cached in ~/.cache/kiln/base/bookworm);
# 3. go test with KILN_REQUIRE_INTEGRATION=1, so that a missing tool fails
#    instead of skipping, and GOFLAGS=-count=1, so that no cached result
#    stands in for a run on this machine, and -timeout=30m: a package's
#    qemu guests boot under TCG for minutes on a busy machine (go test's own
#    10m default cut a loaded run short). A -timeout argument wins.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
command -v go >/dev/null || { echo "test.sh: Go is not on PATH; install Go 1.26 first" >&2; exit 1; }
export PATH="$PATH:$(go env GOPATH)/bin"

echo "--- tools the tests need"
scripts/install-deps.sh

echo "--- base image for the qemu tests"
scripts/base-image.sh >/dev/null

echo "--- tests"
export KILN_REQUIRE_INTEGRATION=1
export GOFLAGS="${GOFLAGS:-} -count=1 -timeout=30m"
pkgs=(./...)
for arg in "$@"; do
	case $arg in
	./* | ../* | github.com/kilnhq/kiln*) pkgs=() ;;
	esac
done
exec go test "${pkgs[@]}" "$@"
