"""OCPP 1.6 configuration keys: GetConfiguration / ChangeConfiguration decisions (pure)."""

from __future__ import annotations

from evcharge.ocpp.v16.configuration import Configuration, standard_keys


def conf() -> Configuration:
    return Configuration.of(standard_keys(heartbeat_s=300, sample_interval_s=60, connectors=2, attempts=3,
                                          retry_interval_s=10, ping_s=60, security_profile=1))


def test_get_all_some_and_unknown_keys():
    c = conf()
    known, unknown = c.get_configuration(None)
    assert unknown == [] and len(known) == len(c.keys)
    assert {"key": "NumberOfConnectors", "readonly": True, "value": "2"} in known
    known, unknown = c.get_configuration(["HeartbeatInterval", "Nope"])
    assert known == [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}] and unknown == ["Nope"]


def test_change_statuses():
    c = conf()
    changed = []
    c.on_change.append(lambda k: changed.append((k.name, k.value)))
    assert c.change("HeartbeatInterval", " 60 ") == "Accepted"
    assert c.get_int("HeartbeatInterval") == 60 and changed == [("HeartbeatInterval", "60")]
    assert c.change("HeartbeatInterval", "0") == "Rejected"          # below the minimum
    assert c.change("HeartbeatInterval", "sixty") == "Rejected"
    assert c.change("LocalPreAuthorize", "false") == "Rejected"       # read-only
    assert c.change("AuthorizationCacheEnabled", "FALSE") == "Accepted"
    assert c.get_bool("AuthorizationCacheEnabled") is False
    assert c.change("AuthorizationCacheEnabled", "maybe") == "Rejected"
    assert c.change("MeterValuesSampledData", "Power.Active.Import, Energy.Active.Import.Register") == "Accepted"
    assert c.get_list("MeterValuesSampledData") == ["Power.Active.Import", "Energy.Active.Import.Register"]
    assert c.change("MeterValuesSampledData", "Voltage") == "Rejected"  # the meter service has no voltage
    assert c.change("WebSocketPingInterval", "30") == "RebootRequired"
    assert ("WebSocketPingInterval", "30") not in changed, "takes effect at the next start only"
    assert c.change("NoSuchKey", "1") == "NotSupported"


def test_overrides_persist_and_bad_stored_values_are_ignored():
    c = conf()
    c.change("MeterValueSampleInterval", "15")
    c.set_local("HeartbeatInterval", "120")
    stored = c.overrides()
    assert stored == {"MeterValueSampleInterval": "15", "HeartbeatInterval": "120"}
    d = conf()
    d.load({**stored, "NumberOfConnectors": "9", "ResetRetries": "many", "Gone": "1"})
    assert d.get_int("MeterValueSampleInterval") == 15 and d.get_int("HeartbeatInterval") == 120
    assert d.get_int("NumberOfConnectors") == 2 and d.get_int("ResetRetries") == 1


def test_protocol_is_selected_in_ocpp_yaml(tmp_path):
    from pathlib import Path

    import pytest
    from evcharge.common.config import ConfigError, load_config
    from evcharge.ocpp.config import OcppConfig, Protocol

    shipped = Path(__file__).resolve().parents[3] / "services/config/ocpp.yaml"
    assert load_config(OcppConfig, shipped, required=True).protocol is Protocol.OCPP201, "2.0.1 stays the default"
    f = tmp_path / "ocpp.yaml"
    f.write_text("protocol: ocpp1.6\n")
    assert load_config(OcppConfig, f, required=True).protocol is Protocol.OCPP16
    f.write_text("protocol: '1.5'\n")
    with pytest.raises(ConfigError, match="ocpp1.6"):
        load_config(OcppConfig, f, required=True)


def test_library_errors_become_ocpp_j_1_6_codes():
    from evcharge.ocpp.v16.adapter import _error16
    from ocpp.exceptions import FormatViolationError, ProtocolError, TypeConstraintViolationError

    assert _error16(ProtocolError(details={"cause": "'value' is a required property"}))[0] == "ProtocolError"
    assert _error16(FormatViolationError(details={"cause": "'x' is not one of ['Hard', 'Soft']"}))[0] == \
        "PropertyConstraintViolation"
    assert _error16(FormatViolationError(details={"cause": "Additional properties are not allowed"}))[0] == \
        "FormationViolation"
    assert _error16(TypeConstraintViolationError(details={"cause": "5 is not of type 'string'"}))[0] == \
        "TypeConstraintViolation"
