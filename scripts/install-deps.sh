#!/usr/bin/env bash
# Installs what kiln's tests and quick start need on a Debian machine with Go:
# OpenSSH (server and client), QEMU, qemu-img, debootstrap and xorriso from
# Debian's packages, moto_server (the EC2 emulator) from PyPI when missing, and
# staticcheck from the Go module proxy. Run as root to install; otherwise it
# prints the exact commands to run.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
have sshd || pkgs+=(openssh-server)
have ssh || pkgs+=(openssh-client)
have qemu-system-x86_64 || pkgs+=(qemu-system-x86)
have qemu-img || pkgs+=(qemu-utils)
have debootstrap || pkgs+=(debootstrap)
have xorriso || pkgs+=(xorriso)
have python3 || pkgs+=(python3)

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
