"""OCPP 1.6 transaction messages and the local -> CSMS transactionId mapping (pure)."""

from __future__ import annotations

from evcharge.ocpp.v16.transactions import TxBuilder16, meter_value, next_aligned, stop_reason

TS = "2026-01-01T00:00:00.000Z"


def builder() -> TxBuilder16:
    return TxBuilder16({1: 1, 2: 2})


def test_start_when_authorized_stop_once_with_reason():
    b = builder()
    b.session_started(1, "s1")
    assert b.running(1) is None
    local, start = b.authorized(1, "CARD", 1234.6, TS)
    assert local == "s1" and start == {"connectorId": 1, "idTag": "CARD", "meterStart": 1235, "timestamp": TS}
    assert b.authorized(1, "CARD", 1300, TS) is None, "one StartTransaction per transaction"
    local2, stop = b.stopped(1, "Local", 2000.0, TS)
    assert local2 == "s1"
    assert stop == {"transactionId": None, "meterStop": 2000, "timestamp": TS, "reason": "Local", "idTag": "CARD"}
    assert b.ended(1, "s1", "EVDisconnected", 2000.0, TS) is None, "the unplug after a stop sends nothing"
    assert b.session_id(1) is None


def test_unplug_stops_with_ev_disconnected_and_transaction_data():
    b = builder()
    b.session_started(2, "s2")
    b.authorized(2, "T", None, TS)
    data = meter_value(TS, "Transaction.End", energy_wh=5.0, power_w=None,
                       measurands=["Energy.Active.Import.Register"])
    _local, stop = b.ended(2, "s2", "EVDisconnected", 10.0, TS, transaction_data=data)
    assert stop["reason"] == "EVDisconnected" and "idTag" not in stop
    assert stop["transactionData"] == [{"timestamp": TS, "sampledValue": [
        {"value": "5.0", "context": "Transaction.End", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]


def test_ids_assigned_by_the_csms_survive_a_restart():
    b = builder()
    b.session_started(1, "s1")
    local, _ = b.authorized(1, "CARD", 0, TS)
    mv_local, mv = b.meter_values(1, meter_value(TS, "Sample.Periodic", energy_wh=1, power_w=2,
                                                 measurands=["Energy.Active.Import.Register"]))
    assert mv_local == local and mv["transactionId"] is None
    assert b.transaction_id(1) is None
    b.assigned(local, 77)
    c = builder()
    c.load_json(b.to_json())
    assert c.resolve(local) == 77 and c.transaction_id(1) == 77 and c.connector_of(77) == 1
    c.stopped(1, "Remote", 5, TS)
    c.forget(local)
    assert c.resolve(local) is None and c.connector_of(77) is None


def test_second_transaction_in_one_session_has_its_own_local_id():
    b = builder()
    b.session_started(1, "s1")
    first, _ = b.authorized(1, "A", 0, TS)
    b.stopped(1, "Local", 1, TS)
    second, _ = b.authorized(1, "B", 1, TS)
    assert (first, second) == ("s1", "s1#2")


def test_meter_values_without_transaction_and_reasons():
    b = builder()
    local, mv = b.meter_values(2, meter_value(TS, "Sample.Clock", energy_wh=1, power_w=None,
                                              measurands=["Energy.Active.Import.Register"]))
    assert local is None and "transactionId" not in mv and mv["connectorId"] == 2
    assert b.meter_values(3, [{"timestamp": TS, "sampledValue": []}]) is None
    assert b.meter_values(1, []) is None
    assert stop_reason("ImmediateReset") == "HardReset" and stop_reason("Reboot") == "SoftReset"
    assert stop_reason("EnergyLimitReached") == "Other"


def test_next_aligned_is_a_multiple_of_the_interval_after_midnight():
    midnight = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    assert next_aligned(midnight + 10, 900) == midnight + 900
    assert next_aligned(midnight + 900, 900) == midnight + 1800
    # an interval that does not divide the day: the next midnight starts the count again
    assert next_aligned(midnight + 86399, 7) == midnight + 86400
