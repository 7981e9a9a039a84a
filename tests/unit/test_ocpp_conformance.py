"""docs/ocpp_conformance.py: the Core case list and how test names map onto it."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("ocpp_conformance", REPO / "docs" / "ocpp_conformance.py")
conf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(conf)


def test_case_list_is_the_core_charging_station_cases():
    rows = [r.split("\t") for r in conf.CASES.read_text().splitlines() if r and not r.startswith("#")]
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)) == 217
    assert all(flag in ("M", "C") for _id, flag, _name in rows)
    assert "TC_B_01" in ids and "TC_E_09" in ids and "TC_A_02" not in ids   # TC_A_02 is a CSMS-only case


def test_names_and_docstrings_count_as_coverage(tmp_path):
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_x.py").write_text('async def test_TC_E_09_CS_a():\n    """Also TC_E_03."""\n\n'
                                     'def helper_TC_E_04():\n    pass\n')
    conf.REPO = tmp_path
    try:
        covered = conf.covered_cases(tests)
    finally:
        conf.REPO = REPO
    assert set(covered) == {"TC_E_09", "TC_E_03"}
    text = conf.render("TC_E_09\tC\tEVConnected\nTC_E_04\tC\tAuth first\nTC_B_20\tM\tReset\nTC_E_11\tC\tSigned\n",
                       covered)
    assert "| TC_E_09_CS | EVConnected | C | yes | `test_TC_E_09_CS_a` | tested |" in text
    assert "| TC_E_04_CS | Auth first | C | yes | - | missing |" in text
    assert "| TC_B_20_CS | Reset | M | yes | - | missing |" in text
    assert "n/a" in text.split("TC_E_11_CS")[1].splitlines()[0]
