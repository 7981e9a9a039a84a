#!/usr/bin/env bash
# Installs what evcharge needs to run and test on a fresh Debian 12 machine (idempotent).
# Used by ci/sil.sh and ci/test.sh; safe to run again. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need_apt=()
command -v dbus-daemon >/dev/null || need_apt+=(dbus)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
pkg-config --exists libsystemd 2>/dev/null || need_apt+=(libsystemd-dev pkg-config)
command -v gcc >/dev/null || need_apt+=(gcc)
python3 -c "import ensurepip, venv" 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "ci/setup.sh: apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# A virtual environment beside the checkout keeps the machine's Python untouched.
VENV="${EVCHARGE_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -e "services[test,systemd]"
echo "ci/setup.sh: ready ($("$VENV/bin/python" --version), venv $VENV)"
