#!/usr/bin/env bash
# Runs every test of the project: unit, integration (private dbus-daemon, services as
# processes, D-Bus policies as real users) and the static checks. Sets itself up first.
#   ci/test.sh                 everything
#   ci/test.sh -m unit         one layer (any pytest arguments are passed on)
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
VENV="${EVCHARGE_VENV:-.venv}"
export PATH="$PWD/$VENV/bin:$PATH"

status=0
if [ $# -eq 0 ]; then
  echo "== static checks"
  python -m ruff check services/evcharge services/exigen tests benchmarks docs || status=1
  (cd services && python -m exigen --check) || status=1
  python docs/gen_dbus_reference.py --check || status=1
  echo "== Yocto layer, kas, units and policies (oelint-adv, kas schema, systemd-analyze, dbus-daemon)"
  bash ci/lint-layer.sh || status=1
fi
echo "== pytest"
if [ $# -eq 0 ]; then
  # The QEMU system tests (tests/system, ~25 min) are not yet in the default run: their stage has
  # not been proven to pass in one piece within CI's budget (issue 7). Run them with
  # `ci/test.sh -m system`.
  python -m pytest -p no:cacheprovider -m "not system" || status=$?
else
  python -m pytest -p no:cacheprovider "$@" || status=$?
fi
if [ $# -eq 0 ]; then
  echo "== EXI decoder fuzzing (libFuzzer, ASan + UBSan)"
  bash ci/exi-fuzz.sh "${EXI_FUZZ_SECONDS:-60}" || status=1
fi
exit $status
