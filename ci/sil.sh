#!/usr/bin/env bash
# Runs the charger stack in software-in-the-loop: a private dbus-daemon and every service with
# the simulated board, with a live status. Sets itself up first. Arguments go to evcharge-sil.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh >&2
VENV="${EVCHARGE_VENV:-.venv}"
exec "$VENV/bin/evcharge-sil" "$@"
