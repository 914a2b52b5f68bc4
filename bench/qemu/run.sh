#!/usr/bin/env bash
# run.sh — the qemu builder on this machine (TCG where KVM does not work),
# next to the same build done by hand with plain qemu + OpenSSH: the floor.
#
# Usage: bash bench/qemu/run.sh [-n REPS]
#
# Both sides start from kiln's base image (scripts/base-image.sh), boot it as
# a qcow2 overlay with the kernel given directly, hand the guest a login key
# and a host key in a NoCloud seed ISO, wait for SSH (the by-hand side polls
# `ssh` every 0.25 s with strict host key checking), run the same
# provisioning script, power off with `systemctl poweroff`, and write a
# zstd-compressed qcow2 with its sha256. Reported per side, median of REPS
# runs (default 2, run one after the other):
#   boot-to-SSH  qemu started → first SSH login
#   total        start → image and checksum written (kiln: the whole
#                `kiln build` process, including loading the template)
# Needs go, qemu-system-x86_64, qemu-img, xorriso, ssh, and the base image.
set -euo pipefail

reps=2
while getopts "n:" opt; do
	case $opt in
	n) reps=$OPTARG ;;
	*)
		echo "usage: $0 [-n REPS]" >&2
		exit 2
		;;
	esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
base=${XDG_CACHE_HOME:-$HOME/.cache}/kiln/base/bookworm
for f in base.qcow2 vmlinuz initrd.img; do
	[[ -f $base/$f ]] || {
		echo "run.sh: no $base/$f; run scripts/base-image.sh first" >&2
		exit 1
	}
done
for tool in go qemu-system-x86_64 qemu-img xorriso ssh ssh-keygen python3; do
	command -v "$tool" >/dev/null || {
		echo "run.sh: $tool not found" >&2
		exit 1
	}
done

work=$(mktemp -d /tmp/kiln-bench-qemu.XXXXXX)
qemu_pid=""
cleanup() {
	[[ -n $qemu_pid ]] && kill -9 "$qemu_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "building kiln..." >&2
(cd "$root" && go build -o "$work/kiln" ./cmd/kiln)

now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

cat >"$work/provision.sh" <<'EOF'
set -e
mkdir -p /srv/www
echo "built by kiln" > /srv/www/index.html
cat > /etc/systemd/system/web.service <<'UNIT'
[Unit]
Description=web server
After=network.target
[Service]
ExecStart=/bin/busybox httpd -f -p 8080 -h /srv/www
[Install]
WantedBy=multi-user.target
UNIT
systemctl enable web.service
EOF

cat >"$work/bench.pkr.hcl" <<EOF
source "qemu" "bench" {
  disk_image       = true
  iso_url          = "$base/base.qcow2"
  iso_checksum     = "none"
  use_backing_file = true
  disk_compression = true
  headless         = true
  memory           = 1024
  kernel           = "$base/vmlinuz"
  initrd           = "$base/initrd.img"
  kernel_args      = "root=/dev/vda rw console=ttyS0"
  output_directory = "$work/out"
  vm_name          = "bench.qcow2"
  shutdown_command = "systemctl poweroff"
  ssh_username     = "root"
  ssh_timeout      = "10m"
}

build {
  sources = ["source.qemu.bench"]
  provisioner "shell" {
    script = "$work/provision.sh"
  }
}
EOF

kiln_run() {
	rm -rf "$work/out"
	local start
	start=$(now)
	"$work/kiln" build -json "$work/bench.pkr.hcl" >"$work/kiln.json"
	local total
	total=$(since "$start")
	local ready
	ready=$(python3 -c '
import json, re, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    m = re.match(r"SSH ready ([0-9.]+)s", e.get("text", ""))
    if m:
        print(m.group(1))
' "$work/kiln.json")
	echo "$ready $total"
}

hand_run() {
	local d=$work/hand
	rm -rf "$d"
	mkdir -p "$d/seed"
	local start
	start=$(now)
	ssh-keygen -q -t ed25519 -N '' -f "$d/login"
	ssh-keygen -q -t ed25519 -N '' -f "$d/host"
	{
		echo "#cloud-config"
		echo "disable_root: false"
		echo "ssh_pwauth: false"
		echo "ssh_genkeytypes: [ed25519]"
		echo "ssh_authorized_keys: ['$(cat "$d/login.pub")']"
		echo "ssh_keys:"
		echo "  ed25519_private: |"
		sed 's/^/    /' "$d/host"
		echo "  ed25519_public: $(cat "$d/host.pub")"
	} >"$d/seed/user-data"
	echo "instance-id: hand-$$" >"$d/seed/meta-data"
	xorriso -as mkisofs -quiet -V cidata -J -r -o "$d/seed.iso" "$d/seed" 2>/dev/null
	qemu-img create -q -f qcow2 -b "$base/base.qcow2" -F qcow2 "$d/disk.qcow2"
	local port
	port=$(free_port)
	echo "[127.0.0.1]:$port $(cat "$d/host.pub")" >"$d/known_hosts"
	local boot
	boot=$(now)
	qemu-system-x86_64 -machine pc,accel=tcg -m 1024 -display none -serial "file:$d/serial.log" \
		-kernel "$base/vmlinuz" -initrd "$base/initrd.img" -append "root=/dev/vda rw console=ttyS0" \
		-drive "file=$d/disk.qcow2,if=virtio,format=qcow2" -drive "file=$d/seed.iso,media=cdrom,readonly=on" \
		-netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net,netdev=n0 &
	qemu_pid=$!
	# One multiplexed connection for everything after the first login, as
	# kiln keeps one connection.
	local ssh_cmd=(ssh -q -o BatchMode=yes -o ConnectTimeout=2 -o StrictHostKeyChecking=yes
		-o ControlMaster=auto -o "ControlPath=$d/cm" -o ControlPersist=120
		-o "UserKnownHostsFile=$d/known_hosts" -i "$d/login" -p "$port" root@127.0.0.1)
	until timeout 5 "${ssh_cmd[@]}" true 2>/dev/null; do sleep 0.25; done
	local ready
	ready=$(since "$boot")
	"${ssh_cmd[@]}" sh <"$work/provision.sh" 2>/dev/null
	"${ssh_cmd[@]}" systemctl poweroff || true
	wait "$qemu_pid" || true
	ssh -o "ControlPath=$d/cm" -O exit x 2>/dev/null || true
	qemu_pid=""
	qemu-img convert -f qcow2 -O qcow2 -c -o compression_type=zstd "$d/disk.qcow2" "$d/out.qcow2"
	sha256sum "$d/out.qcow2" >"$d/out.qcow2.sha256"
	echo "$ready $(since "$start")"
}

: >"$work/kiln.txt"
: >"$work/hand.txt"
for i in $(seq "$reps"); do
	echo "run $i/$reps: by hand..." >&2
	hand_run >>"$work/hand.txt"
	echo "run $i/$reps: kiln..." >&2
	kiln_run >>"$work/kiln.txt"
done
echo "raw (boot-to-SSH total): hand $(tr '\n' ';' <"$work/hand.txt") kiln $(tr '\n' ';' <"$work/kiln.txt")" >&2
printf '| %-22s | %12s | %9s |\n' "qemu build, TCG" "boot-to-SSH" "total"
printf '|%s|%s|%s|\n' "------------------------" "--------------" "-----------"
for side in hand kiln; do
	label="plain qemu + OpenSSH"
	[[ $side == kiln ]] && label="kiln build"
	printf '| %-22s | %11ss | %8ss |\n' "$label" "$(cut -d' ' -f1 "$work/$side.txt" | median)" "$(cut -d' ' -f2 "$work/$side.txt" | median)"
done
