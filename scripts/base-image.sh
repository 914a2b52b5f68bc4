#!/usr/bin/env bash
# base-image.sh — build kiln's small Debian bookworm base image from Debian's
# packages only (no image downloads), for the qemu builder's tests and the quick
# start.
#
# Usage (as root; sudo is not needed):  scripts/base-image.sh [--force]
# An image already built is reused by any user; building one needs root, and
# without it the script prints the exact command to run and exits 1.
#
# Output, in ${XDG_CACHE_HOME:-~/.cache}/kiln/base/bookworm/:
#   base.qcow2   ext4 filesystem on the whole disk (no partition table, no
#                bootloader), qcow2 with zstd-compressed clusters, 2 GiB virtual
#   vmlinuz      the guest kernel (linux-image-cloud-amd64), for -kernel
#   initrd.img   its initramfs (MODULES=list: virtio_pci virtio_blk ext4)
#   stamp        KILN_BASE_VERSION and what was built; a directory whose stamp
#                matches this script's version is reused as it is
#   packages.txt the installed Debian packages and their versions
# The last line printed on stdout is that directory.
#
# Boot it with:
#   qemu-system-x86_64 -m 1024 -kernel vmlinuz -initrd initrd.img \
#     -append "root=/dev/vda rw console=ttyS0" -drive file=base.qcow2,if=virtio
# Login: no passwords at all (root is locked). SSH keys come from a cloud-init
# NoCloud seed (label cidata; datasource_list [NoCloud, None]) or from the
# systemd credential ssh.authorized_keys.root (-smbios type=11,...). Host keys
# come from the seed or are generated on first boot.
#
# Contents: debootstrap --variant=minbase with systemd-sysv udev dbus
# openssh-server linux-image-cloud-amd64 initramfs-tools iproute2 netbase sudo
# ca-certificates busybox, then the bookworm-updates and bookworm-security
# updates and cloud-init (installed in the chroot with apt-get, since it cannot
# go in --include). systemd-networkd does DHCP on every
# en*/eth* nic; cloud-init's own network configuration is disabled. Slow units
# (e2scrub, apt and fstrim timers) are masked; /etc/machine-id is empty.
# busybox gives provisioners a tiny web server (busybox httpd) without network.
#
# Measured on the 2-core build machine (Debian 12, deb.debian.org, other
# work running): 63 s for version 1 (no updates) with an empty package cache,
# 163 s for version 2 (with bookworm-updates and -security, debootstrap's
# packages cached in ~/.cache/kiln/debs); base.qcow2 159 MB (2 GiB virtual)
# for 416 MB of files, vmlinuz 14 MB, initrd.img 6 MB. Under TCG it reaches
# SSH in about 35-60 s with a kiln seed (see bench/RESULTS.md).
#
# Environment: KILN_DEBIAN_MIRROR (default http://deb.debian.org/debian),
# KILN_DEBIAN_SECURITY_MIRROR (default http://deb.debian.org/debian-security),
# XDG_CACHE_HOME.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

KILN_BASE_VERSION=3
SUITE=bookworm
MIRROR=${KILN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${KILN_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
DISK_SIZE=2G
PACKAGES=systemd-sysv,udev,dbus,openssh-server,linux-image-cloud-amd64,initramfs-tools,iproute2,netbase,sudo,ca-certificates,busybox

force=0
for arg in "$@"; do
	case $arg in
	--force) force=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "base-image.sh: unknown argument $arg (want --force)" >&2
		exit 2
		;;
	esac
done

log() { printf 'base-image: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

cache=${XDG_CACHE_HOME:-$HOME/.cache}/kiln
out=$cache/base/$SUITE

if [[ $force == 0 && -f $out/stamp ]] && grep -qx "KILN_BASE_VERSION=$KILN_BASE_VERSION" "$out/stamp" &&
	[[ -f $out/base.qcow2 && -f $out/vmlinuz && -f $out/initrd.img ]]; then
	log "reusing $out (version $KILN_BASE_VERSION)"
	echo "$out"
	exit 0
fi

is_root || die "the base image is built with debootstrap and chroot, which need root; run: $(as_root "$0" "$@")"
missing=()
for tool in debootstrap mkfs.ext4 qemu-img chroot; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
	die "missing ${missing[*]}; install with: apt-get install --no-install-recommends debootstrap e2fsprogs qemu-utils"
fi

start=$(date +%s)
mkdir -p "$cache/base" "$cache/debs"
# Build next to the output so the final rename is atomic; an interrupted run
# leaves nothing behind.
work=$(mktemp -d "$cache/base/.$SUITE.XXXXXX")
root=$work/root
# debootstrap mounts proc and sys in the target while it runs; a failure can
# leave them mounted, and rm -rf must not descend into them.
remove_root() {
	for m in "$root/proc" "$root/sys" "$root/dev/pts"; do
		if mountpoint -q "$m" 2>/dev/null; then umount -l "$m" || true; fi
	done
	rm -rf "$root"
}
cleanup() {
	remove_root
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "debootstrap $SUITE (minbase) from $MIRROR into $root"
debootstrap --variant=minbase --include="$PACKAGES" --cache-dir="$cache/debs" \
	"$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
	{
		tail -n 30 "$work/debootstrap.log" >&2
		die "debootstrap failed"
	}

in_root() { chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }

# No daemon starts inside the chroot while packages install.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF

log "installing updates and cloud-init"
apt_in_root() {
	in_root apt-get -y -qq -o Dpkg::Options::=--force-confold "$@" >>"$work/apt.log" 2>&1 || {
		tail -n 30 "$work/apt.log" >&2
		die "apt-get $* in the chroot failed"
	}
}
apt_in_root update
apt_in_root dist-upgrade
apt_in_root install --no-install-recommends cloud-init
# An updated kernel leaves the one debootstrap installed: keep the newest.
mapfile -t kernels < <(in_root dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 'linux-image-[0-9]*' |
	awk '$1 == "ii" {print $2}' | sort -V)
if ((${#kernels[@]} > 1)); then
	apt_in_root purge "${kernels[@]:0:${#kernels[@]}-1}"
fi

log "configuring"
# cloud-init: NoCloud seed only (then None), no network configuration (networkd
# owns it), no waiting for other datasources.
cat >"$root/etc/cloud/cloud.cfg.d/90_kiln.cfg" <<'EOF'
# kiln base image: configuration comes from a NoCloud seed (ISO labelled cidata).
datasource_list: [ NoCloud, None ]
network: {config: disabled}
# minbase has no locales package: en_US.UTF-8, cloud-init's default, would
# fail its locale module and leave "cloud-init status" at error.
locale: C.UTF-8
EOF

mkdir -p "$root/etc/systemd/network"
cat >"$root/etc/systemd/network/20-wired.network" <<'EOF'
[Match]
Name=en* eth*

[Network]
DHCP=yes
EOF
# qemu's user-mode network answers DNS on 10.0.2.3.
echo "nameserver 10.0.2.3" >"$root/etc/resolv.conf"

echo debian >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' >"$root/etc/fstab"

# Host keys: each VM gets its own, from the seed (cloud-init) or generated on
# first boot when there is none.
rm -f "$root"/etc/ssh/ssh_host_*
cat >"$root/etc/systemd/system/kiln-ssh-hostkeys.service" <<'EOF'
[Unit]
Description=Generate SSH host keys missing on first boot
DefaultDependencies=no
After=local-fs.target cloud-init.service
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
EOF

in_root systemctl enable -q systemd-networkd.service kiln-ssh-hostkeys.service
in_root systemctl mask -q e2scrub_reap.service e2scrub_all.timer apt-daily.timer \
	apt-daily-upgrade.timer fstrim.timer systemd-networkd-wait-online.service

# A small initramfs that loads only what a virtio disk needs.
sed -i 's/^MODULES=.*/MODULES=list/' "$root/etc/initramfs-tools/initramfs.conf"
printf 'virtio_pci\nvirtio_blk\next4\n' >>"$root/etc/initramfs-tools/modules"
in_root update-initramfs -u -k all >"$work/initramfs.log" 2>&1 || {
	cat "$work/initramfs.log" >&2
	die "update-initramfs failed"
}

# No passwords: root stays locked ("*"), logins are by key only.
in_root usermod -p '*' root

in_root dpkg-query -W -f '${Package}\t${Version}\n' >"$work/packages.txt"

# Strip what must differ per machine or is only a cache.
rm -f "$root/usr/sbin/policy-rc.d"
in_root apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/log/apt/* \
	"$root"/var/cache/debconf/*-old "$root"/var/lib/cloud/* "$root"/tmp/* "$root"/root/.bash_history
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n 1)
initrd=$(ls "$root"/boot/initrd.img-* | sort -V | tail -n 1)
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"
files_mb=$(du -sm "$root" | cut -f1)

log "making the ext4 filesystem ($DISK_SIZE, from ${files_mb} MB of files)"
truncate -s "$DISK_SIZE" "$work/base.raw"
mkfs.ext4 -q -F -L root -d "$root" "$work/base.raw"
qemu-img convert -f raw -O qcow2 -c -o compression_type=zstd "$work/base.raw" "$work/base.qcow2"
rm -f "$work/base.raw"

remove_root
rm -f "$work"/*.log

secs=$(($(date +%s) - start))
size_mb=$(($(stat -c %s "$work/base.qcow2") / 1000000))
cat >"$work/stamp" <<EOF
KILN_BASE_VERSION=$KILN_BASE_VERSION
suite=$SUITE
mirror=$MIRROR
kernel=$(basename "$kernel")
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
seconds=$secs
files_mb=$files_mb
qcow2_mb=$size_mb
EOF

chmod 0755 "$work"
# Replace an older version atomically enough: move it aside, rename, remove.
if [[ -e $out ]]; then
	old=$(mktemp -d "$cache/base/.$SUITE.old.XXXXXX")
	mv "$out" "$old/"
	mv "$work" "$out"
	rm -rf "$old"
else
	mv "$work" "$out"
fi
trap - EXIT
log "done in ${secs}s: base.qcow2 ${size_mb} MB (${files_mb} MB of files)"
echo "$out"
