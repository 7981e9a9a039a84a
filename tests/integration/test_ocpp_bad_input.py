"""Bad input from the CSMS: every malformed or unsupported CALL gets the OCPP-J CALLERROR
(Part 4 4.2.3 / 4.3) and the connection stays up."""

from __future__ import annotations

import json

import pytest

CASES = [
    # (frame, expected message id, expected error code)
    ("this is not json", "-1", "RpcFrameworkError"),
    ('{"not": "an array"}', "-1", "RpcFrameworkError"),
    ('[2, 17, "Heartbeat", {}]', "-1", "RpcFrameworkError"),
    ('[2, "bad-1", "GetVariables"]', "bad-1", "RpcFrameworkError"),
    ('[7, "bad-2", "GetVariables", {}]', "bad-2", "MessageTypeNotSupported"),
    ('[2, "bad-3", "NoSuchAction", {}]', "bad-3", "NotImplemented"),
    ('[2, "bad-4", "SetDisplayMessage", {}]', "bad-4", "NotSupported"),
    ('[2, "bad-5", "GetVariables", {"getVariableData": "x"}]', "bad-5", "TypeConstraintViolation"),
    ('[2, "bad-6", "GetVariables", {}]', "bad-6", "OccurrenceConstraintViolation"),
    ('[2, "bad-7", "GetBaseReport", {"requestId": 1, "reportBase": "Nonsense"}]', "bad-7", "FormatViolation"),
]


async def test_bad_frames_get_callerror_and_connection_stays_up(start_ocpp, csms):
    await start_ocpp()
    for frame, uid, code in CASES:
        n = len(csms.frames)
        await csms.send_raw(frame)
        reply = await csms.wait_raw_reply(lambda d, n=n, uid=uid: d[0] == 4 and d[1] == uid
                                          and any(f.data is d for f in csms.frames[n:]))
        assert reply[2] == code, (frame, reply)
        assert len(reply) == 5 and isinstance(reply[3], str) and isinstance(reply[4], dict)
    big = json.dumps([2, "big-1", "GetVariables", {"getVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "x" * 50}}] * 1500}])
    assert len(big) > 65000
    await csms.send_raw(big)
    reply = await csms.wait_raw_reply(lambda d: d[0] == 4 and d[1] == "big-1")
    assert reply[2] == "FormatViolation"
    # Still the same connection, still answering.
    r = await csms.call("GetVariables", {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"},
                                                              "variable": {"name": "OfflineThreshold"}}]})
    assert r["getVariableResult"][0]["attributeStatus"] == "Accepted"
    assert len(csms.paths) == 1 and csms.actions().count("BootNotification") == 1


@pytest.mark.parametrize("action", ["RequestStartTransaction", "ChangeAvailability"])
async def test_handler_refuses_wrong_enum_values(start_ocpp, csms, action):
    await start_ocpp()
    payload = {"RequestStartTransaction": {"idToken": {"idToken": "X", "type": "NoSuchType"}, "remoteStartId": 1},
               "ChangeAvailability": {"operationalStatus": "Sideways"}}[action]
    await csms.send_raw(json.dumps([2, "enum-1", action, payload]))
    reply = await csms.wait_raw_reply(lambda d: d[0] == 4 and d[1] == "enum-1")
    assert reply[2] in ("FormatViolation", "PropertyConstraintViolation")
