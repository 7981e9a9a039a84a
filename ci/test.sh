#!/usr/bin/env bash
# Runs the tests of the project: the static checks, unit and integration tests (private
# dbus-daemon, services as processes, D-Bus policies as real users), the EXI fuzz run and the
# system tests (the charger image booted in QEMU: real systemd, RAUC A/B updates). Sets itself up
# first.
#   ci/test.sh                          static checks, unit, integration, fuzzing, QEMU system stage
#   EVCHARGE_SYSTEM_TESTS=0 ci/test.sh  the same without the QEMU system stage
#   ci/test.sh -m unit                  one layer (any pytest arguments are passed on)
#   ci/test.sh -m system                only the QEMU system stage (builds the image when needed)
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
  python docs/ocpp_conformance.py --check || status=1
  echo "== Yocto layer, kas, units and policies (oelint-adv, kas schema, systemd-analyze, dbus-daemon)"
  bash ci/lint-layer.sh || status=1
fi
echo "== pytest"
if [ $# -eq 0 ]; then
  python -m pytest -p no:cacheprovider -m "not system" || status=$?
else
  python -m pytest -p no:cacheprovider "$@" || status=$?
fi
if [ $# -eq 0 ]; then
  echo "== EXI decoder fuzzing (libFuzzer, ASan + UBSan)"
  bash ci/exi-fuzz.sh "${EXI_FUZZ_SECONDS:-60}" || status=1
fi
# EVCHARGE_SYSTEM_TESTS=0 skips it (e.g. on a machine without root or QEMU); docs/system-tests.md.
if [ $# -eq 0 ] && [ "${EVCHARGE_SYSTEM_TESTS:-1}" != 0 ]; then
  # After the fast tests so that their failures show first: builds the Debian test image when
  # its inputs changed (~4 min, cached in /var/tmp/evcharge-image) and boots it in QEMU (TCG) for
  # boot, memory, sessions, crash isolation, power cuts and OTA.
  echo "== system tests (QEMU; docs/system-tests.md)"
  t0=$SECONDS
  if bash ci/build-test-image.sh >/dev/null; then
    echo "test image ready after $((SECONDS - t0)) s"
    python -m pytest -p no:cacheprovider -m system tests/system || status=$?
  else
    echo "ci/test.sh: building the test image failed" >&2
    status=1
  fi
  echo "system stage: $((SECONDS - t0)) s"
fi
exit $status
