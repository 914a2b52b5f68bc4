# lib.sh — shell functions shared by kiln's scripts (sourced, not run).

# as_root prints the command line that runs "$@" as root on this machine:
# with sudo when it is installed, else through su (a bare Debian machine has
# no sudo).
as_root() {
	if command -v sudo >/dev/null 2>&1; then
		echo "sudo $*"
	else
		echo "su -c '$*'"
	fi
}

# is_root reports whether the script runs as root.
is_root() { [ "$(id -u)" -eq 0 ]; }
