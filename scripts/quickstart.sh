#!/usr/bin/env bash
# quickstart.sh — from a fresh Debian machine with Go to a local image built by
# kiln, in one command:
#
#   scripts/quickstart.sh             as root (sudo is not needed)
#   sudo scripts/quickstart.sh        from another user, where sudo is installed
#
# 1. installs the Debian packages a local build needs (QEMU, qemu-img,
#    debootstrap, xorriso, the OpenSSH client); without root it prints the
#    exact command instead and stops;
# 2. builds kiln's Debian base image from Debian's packages on first use
#    (cached in ~/.cache/kiln/base/bookworm, a few minutes once);
# 3. builds the kiln binary into ./bin/kiln;
# 4. runs `kiln build examples/local`, which boots the base image under QEMU,
#    installs a small web server and writes output/web-1.0.0/web-1.0.0.qcow2,
#    its sha256 and output/manifest.json.
#
# Extra arguments go to `kiln build` (for example -var version=1.0.1 or -force).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
. scripts/lib.sh

command -v go >/dev/null || { echo "quickstart: Go is not on PATH; install Go 1.26 first" >&2; exit 1; }

scripts/install-deps.sh --local

base=$(scripts/base-image.sh | tail -n 1)

echo "building kiln"
mkdir -p bin
go build -o bin/kiln ./cmd/kiln

echo "running: bin/kiln build -var base_dir=$base $* examples/local"
exec bin/kiln build -var "base_dir=$base" "$@" examples/local
