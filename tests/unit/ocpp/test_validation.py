"""The fast validation path (evcharge.ocpp.validation): same verdicts and errors as the library."""

import copy

import pytest
from evcharge.ocpp import (
    adapter,  # noqa: F401 - installs the fast path as the service does
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


def verdict(payload, fast: bool):
    validation.install(fast=fast)
    v = messages.get_validator(messages.MessageType.Call, "TransactionEvent", "2.0.1")
    if fast:
        assert v.fast is not None  # compiled now, not after HOT_AFTER validations
    try:
        messages._validate_payload(messages.Call("1", "TransactionEvent", copy.deepcopy(payload)), "2.0.1")
    except Exception as e:  # noqa: BLE001 - compared below
        return type(e), str(e.details.get("cause", ""))
    finally:
        validation.install()
    return None


def test_installed_by_the_adapter_and_wraps_validators():
    v = messages.get_validator(messages.MessageType.Call, "TransactionEvent", "2.0.1")
    assert isinstance(v, validation.FastFirst)
    v.validate(TX)


@pytest.mark.parametrize("payload,error", INVALID)
def test_invalid_payloads_get_the_librarys_own_error(payload, error):
    fast, slow = verdict(payload, True), verdict(payload, False)
    assert fast == slow
    assert fast is not None and fast[0] is error


def test_valid_payload_accepted_and_not_modified():
    payload = copy.deepcopy(TX)
    assert verdict(payload, True) is None
    v = messages.get_validator(messages.MessageType.Call, "TransactionEvent", "2.0.1")
    v.validate(payload)
    assert payload == TX  # no defaults written into it


def test_fast_path_compiled_only_for_a_schema_in_regular_use():
    validation.install(fast=False)
    validation.install()   # a fresh cache: nothing compiled yet
    v = messages.get_validator(messages.MessageType.Call, "Heartbeat", "2.0.1")
    assert isinstance(v, validation.FastFirst)
    for _ in range(validation.HOT_AFTER):
        v.validate({})
        assert v._fast is None  # the library's validator alone
    v.validate({})
    assert v._fast  # compiled by this validation
    with pytest.raises(validation.fastjsonschema.JsonSchemaException):
        v.fast({"unexpected": 1})


def test_uninstall_restores_the_library_validators():
    validation.install(fast=False)
    try:
        v = messages.get_validator(messages.MessageType.Call, "TransactionEvent", "2.0.1")
        assert not isinstance(v, (validation.FastFirst, validation.LazyDraft4Validator))
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
def test_fast_path_accepts_only_what_jsonschema_accepts(path, value):
    payload = copy.deepcopy(TX)
    node = payload
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    v = messages.get_validator(messages.MessageType.Call, "TransactionEvent", "2.0.1")
    try:
        v.fast(payload)
    except validation.fastjsonschema.JsonSchemaException:
        return  # rejected: the library's validator decides
    v.slow.real.validate(payload)  # jsonschema itself: raises if the fast path let through what it refuses
