#!/usr/bin/env bash
# Installs what kiln needs on a Debian machine with Go.
#
#   scripts/install-deps.sh            everything the tests need: OpenSSH (server
#                                      and client), QEMU, qemu-img, debootstrap and
#                                      xorriso from Debian's packages, moto_server
#                                      (the EC2 emulator) when missing, staticcheck
#   scripts/install-deps.sh --local    only what building a local image needs
#
# Run as root to install; otherwise it prints the exact apt-get line and stops.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

local_only=false
[ "${1:-}" = --local ] && local_only=true

pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
$local_only || have sshd || pkgs+=(openssh-server)
have ssh || pkgs+=(openssh-client)
have qemu-system-x86_64 || pkgs+=(qemu-system-x86)
have qemu-img || pkgs+=(qemu-utils)
have debootstrap || pkgs+=(debootstrap)
have xorriso || pkgs+=(xorriso)
have python3 || pkgs+=(python3)
$local_only || have patch || pkgs+=(patch)

if [ ${#pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "installing Debian packages: ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  else
    echo "kiln needs Debian packages that are missing; run:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${pkgs[*]}" >&2
    exit 1
  fi
fi

$local_only && exit 0

if ! have moto_server; then
  echo "installing moto_server (pip install 'moto[server]')"
  python3 -m pip install --quiet 'moto[server]' || {
    echo "could not install moto[server] with pip; install it and put moto_server on PATH" >&2
    exit 1
  }
fi

if ! have staticcheck; then
  echo "installing staticcheck"
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
