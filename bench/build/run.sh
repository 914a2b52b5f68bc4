#!/usr/bin/env bash
# run.sh — kiln build benchmarks, each next to an OpenSSH baseline measured in
# the same invocation against the same loopback sshd.
#
# Usage: bash bench/build/run.sh [-n REPS] [-o RESULTS.md]
#
#   provisioners  a build with 50 shell provisioners each running `true`
#                 (whole `kiln build` process) vs. 50 `ssh host true` over one
#                 ControlMaster connection (its setup included). Target: < 1 s.
#   late-sshd     sshd started 3 s after the build begins: time from sshd
#                 logging "Server listening" (and, for reference, from its
#                 launch) to the first provisioner command running, vs. `ssh
#                 -o ConnectionAttempts=30` started at the same moment as the
#                 build. Target: < 150 ms from ready.
#   echo          a build with one inline `echo hi` (whole `kiln build`
#                 process) vs. `ssh host echo hi` on a fresh connection.
#                 Target: < 0.2 s.
#
# Each figure is the median of REPS runs (default 5). Needs go, sshd
# (openssh-server) and ssh (openssh-client); run as root or as a user who can
# run sshd on a high port. With -o, the results table is also written to that
# file with the machine described.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

reps=5
results=""
while getopts "n:o:" opt; do
  case $opt in
    n) reps=$OPTARG ;;
    o) results=$OPTARG ;;
    *) echo "usage: $0 [-n REPS] [-o RESULTS.md]" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
for tool in go sshd ssh ssh-keygen; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found" >&2; exit 1; }
done

work=$(mktemp -d /tmp/kiln-bench.XXXXXX)
sshd_pid=""
cleanup() {
  [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null || true
  ssh -o ControlPath="$work/cm" -O exit x 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "building kiln..." >&2
(cd "$root" && go build -o "$work/kiln" ./cmd/kiln)
kiln="$work/kiln"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# --- a private sshd on a free loopback port -----------------------------------
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port=$(free_port)
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/client_key"
cp "$work/client_key.pub" "$work/authorized_keys"
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$work/host_key.pub")" > "$work/known_hosts"
cat > "$work/sshd_config" <<CFG
ListenAddress 127.0.0.1
Port $port
HostKey $work/host_key
AuthorizedKeysFile $work/authorized_keys
PidFile $work/sshd.pid
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
MaxSessions 100
MaxStartups 100
# bash sources ~/.bashrc for every command run by sshd unless SHLVL says it
# is a nested shell. A heavy ~/.bashrc (root's runs "pyenv init" on the
# machine these figures were first taken on: about 300 ms a command) would
# swamp what is measured here, kiln and OpenSSH alike.
SetEnv SHLVL=1
CFG
[ "$(id -u)" -eq 0 ] && mkdir -p /run/sshd
user=$(id -un)

# start_sshd starts sshd in the foreground (-D) with its log on stderr (-e);
# each log line is stamped with the time it was read (µs), so "Server
# listening" tells when sshd was ready.
start_sshd() {
  : > "$work/sshd.log"
  /usr/sbin/sshd -D -e -f "$work/sshd_config" 2> >(while IFS= read -r l; do
    printf '%s %s\n' "${EPOCHREALTIME/./}" "$l"; done >>"$work/sshd.log") &
  sshd_pid=$!
}
# listening_at prints when sshd logged that it listens (µs).
listening_at() {
  for _ in $(seq 1 500); do
    t=$(awk '/Server listening/ {print $1; exit}' "$work/sshd.log")
    [ -n "$t" ] && { echo "$t"; return 0; }
    sleep 0.01
  done
  echo "run.sh: sshd did not report listening" >&2; exit 1
}
stop_sshd() {
  if [ -n "$sshd_pid" ]; then
    kill "$sshd_pid" 2>/dev/null || true
    wait "$sshd_pid" 2>/dev/null || true
    sshd_pid=""
  fi
}
wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.01
  done
  echo "run.sh: sshd did not listen; log:" >&2; cat "$work/sshd.log" >&2; exit 1
}

sshopts=(-p "$port" -i "$work/client_key" -o BatchMode=yes -o IdentitiesOnly=yes
  -o UserKnownHostsFile="$work/known_hosts" -o StrictHostKeyChecking=yes -o LogLevel=ERROR)

source_block() {
  cat <<HCL
source "null" "host" {
  ssh_host             = "127.0.0.1"
  ssh_port             = $port
  ssh_username         = "$user"
  ssh_private_key_file = "$work/client_key"
  ssh_known_hosts_file = "$work/known_hosts"
  ssh_timeout          = "60s"
}
HCL
}

# now prints the time in microseconds.
now() { local t=${EPOCHREALTIME/./}; echo "$t"; }
# median of the arguments (integers).
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { awk -v us="$1" 'BEGIN {printf "%.0f ms", us/1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a/b}'; }

run_kiln() { # template-dir
  "$kiln" build -json "$1" >"$work/kiln.out" 2>"$work/kiln.err" || {
    echo "run.sh: kiln build failed:" >&2; cat "$work/kiln.err" "$work/kiln.out" >&2; exit 1; }
}

# --- 50 provisioners ------------------------------------------------------------
mkdir -p "$work/t50"
{
  source_block
  echo 'build {'
  echo '  sources = ["source.null.host"]'
  for _ in $(seq 1 50); do
    printf '  provisioner "shell" {\n    inline = ["true"]\n  }\n'
  done
  echo '}'
} > "$work/t50/t.pkr.hcl"
mkdir -p "$work/techo"
{
  source_block
  printf 'build {\n  sources = ["source.null.host"]\n  provisioner "shell" {\n    inline = ["echo hi"]\n  }\n}\n'
} > "$work/techo/t.pkr.hcl"

start_sshd
wait_port
# warm up: the first connection and exec of everything involved
run_kiln "$work/techo"
ssh "${sshopts[@]}" "$user@127.0.0.1" true

k50=(); s50=(); kecho=(); secho=()
for _ in $(seq 1 "$reps"); do
  t0=$(now); run_kiln "$work/t50"; t1=$(now); k50+=($((t1 - t0)))
  t0=$(now)
  ssh "${sshopts[@]}" -o ControlMaster=yes -o ControlPath="$work/cm" -o ControlPersist=30 -fN "$user@127.0.0.1"
  for _ in $(seq 1 50); do ssh "${sshopts[@]}" -o ControlPath="$work/cm" "$user@127.0.0.1" true; done
  t1=$(now); s50+=($((t1 - t0)))
  ssh -o ControlPath="$work/cm" -O exit x 2>/dev/null || true

  t0=$(now); run_kiln "$work/techo"; t1=$(now); kecho+=($((t1 - t0)))
  grep -q '"line":"hi"' "$work/kiln.out" || { echo "run.sh: kiln did not print hi" >&2; exit 1; }
  t0=$(now); out=$(ssh "${sshopts[@]}" "$user@127.0.0.1" echo hi); t1=$(now); secho+=($((t1 - t0)))
  [ "$out" = hi ] || { echo "run.sh: ssh did not print hi" >&2; exit 1; }
done
stop_sshd

# --- sshd started 3 s after the build begins -------------------------------------
mkdir -p "$work/tlate"
{
  source_block
  printf 'build {\n  sources = ["source.null.host"]\n  provisioner "shell" {\n    inline = ["date +%%s%%N > %s/first-command"]\n  }\n}\n' "$work"
} > "$work/tlate/t.pkr.hcl"
klate=(); slate=(); kready=(); sready=()
for _ in $(seq 1 "$reps"); do
  rm -f "$work/first-command" "$work/ssh-first-command"
  "$kiln" build -json "$work/tlate" >"$work/late.out" 2>&1 &
  kpid=$!
  ssh "${sshopts[@]}" -o ConnectionAttempts=30 -o ConnectTimeout=2 "$user@127.0.0.1" \
    "date +%s%N > $work/ssh-first-command" 2>/dev/null &
  spid=$!
  sleep 3
  t0=$(now)
  start_sshd
  wait "$kpid" || { echo "run.sh: kiln build (late sshd) failed:" >&2; cat "$work/late.out" >&2; exit 1; }
  wait "$spid" || { echo "run.sh: ssh (late sshd) failed" >&2; exit 1; }
  ready=$(listening_at)
  stop_sshd
  kfirst=$(( $(cat "$work/first-command") / 1000 )); sfirst=$(( $(cat "$work/ssh-first-command") / 1000 ))
  klate+=($((kfirst - t0))); slate+=($((sfirst - t0)))
  kready+=($((kfirst - ready))); sready+=($((sfirst - ready)))
done

# --- report ---------------------------------------------------------------------
mk50=$(median "${k50[@]}"); ms50=$(median "${s50[@]}")
mlate=$(median "${klate[@]}"); mslate=$(median "${slate[@]}")
mready=$(median "${kready[@]}"); msready=$(median "${sready[@]}")
mecho=$(median "${kecho[@]}"); msecho=$(median "${secho[@]}")
verdict() { [ "$1" -lt "$2" ] && echo "met" || echo "MISSED"; }
table=$(cat <<TABLE
| benchmark | kiln | OpenSSH baseline | kiln / OpenSSH | target | |
|---|---|---|---|---|---|
| 50 \`shell\` provisioners running \`true\` (whole \`kiln build\`) | $(ms "$mk50") | $(ms "$ms50") (50 \`ssh host true\`, one ControlMaster) | $(ratio "$mk50" "$ms50") | < 1000 ms | $(verdict "$mk50" 1000000) |
| sshd started 3 s late: sshd ready ("Server listening") → first command | $(ms "$mready") | $(ms "$msready") (\`ssh -o ConnectionAttempts=30\`) | $(ratio "$mready" "$msready") | < 150 ms | $(verdict "$mready" 150000) |
| sshd started 3 s late: sshd launched → first command | $(ms "$mlate") | $(ms "$mslate") | $(ratio "$mlate" "$mslate") | | |
| one inline \`echo hi\` (whole \`kiln build\`) | $(ms "$mecho") | $(ms "$msecho") (\`ssh host echo hi\`, new connection) | $(ratio "$mecho" "$msecho") | < 200 ms | $(verdict "$mecho" 200000) |
TABLE
)
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
machine="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB RAM, Linux $(uname -r), $(go version | cut -d' ' -f3), $(ssh -V 2>&1)"
echo
echo "Machine: $machine; load average $load_start at the start, $load_end at the end"
echo "Median of $reps runs each; all raw figures in µs:"
echo "  kiln 50 provisioners: ${k50[*]}   ssh: ${s50[*]}"
echo "  kiln late sshd, from launch: ${klate[*]}   ssh: ${slate[*]}"
echo "  kiln late sshd, from ready:  ${kready[*]}   ssh: ${sready[*]}"
echo "  kiln echo hi:         ${kecho[*]}   ssh: ${secho[*]}"
echo
echo "$table"
if [ -n "$results" ]; then
  {
    echo "Machine: $machine; load average $load_start at the start and $load_end at the end of the run (the machine is shared with other work). $(date -u +%Y-%m-%d). Median of $reps runs; \`bash bench/build/run.sh -n $reps\`."
    echo
    echo "$table"
  } > "$results"
  echo "wrote $results" >&2
fi
