"""The OCPP 2.0.1 Core certification table for the charging station, derived from the test names.

Two inputs:
- docs/ocpp-core-cases.tsv: the Core profile's charging-station cases (OCA Part 5 section 4.2,
  names from Part 6), made once from the OCA text files with
  `python docs/ocpp_conformance.py --extract /work/shared/specs/ocpp`;
- the tests: every `TC_<block>_<nn>` in a test function's name or docstring under tests/
  counts as covering that case.
Output: docs/ocpp-conformance.md (`--check` fails if it is not up to date, as CI runs it).

Decisions that are not in the test names live in NOT_APPLICABLE and PARTIAL below.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = REPO / "docs" / "ocpp-core-cases.tsv"
OUT = REPO / "docs" / "ocpp-conformance.md"
ID_RX = re.compile(r"TC_([A-P])_(\d+)")

# Cases whose condition this station does not meet (Part 5 "C" rows), with the reason.
NOT_APPLICABLE = {
    "TC_B_25": "reset per EVSE (C-13) is not supported",
    "TC_B_26": "reset per EVSE (C-13) is not supported",
    "TC_B_27": "reset per EVSE (C-13) is not supported",
    "TC_C_47": "Master Pass with UI (C-07): the station has no user interface to select transactions; "
               "it is a station without UI (C-08, TC_C_49: a Master Pass stops all transactions)",
    "TC_C_48": "Master Pass with UI (C-07): the station has no user interface to select transactions; "
               "it is a station without UI (C-08, TC_C_49: a Master Pass stops all transactions)",
    "TC_E_11": "DataSigned: no signed meter (TxStartPoint refuses it)",
    "TC_E_12": "ParkingBayOccupancy: no bay sensor (TxStartPoint refuses it)",
    "TC_E_19": "ParkingBayOccupancy: no bay sensor (TxStopPoint refuses it)",
    "TC_E_14": "EVDisconnected on the station side needs a detachable cable (HFS-1); the socket has none",
    "TC_E_24": "needs a detachable cable (HFS-1)",
    "TC_E_27": "fixed cable variant",
    "TC_F_02": "AuthorizeRemoteStart is ReadOnly false",
    "TC_K_38": "only for stations without smart charging; this one has it (K01-K10)",
    "TC_M_09": "AdditionalRootCertificateCheck (AS-2) is not supported",
    "TC_M_30": "AdditionalRootCertificateCheck (AS-2) is not supported",
    "TC_J_04": "signed meter values (C-42): the meter does not sign",
    "TC_J_11": "signed meter values (C-42): the meter does not sign",
    "TC_E_25": "C-12.2: UnlockOnEVSideDisconnect is ReadOnly true (the socket always releases)",
    "TC_E_26": "C-06.1: StopTxOnEVSideDisconnect is ReadOnly true (authorization is not kept)",
    "TC_J_08": "AQ-8: the EVSE is always known at Started: a transaction starts with the evse session or, "
               "before the cable, on the one connector evse holds the token for (the first free one)",
    "TC_L_16": "the A/B install is not done during a transaction: it is scheduled until the transaction ends "
               "(InstallScheduled, L01.FR.06); the test shows that path",
}
# Cases a test covers only in part (what is not checked).
PARTIAL = {
    "TC_L_11": "this station can cancel a download (TC_L_10), so the request is refused only once it installs "
               "(L01.FR.27): the test sends the second request while Installing, not while Downloading",
    "TC_L_01": "the reboot is simulated (both services restarted, the RAUC simulator booted from the new slot); "
               "the real reboot in QEMU: tests/system/test_ota.py",
}


def extract(spec_dir: Path) -> str:
    """The Core rows (id, M/C for the charging station) from Part 5, names from Part 6."""
    part5 = (spec_dir / "OCPP-2.0.1_part5_certification_profiles.txt").read_text(encoding="utf-8")
    part6 = (spec_dir / "OCPP-2.0.1_part6_test_cases.txt").read_text(encoding="utf-8")
    # rindex: the table of contents names the sections too
    core = part5[part5.rindex("4.2. Test Cases Core"):part5.rindex("4.3. Test Cases Advanced Security")]
    names = {tc: name for name, tc in re.findall(r"Test case name\s+(.+?)\s*\nTest case Id\s+(TC_[A-P]_\d+)_CS\b",
                                                 part6)}
    rows = []
    seen = set()
    for line in core.splitlines():
        m = re.match(r"(TC_[A-P]_\d+)\s+(.*)$", line)
        if not m or m.group(1) in seen:
            continue
        tc = m.group(1)
        seen.add(tc)
        if tc not in names:     # a CSMS-only case
            continue
        flags = re.findall(r"(?:(?<=\s)|^)([MC])(?=\s|$)", m.group(2))
        rows.append(f"{tc}\t{flags[0] if flags else 'C'}\t{names[tc]}")
    return "# id\tM/C (charging station)\tname (OCA Part 5 section 4.2 Core, names from Part 6)\n" + \
        "\n".join(rows) + "\n"


def covered_cases(tests_dir: Path) -> dict[str, list[str]]:
    """TC id -> test names that mention it (name or docstring)."""
    out: dict[str, list[str]] = defaultdict(list)
    for path in sorted(tests_dir.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                text = node.name + " " + (ast.get_docstring(node) or "")
                for block, num in set(ID_RX.findall(text)):
                    tc = f"TC_{block}_{int(num):02d}"
                    name = f"{path.relative_to(REPO)}::{node.name}"
                    if name not in out[tc]:
                        out[tc].append(name)
    return out


def render(cases_tsv: str, covered: dict[str, list[str]]) -> str:
    rows = [line.split("\t") for line in cases_tsv.splitlines() if line and not line.startswith("#")]
    lines = []
    counts: dict[str, int] = defaultdict(int)
    for tc, flag, name in rows:
        tests = covered.get(tc, [])
        if tc in NOT_APPLICABLE:
            applies, status = "no", f"n/a: {NOT_APPLICABLE[tc]}"
        elif tests:
            applies, status = "yes", "partial: " + PARTIAL[tc] if tc in PARTIAL else "tested"
        else:
            applies, status = "yes", "missing"
        counts[status.split(":")[0].split(" (")[0]] += 1
        shown = "<br>".join(f"`{t.split('::')[1]}`" for t in tests) or "-"
        lines.append(f"| {tc}_CS | {name} | {flag} | {applies} | {shown} | {status} |")
    total = len(rows)
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    return "\n".join([
        "# OCPP 2.0.1 Core certification: charging-station test cases",
        "",
        "Generated by `python docs/ocpp_conformance.py` from `docs/ocpp-core-cases.tsv` (OCA Part 5",
        "section 4.2, Core profile, the rows that have a charging-station test in Part 6) and the test",
        "names under `tests/` (a case counts as covered when its id appears in a test's name or",
        "docstring). Do not edit by hand; `--check` fails when this file is stale.",
        "",
        f"**{total} Core cases for the charging station** (M = mandatory, C = conditional). Status: {summary}.",
        "\"tested\" means a test follows the case; whether it passes is what the test run says",
        "(`pytest tests/integration/test_ocpp_*.py`). Smart charging (K) has no cases in this edition",
        "of Part 5/6; its tests are listed in [ocpp.md](ocpp.md).",
        "",
        "| case | name | M/C | applies | test(s) | status |",
        "|---|---|---|---|---|---|",
        *lines,
        "",
    ])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extract", type=Path, metavar="SPEC_DIR", help="rewrite the case list from the OCA texts")
    ap.add_argument("--check", action="store_true", help="fail if docs/ocpp-conformance.md is not up to date")
    args = ap.parse_args()
    if args.extract:
        CASES.write_text(extract(args.extract), encoding="utf-8")
    text = render(CASES.read_text(encoding="utf-8"), covered_cases(REPO / "tests"))
    if args.check:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT.relative_to(REPO)} is stale: run python docs/ocpp_conformance.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
