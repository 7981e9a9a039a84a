#!/bin/sh
# Short libFuzzer run of the EXI decoder under AddressSanitizer + UBSan (<= ~2 minutes).
# Runs on a fresh Debian 12 machine as root: installs clang and the Python headers it needs.
# Exits non-zero on any finding (crash, sanitizer report, property violation) or build failure.
#   usage: ci/exi-fuzz.sh [seconds]    (default 90 seconds of fuzzing)
set -eu

SECONDS_TO_FUZZ="${1:-90}"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${EXI_FUZZ_WORKDIR:-$(mktemp -d /tmp/exi-fuzz.XXXXXX)}"
mkdir -p "$WORK"

have_python_headers() {
    [ -x /usr/bin/python3-config ] || return 1
    inc="$(/usr/bin/python3-config --includes | sed 's/^-I\([^ ]*\).*/\1/')"
    [ -e "$inc/Python.h" ]
}
if ! command -v clang >/dev/null 2>&1 || ! have_python_headers; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq clang python3-dev >/dev/null
fi

# The system (Debian) Python, not a pyenv one: the harness embeds its libpython.
PYCONFIG=/usr/bin/python3-config
PY=/usr/bin/python3

echo "building fuzzer in $WORK"
# shellcheck disable=SC2046
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Wall -Wextra $($PYCONFIG --includes) \
    "$REPO/tests/fuzz/exi_decode_fuzzer.c" "$REPO/services/evcharge/exi/exi_tables.c" \
    $($PYCONFIG --ldflags --embed) -o "$WORK/exi_decode_fuzzer"

"$PY" "$REPO/tests/fuzz/make_corpus.py" "$WORK/seeds"
mkdir -p "$WORK/corpus" "$WORK/artifacts"

# Leak detection is off: the embedded interpreter is never finalised. Everything else aborts.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
set +e
"$WORK/exi_decode_fuzzer" -max_total_time="$SECONDS_TO_FUZZ" -max_len=4096 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$WORK/artifacts/" "$WORK/corpus" "$WORK/seeds" \
    >"$WORK/fuzz.log" 2>&1
rc=$?
set -e
tail -n 25 "$WORK/fuzz.log"
if [ "$rc" -ne 0 ] || ls "$WORK/artifacts/"* >/dev/null 2>&1; then
    echo "exi-fuzz: FINDINGS (exit $rc); artifacts in $WORK/artifacts, log $WORK/fuzz.log" >&2
    exit 1
fi
echo "exi-fuzz: no findings in ${SECONDS_TO_FUZZ}s"
