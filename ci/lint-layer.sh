#!/bin/bash
# Static checks of the Yocto side of evcharge, runnable on a fresh Debian 12 machine as root
# (installs what it needs with apt-get and pip) and offline:
#
#   1. oelint-adv (scarthgap) over every recipe, bbappend, class, include and conf of
#      meta-evcharge, with the layer's configuration meta-evcharge/.oelint.cfg:
#      no finding of any severity may be left (suppressions are inline, with a reason)
#   2. every kas combination (machine x options) loads through kas's own include handler and
#      validates against kas's JSON schema; lock files agree with the pins in the configs
#      (set EVCHARGE_KAS_DUMP=1 to also run `kas dump`, which clones the layers: needs
#      network or KAS_PREMIRRORS)
#   3. systemd-analyze verify over services/systemd/*.service and evcharge.target
#   4. each D-Bus policy in services/dbus/ loads into a throwaway dbus-daemon
#   5. services/ and board-support/ provide every file the recipes install (the contract)
#   6. device-tree overlays in board-support/overlays/ compile with dtc
#
# Exits non-zero if any check fails. Environment:
#   EVCHARGE_SERVICES_DIR  check units/policies of another tree (default: services/)
#   EVCHARGE_LINT_VENV     where the Python tools go (default: ~/.cache/evcharge-lint-venv)
#   EVCHARGE_NO_APT=1      do not apt-get (tools already present)
#   EVCHARGE_BITBAKE_CHECK=1  also bitbake -p / -g with the kas configurations (step 7)
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SERVICES_DIR="${EVCHARGE_SERVICES_DIR:-$ROOT/services}"
VENV="${EVCHARGE_LINT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/evcharge-lint-venv}"
# The services the recipe packages (its EVCHARGE_SERVICES), so this list cannot drift.
SERVICES="$(sed -n 's/^EVCHARGE_SERVICES = "\(.*\)"/\1/p' meta-evcharge/recipes-evcharge/python3-evcharge/python3-evcharge_*.bb)"
[ -n "$SERVICES" ] || { echo "EVCHARGE_SERVICES not found in the python3-evcharge recipe"; exit 1; }
BOARDS="sim qemu-mcu rpi4-cp-mcu rpi4-cp-gpio"

failures=()
step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*"; failures+=("$*"); }
ok() { echo "ok: $*"; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# --- tools -------------------------------------------------------------------------------
step "tools"
need_apt=()
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
command -v dbus-daemon >/dev/null || need_apt+=(dbus)
command -v dtc >/dev/null || need_apt+=(device-tree-compiler)
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v git >/dev/null || need_apt+=(git)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ -z "${EVCHARGE_NO_APT:-}" ] && [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null \
            || { echo "apt-get install ${need_apt[*]} failed"; exit 1; }
    else
        echo "missing: ${need_apt[*]} (run as root, or install them)"; exit 1
    fi
fi
# Pinned so that a new oelint release cannot turn a green tree red overnight.
if [ ! -x "$VENV/bin/oelint-adv" ] || [ ! -x "$VENV/bin/kas" ]; then
    python3 -m venv "$VENV" || { echo "cannot create $VENV"; exit 1; }
fi
"$VENV/bin/pip" install -q --disable-pip-version-check \
    oelint-adv==9.11.2 oelint-parser==8.13.2 oelint-data==1.5.26 kas==5.5 jsonschema \
    || { echo "pip install failed"; exit 1; }
ok "oelint-adv $("$VENV/bin/oelint-adv" --version 2>&1 | awk '{print $NF}'), kas $("$VENV/bin/kas" --version 2>&1 | awk '{print $2}'), $(systemd-analyze --version | head -1)"

# --- 1. oelint-adv -------------------------------------------------------------------------
step "oelint-adv --release scarthgap (meta-evcharge/.oelint.cfg)"
mapfile -t lint_files < <(find meta-evcharge -type f \
    \( -name '*.bb' -o -name '*.bbappend' -o -name '*.bbclass' -o -name '*.inc' -o -name '*.conf' \) \
    -not -path '*/files/*' | sort)
echo "${#lint_files[@]} files"
OELINT_CONFIG="$ROOT/meta-evcharge/.oelint.cfg" "$VENV/bin/oelint-adv" --quiet --release scarthgap \
    "${lint_files[@]}" >"$tmp/oelint.txt" 2>&1
rc=$?
findings="$(grep -cE ':(error|warning|info):' "$tmp/oelint.txt")"
if [ $rc -ne 0 ] || [ "$findings" -ne 0 ]; then
    grep -vE '^Parsing ' "$tmp/oelint.txt"
    fail "oelint-adv: $findings finding(s), exit $rc"
else
    ok "oelint-adv: 0 errors, 0 warnings, 0 infos"
fi

# --- 2. kas --------------------------------------------------------------------------------
step "kas configurations (schema, includes, lock files)"
combos=()
for m in kas/machine/*.yml; do
    case "$m" in *.lock.yml) continue ;; esac
    combos+=("$m" "$m:kas/opt/dev.yml" "$m:kas/opt/hlc.yml" "$m:kas/opt/testimage.yml" "$m:kas/opt/dev.yml:kas/opt/testimage.yml")
done
KAS_WORK_DIR="$tmp/kaswork" "$VENV/bin/python" - "${combos[@]}" <<'PY' || fail "kas configuration check"
import argparse, logging, os, sys
os.makedirs(os.environ['KAS_WORK_DIR'], exist_ok=True)
from kas.context import create_global_context
create_global_context(argparse.Namespace(no_color=True, log_level='warning'))
from kas.includehandler import IncludeHandler
from kas.configschema import CONFIGSCHEMA
from jsonschema import validators

logging.basicConfig(level=logging.WARNING)
validator = validators.validator_for(CONFIGSCHEMA)(CONFIGSCHEMA)
bad = 0
for combo in sys.argv[1:]:
    files = [os.path.abspath(f) for f in combo.split(':')]
    try:
        # kas validates each file against its schema while loading; the lock files
        # (<file>.lock.yml) are injected the way `kas build` does it.
        handler = IncludeHandler(files, use_lock=True)
        config, missing = handler.get_config()
    except Exception as e:  # kas raises its own exception types
        print(f'FAIL {combo}: {e}')
        bad += 1
        continue
    errors = [e.message for e in validator.iter_errors(config)]
    problems = list(errors)
    if missing:
        problems.append(f'missing repos for includes: {missing}')
    if config.get('header', {}).get('version') != 14:
        problems.append('header version is not 14')
    if not config.get('distro'):
        problems.append('no distro (kas >= 5.3 defaults to nodistro)')
    if not config.get('machine'):
        problems.append('no machine')
    repos = config.get('repos', {})
    for name, repo in repos.items():
        if repo and repo.get('url') and not repo.get('commit'):
            problems.append(f'repo {name} is not pinned by commit')
    # a lock file must not silently move a pin away from the one in the config
    for name, over in config.get('overrides', {}).get('repos', {}).items():
        pinned = (repos.get(name) or {}).get('commit')
        if pinned and over.get('commit') != pinned:
            problems.append(f'lock file pins {name} at {over.get("commit")} but the config at {pinned}')
    if problems:
        bad += 1
        print(f'FAIL {combo}:')
        for p in problems:
            print(f'    {p}')
    else:
        print(f'ok   {combo}: machine={config["machine"]} distro={config["distro"]} '
              f'target={",".join(config.get("target", []))} task={config.get("task", "build")} '
              f'repos={len(repos)}')
sys.exit(1 if bad else 0)
PY
if [ "${EVCHARGE_KAS_DUMP:-}" = 1 ]; then
    for c in "${combos[@]}"; do
        if KAS_WORK_DIR="$tmp/kasdump" "$VENV/bin/kas" dump "$c" >"$tmp/dump.yml" 2>"$tmp/dump.err"; then
            ok "kas dump $c"
        else
            tail -5 "$tmp/dump.err"; fail "kas dump $c"
        fi
    done
fi

# --- 5. contract with services/ and board-support/ -------------------------------------------
step "files the recipes install exist ($SERVICES_DIR, board-support/)"
missing=0
expect() { if [ -e "$1" ]; then :; else echo "missing: $1"; missing=$((missing + 1)); fi; }
for s in $SERVICES; do
    bus="$(echo "$s" | sed 's/^./\U&/')1"
    expect "$SERVICES_DIR/systemd/evcharge-$s.service"
    expect "$SERVICES_DIR/dbus/org.evcharge.$bus.conf"
    expect "$SERVICES_DIR/config/$s.yaml"
done
expect "$SERVICES_DIR/systemd/evcharge.target"
expect "$SERVICES_DIR/sysusers.d/evcharge.conf"
for b in $BOARDS; do
    expect "board-support/boards/$b.yaml"
    expect "board-support/udev/70-evcharge-$b.rules"
    case $b in rpi4-*) expect "board-support/overlays/evcharge-$b.dts" ;; esac
done
if [ $missing -eq 0 ]; then ok "all present"; else fail "$missing file(s) the recipes install are missing"; fi

# --- 3. systemd units ------------------------------------------------------------------------
step "systemd-analyze verify"
mapfile -t units < <(find "$SERVICES_DIR/systemd" -maxdepth 1 \( -name '*.service' -o -name '*.target' \) 2>/dev/null | sort)
if [ ${#units[@]} -eq 0 ]; then
    fail "no unit files in $SERVICES_DIR/systemd"
else
    # Works without systemd as PID 1 (containers, CI). The units' own directory goes first in
    # the search path so that evcharge.target and friends resolve; ExecStart binaries must
    # exist on this host (/usr/bin/python3). Any diagnostic counts as a failure: verify
    # returns 0 for "ignoring" warnings such as an unknown Type=.
    SYSTEMD_UNIT_PATH="$SERVICES_DIR/systemd:" systemd-analyze verify --man=no "${units[@]}" \
        >"$tmp/verify.txt" 2>&1
    rc=$?
    if [ $rc -ne 0 ] || [ -s "$tmp/verify.txt" ]; then
        cat "$tmp/verify.txt"; fail "systemd-analyze verify (exit $rc)"
    else
        ok "${#units[@]} units: $(basename -a "${units[@]}" | tr '\n' ' ')"
    fi
fi

# --- 4. D-Bus policies -----------------------------------------------------------------------
step "D-Bus policies load into dbus-daemon"
mapfile -t policies < <(find "$SERVICES_DIR/dbus" -maxdepth 1 -name '*.conf' 2>/dev/null | sort)
if [ ${#policies[@]} -eq 0 ]; then
    fail "no policy files in $SERVICES_DIR/dbus"
fi
check_bus() {  # $1: name, rest: policy files to include
    local name="$1"; shift
    local conf="$tmp/bus-$name.conf" sock="$tmp/bus-$name.sock" out="$tmp/bus-$name.out"
    {
        echo '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"'
        echo ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">'
        echo '<busconfig>'
        echo "  <listen>unix:path=$sock</listen>"
        echo '  <auth>EXTERNAL</auth>'
        echo '  <policy context="default"><allow user="*"/></policy>'
        for f in "$@"; do echo "  <include>$f</include>"; done
        echo '</busconfig>'
    } >"$conf"
    # dbus-daemon refuses to start on malformed XML or an invalid element/attribute; users
    # that do not exist on this host (evcharge-*) are only reported, as on a real system.
    timeout 5 dbus-daemon --config-file="$conf" --nofork --print-address=1 >"$out" 2>&1
    local rc=$?
    if [ $rc -eq 124 ] && grep -q "^unix:path=$sock" "$out"; then
        ok "$name"
    else
        cat "$out"; fail "dbus-daemon with $name (exit $rc)"
    fi
}
for p in "${policies[@]}"; do check_bus "$(basename "$p")" "$p"; done
[ ${#policies[@]} -gt 1 ] && check_bus "all-policies" "${policies[@]}"

# --- 6. device-tree overlays -----------------------------------------------------------------
step "device-tree overlays compile"
for dts in board-support/overlays/*.dts; do
    [ -e "$dts" ] || continue
    if dtc -q -@ -I dts -O dtb -o "$tmp/$(basename "$dts" .dts).dtbo" "$dts"; then
        ok "$dts"
    else
        fail "dtc $dts"
    fi
done

# --- 7. bitbake -p / -g (optional: needs the upstream layers) ---------------------------------
# EVCHARGE_BITBAKE_CHECK=1: kas checks out the pinned layers (network, or KAS_PREMIRRORS
# pointing at local mirrors) and runs `bitbake -p` and `bitbake -g evcharge-image
# evcharge-bundle evcharge-image-dev` for every machine: no parse error, no missing provider.
# BitBake refuses root, so as root this runs as EVCHARGE_BITBAKE_USER (default evbuild,
# created if missing) on a copy of the repository owned by that user (git and kas refuse
# repositories owned by someone else). Takes 10-20 minutes on 2 cores.
if [ "${EVCHARGE_BITBAKE_CHECK:-}" = 1 ]; then
    step "bitbake -p / -g with the kas configurations"
    bbuser="${EVCHARGE_BITBAKE_USER:-evbuild}"
    if [ "$(id -u)" = 0 ]; then
        id "$bbuser" >/dev/null 2>&1 || useradd -m -s /bin/bash "$bbuser"
        if ! locale -a 2>/dev/null | grep -qi '^en_US.utf8$'; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq locales >/dev/null
            sed -i 's/^# *en_US.UTF-8/en_US.UTF-8/' /etc/locale.gen && locale-gen >/dev/null
        fi
        # Host tools OE-core's sanity check asks for.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            build-essential chrpath cpio diffstat file gawk lz4 rsync wget zstd >/dev/null
        bbhome="$(getent passwd "$bbuser" | cut -d: -f6)"
        rsync -a --delete --exclude build --exclude .venv --exclude .hypothesis --exclude __pycache__ \
            "$ROOT/" "$bbhome/evcharge/"
        chown -R "$bbuser": "$bbhome/evcharge"
        runas=(su - "$bbuser" -c)
    else
        bbhome="$HOME"
        rsync -a --delete --exclude build --exclude .venv --exclude .hypothesis --exclude __pycache__ \
            "$ROOT/" "$bbhome/evcharge/"
        runas=(bash -c)
    fi
    [ -x "$bbhome/.evcharge-kas/bin/kas" ] || "${runas[@]}" "python3 -m venv ~/.evcharge-kas && ~/.evcharge-kas/bin/pip install -q kas==5.5"
    "${runas[@]}" "mkdir -p ~/kaswork/build/conf ~/kaswork/build/keys && \
        printf '# ci/lint-layer.sh: parse checks only\nCONNECTIVITY_CHECK_URIS = \"\"\n' > ~/kaswork/build/conf/site.conf && \
        { [ -e ~/kaswork/build/keys/ca.cert.pem ] || ~/evcharge/meta-evcharge/scripts/create-dev-keys.sh ~/kaswork/build/keys >/dev/null; }"
    for m in kas/machine/*.yml; do
        case "$m" in *.lock.yml) continue ;; esac
        for c in "$m" "$m:kas/opt/dev.yml"; do
            if "${runas[@]}" "cd ~/evcharge && LANG=en_US.UTF-8 LC_ALL=en_US.UTF-8 KAS_WORK_DIR=~/kaswork \
                    KAS_PREMIRRORS='${KAS_PREMIRRORS:-}' ~/.evcharge-kas/bin/kas shell $c \
                    -c 'bitbake -p && bitbake -g evcharge-image evcharge-bundle evcharge-image-dev'" \
                    >"$tmp/bitbake.log" 2>&1; then
                ok "$c: $(grep -o 'Parsing of .* errors\.' "$tmp/bitbake.log" | tail -1)"
                if grep -q '^WARNING:' "$tmp/bitbake.log"; then
                    grep '^WARNING:' "$tmp/bitbake.log"; fail "$c: bitbake warnings"
                fi
            else
                grep -v ' INFO ' "$tmp/bitbake.log" | tail -30; fail "bitbake -p/-g $c"
            fi
        done
    done
fi

# --- scripts -----------------------------------------------------------------------------------
step "shell scripts parse"
for s in meta-evcharge/scripts/*.sh ci/measure-payload.sh; do
    [ -e "$s" ] || continue
    if bash -n "$s"; then ok "$s"; else fail "bash -n $s"; fi
done

echo
if [ ${#failures[@]} -ne 0 ]; then
    echo "lint-layer: ${#failures[@]} check(s) failed:"
    printf '  - %s\n' "${failures[@]}"
    exit 1
fi
echo "lint-layer: all checks passed"
