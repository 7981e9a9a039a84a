"""The check in front of the library's validators (evcharge.ocpp.validation): same verdicts and errors."""

import copy

import pytest
from evcharge.ocpp import (
    adapter,  # noqa: F401 - installs the check as the service does
    validation,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from ocpp import messages
from ocpp.exceptions import FormatViolationError, ProtocolError, TypeConstraintViolationError

TX = {"eventType": "Updated", "timestamp": "2026-01-01T00:00:00.000Z", "triggerReason": "MeterValuePeriodic",
      "seqNo": 3, "offline": False, "evse": {"id": 1, "connectorId": 1},
      "idToken": {"idToken": "04A1B2C3", "type": "ISO14443"},
      "transactionInfo": {"transactionId": "0123456789abcdef", "chargingState": "Charging"},
      "meterValue": [{"timestamp": "2026-01-01T00:00:00.000Z", "sampledValue": [
          {"value": 1234.5, "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register",
           "unitOfMeasure": {"unit": "Wh", "multiplier": 0}}]}]}

INVALID = [
    ({k: v for k, v in TX.items() if k != "seqNo"}, ProtocolError),                    # required missing
    ({**TX, "seqNo": "3"}, TypeConstraintViolationError),                               # wrong type
    ({**TX, "seqNo": True}, TypeConstraintViolationError),                              # bool is not an integer
    ({**TX, "extra": 1}, FormatViolationError),                                         # additionalProperties
    ({**TX, "triggerReason": "Whenever"}, FormatViolationError),                        # not in the enum
    ({**TX, "transactionInfo": {"transactionId": "x" * 37, "chargingState": "Charging"}},
     TypeConstraintViolationError),                                                     # maxLength
    ({**TX, "meterValue": []}, FormatViolationError),                                   # minItems
]


def verdict(payload, checked: bool):
    validation.install(checked=checked)
    v = messages.get_validator(messages.MessageType.Call, "TransactionEvent", "2.0.1")
    if checked:
        assert v.check is not None  # the interpreter handles this schema (not jsonschema alone)
    try:
        messages._validate_payload(messages.Call("1", "TransactionEvent", copy.deepcopy(payload)), "2.0.1")
    except Exception as e:  # noqa: BLE001 - compared below
        return type(e), str(e.details.get("cause", ""))
    finally:
        validation.install()
    return None


def test_installed_by_the_adapter_and_wraps_validators():
    v = messages.get_validator(messages.MessageType.Call, "TransactionEvent", "2.0.1")
    assert isinstance(v, validation.LazyDraft4Validator)
    v.validate(TX)


@pytest.mark.parametrize("payload,error", INVALID)
def test_invalid_payloads_get_the_librarys_own_error(payload, error):
    checked, library = verdict(payload, True), verdict(payload, False)
    assert checked == library
    assert checked is not None and checked[0] is error


def test_valid_payload_accepted_and_not_modified():
    payload = copy.deepcopy(TX)
    assert verdict(payload, True) is None
    v = messages.get_validator(messages.MessageType.Call, "TransactionEvent", "2.0.1")
    v.validate(payload)
    assert payload == TX  # no defaults written into it


def test_a_validator_made_by_jsonschema_keeps_its_instance_for_rejects():
    validation.install(checked=False)
    library = messages.get_validator(messages.MessageType.Call, "Heartbeat", "2.0.1")   # jsonschema's own
    validation.install()   # the same cache entry, now behind the check
    v = messages.get_validator(messages.MessageType.Call, "Heartbeat", "2.0.1")
    assert isinstance(v, validation.LazyDraft4Validator) and v.real is library
    v.validate({})
    with pytest.raises(messages.SchemaValidationError):
        v.validate({"unexpected": 1})


def test_uninstall_restores_the_library_validators():
    validation.install(checked=False)
    try:
        v = messages.get_validator(messages.MessageType.Call, "TransactionEvent", "2.0.1")
        assert not isinstance(v, validation.LazyDraft4Validator)
        assert type(v).__module__.startswith("jsonschema")
    finally:
        validation.install()


PATHS = [("seqNo",), ("eventType",), ("offline",), ("evse", "id"), ("evse", "connectorId"), ("idToken", "type"),
         ("idToken", "idToken"), ("transactionInfo", "transactionId"), ("meterValue",),
         ("meterValue", 0, "sampledValue", 0, "value"), ("meterValue", 0, "sampledValue", 0, "unitOfMeasure"),
         ("meterValue", 0, "sampledValue", 0, "unitOfMeasure", "multiplier"), ("meterValue", 0, "timestamp")]
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=False),
                   st.text(max_size=40), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=5),
                                                                                              st.integers(), max_size=2))


@settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(PATHS), value=VALUES)
def test_check_accepts_only_what_jsonschema_accepts(path, value):
    payload = copy.deepcopy(TX)
    node = payload
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    v = messages.get_validator(messages.MessageType.Call, "TransactionEvent", "2.0.1")
    if not v.check(payload):
        return  # rejected: the library's validator decides
    v.real.validate(payload)  # jsonschema itself: raises if the check let through what it refuses
