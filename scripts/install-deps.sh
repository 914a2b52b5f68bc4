#!/usr/bin/env bash
# Installs what kiln needs on a Debian machine with Go.
#
#   scripts/install-deps.sh            everything the tests need: OpenSSH (server
#                                      and client), QEMU, qemu-img, debootstrap and
#                                      xorriso from Debian's packages, moto_server
#                                      (the EC2 emulator) when missing, staticcheck
#   scripts/install-deps.sh --local    only what building a local image needs
#
# Run as root to install (sudo is not needed, nor used); otherwise, when
# something is missing, it prints the exact command to run and exits 1. When
# everything is there it changes nothing.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
. "$(dirname "$0")/lib.sh"

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
# moto_server goes into a virtual environment (Debian's Python refuses a
# system-wide pip install).
$local_only || have moto_server || pkgs+=(python3-venv)

if [ ${#pkgs[@]} -gt 0 ]; then
  if is_root; then
    echo "installing Debian packages: ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  else
    echo "kiln needs Debian packages that are missing; run:" >&2
    echo "  $(as_root apt-get install -y --no-install-recommends "${pkgs[*]}")" >&2
    exit 1
  fi
fi

$local_only && exit 0

if ! have moto_server; then
  venv=/opt/kiln/moto
  if ! is_root; then
    echo "kiln's tests need moto_server (the EC2 emulator); run:" >&2
    echo "  $(as_root "$0")" >&2
    exit 1
  fi
  echo "installing moto_server ('moto[server]' from PyPI) into $venv"
  { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet 'moto[server]' &&
    ln -sf "$venv/bin/moto_server" /usr/local/bin/moto_server; } || {
    echo "could not install moto[server]; install it and put moto_server on PATH" >&2
    exit 1
  }
fi

if ! have staticcheck; then
  echo "installing staticcheck"
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
