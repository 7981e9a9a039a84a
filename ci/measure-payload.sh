#!/bin/bash
# Measure the Python payload meta-evcharge puts into evcharge-image: the evcharge package
# (services/, with its compiled EXI extension) and its runtime dependencies, at the versions
# the pinned scarthgap layers ship (oe-core / meta-python recipes), installed the way the
# image has them (site-packages with byte-compiled __pycache__).
#
# Usage: ci/measure-payload.sh [--with-ocpp] [OUTDIR]
#   --with-ocpp  also measure python3-ocpp and python3-jsonschema (development image only)
#   OUTDIR       keep the installed tree there (default: a temporary directory)
#
# Runs on a fresh Debian 12 machine as root (installs a compiler and Python headers for the C
# extensions). Host build: the sizes of compiled modules are for
# x86-64 and only approximate an aarch64 target; pure-Python parts are identical.
# Wheels from PyPI may carry compiled speedups that the Yocto recipe does not build (or the
# other way round); the per-package table makes such differences visible.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
with_ocpp=0
if [ "${1:-}" = "--with-ocpp" ]; then with_ocpp=1; shift; fi
out="${1:-}"
cleanup=""
if [ -z "$out" ]; then out="$(mktemp -d)"; cleanup="$out"; fi
trap '[ -n "$cleanup" ] && rm -rf "$cleanup"' EXIT

# Versions of the recipes in the pinned layers (kas/base.yml): keep in step with them.
DEPS=(
    "dbus-fast==2.21.1"        # meta-python python3-dbus-fast
    "python-periphery==2.4.1"  # meta-python python3-periphery
    "PyYAML==6.0.1"            # oe-core python3-pyyaml
    "pyserial==3.5"            # meta-python python3-pyserial
    "pymodbus==3.6.7"          # meta-python python3-pymodbus
)
OCPP=(
    "ocpp==2.1.0"              # meta-evcharge python3-ocpp
    "jsonschema==4.21.1"       # oe-core python3-jsonschema (and its dependencies)
)

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    pkgs=()
    command -v cc >/dev/null || pkgs+=(gcc)
    command -v pkg-config >/dev/null || pkgs+=(pkg-config)
    python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
        || pkgs+=(python3-dev)
    python3 -c 'import venv, ensurepip' 2>/dev/null || pkgs+=(python3-venv)
    if [ ${#pkgs[@]} -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    fi
fi

venv="$out/.venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check --upgrade pip setuptools wheel

site="$out/site-packages"
rm -rf "$site"
mkdir -p "$site"
# No build isolation for services/: the build backend comes from the venv, like Yocto's
# python_setuptools_build_meta (python -m build --no-isolation). Dependencies are pinned above,
# so pip must not pull other versions.
"$venv/bin/pip" install -q --disable-pip-version-check --target "$site" --no-deps "${DEPS[@]}"
if ! "$venv/bin/pip" install -q --disable-pip-version-check --target "$site" --no-deps --no-build-isolation \
        "$ROOT/services" >"$out/pip-services.log" 2>&1; then
    cat "$out/pip-services.log" >&2
    echo "pip install ./services failed" >&2
    exit 1
fi
if [ $with_ocpp = 1 ]; then
    # ocpp 2.1.0 declares jsonschema >= 4.23; the image has 4.21.1 (python3-ocpp patches the
    # requirement, see its recipe), so install it without its dependency check, as the image does.
    "$venv/bin/pip" install -q --disable-pip-version-check --target "$site" "${OCPP[1]}"
    "$venv/bin/pip" install -q --disable-pip-version-check --target "$site" --no-deps "${OCPP[0]}"
fi

# Console scripts go to $site/bin with --target; they are not site-packages payload.
rm -rf "$site/bin"

if ! ls "$site"/evcharge/exi/_exi*.so >/dev/null 2>&1; then
    echo "warning: no compiled evcharge/exi/_exi*.so in the payload (setup.py extension not built?)" >&2
fi

# The image ships shared objects stripped (package.bbclass splits debug info into -dbg
# packages); PyPI wheels often carry them with debug info. Measure a stripped copy too.
stripped="$out/site-packages-stripped"
rm -rf "$stripped"
cp -a "$site" "$stripped"
find "$stripped" -name '*.so' -exec strip --strip-unneeded {} +

kib() { du -sk "$@" 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
pyc_kib() { find "$1" -name '*.pyc' -print0 | du -ck --files0-from=- 2>/dev/null | tail -1 | awk '{print $1 + 0}'; }

printf '%-34s %12s %12s %16s\n' "site-packages entry" "wheel KiB" "stripped KiB" "stripped, no .pyc"
t_raw=0; t_str=0; t_nopyc=0
for entry in $(ls "$site" | sort); do
    raw=$(kib "$site/$entry")
    str=$(kib "$stripped/$entry")
    nopyc=$((str - $(pyc_kib "$stripped/$entry")))
    printf '%-34s %12d %12d %16d\n' "$entry" "$raw" "$str" "$nopyc"
    t_raw=$((t_raw + raw)); t_str=$((t_str + str)); t_nopyc=$((t_nopyc + nopyc))
done
printf '%-34s %12d %12d %16d\n' "TOTAL" "$t_raw" "$t_str" "$t_nopyc"
echo
echo "evcharge alone (stripped): $(kib "$stripped/evcharge") KiB, of which the EXI extension $(kib "$stripped"/evcharge/exi/_exi*.so) KiB"
echo "python: $("$venv/bin/python" --version 2>&1), $(uname -m)"
[ -n "$cleanup" ] || echo "trees kept in $site and $stripped"
