"""The `ocpp` library's ChargePoint as a thin adapter between the WebSocket and the station.

Handlers only translate: each `@on` asks the station (`OcppService`) for a decision and returns
the library's result object; anything that sends a CALL or waits for another service's effect
runs in an `@after` handler (awaiting `call()` inside `@on` deadlocks the library's receive
loop). Frames are checked here before the library sees them, because the library only logs
what it cannot parse and swaps NotImplemented/NotSupported relative to OCPP-J (Part 4 4.3):

- not JSON, not an array, no readable message id -> CALLERROR RpcFrameworkError, id "-1"
- an unknown MessageTypeId                       -> MessageTypeNotSupported
- an action OCPP 2.0.1 does not define           -> NotImplemented
- a 2.0.1 action this station does not handle    -> NotSupported
- a payload against the schema                   -> the library's FormatViolation/TypeConstraint...,
  but a missing required field is OccurrenceConstraintViolation
- a frame larger than BytesPerMessage            -> FormatViolation
- while the CSMS has Rejected the station        -> SecurityError (B03.FR.08)
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any

from ocpp import messages as ocpp_messages
from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OccurrenceConstraintViolationError, OCPPError, ProtocolError
from ocpp.messages import Call, MessageType
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from . import customer, validation

if TYPE_CHECKING:
    from .service import OcppService

# Field notes: validation runs in a thread pool by default, costing a thread hop per message.
ocpp_messages.ASYNC_VALIDATION = False
# The draft-04 check in front of the library's jsonschema validators (jsonschema only for rejects).
validation.install()

log = logging.getLogger("evcharge.ocpp.link")

KNOWN_ACTIONS = {a.value for a in Action}
MAX_ID_LEN = 36
_ID_RX = re.compile(rb'^\s*\[\s*\d+\s*,\s*"([^"\\]{1,36})"')


CAMEL = "_evcharge_camel"


def make_call(action: str, payload: dict[str, Any]) -> Any:
    """A library request object from a camelCase payload (as stored in the queue). Building it
    checks the payload's keys; it keeps the payload itself for `Link.call` to send as is."""
    request = getattr(call, action)(**camel_to_snake_case(payload))
    setattr(request, CAMEL, payload)
    return request


def to_camel(obj: Any) -> Any:
    """A handler argument or library result (snake_case dicts, lists or dataclasses) as camelCase."""
    if obj is None:
        return None
    if not isinstance(obj, (dict, list)):
        obj = serialize_as_dict(obj)
    return snake_to_camel_case(remove_nones(obj))


def call_error(unique_id: str, code: str, description: str, details: dict | None = None) -> str:
    return json.dumps([MessageType.CallError, unique_id, code, description[:255], details or {}],
                      separators=(",", ":"))


class Link(ChargePoint):
    def __init__(self, station_id: str, connection: Any, station: OcppService, *, response_timeout: float,
                 max_frame_bytes: int) -> None:
        super().__init__(station_id, connection, response_timeout=response_timeout, logger=log)
        self.station = station
        self.max_frame_bytes = max_frame_bytes

    async def start(self) -> None:
        while True:
            message = await self._connection.recv()
            log.debug("%s: receive %s", self.id, message if len(message) < 2000 else message[:2000] + "...")
            await self.route_message(message)

    async def call(self, payload: Any, suppress: bool = True, unique_id: Any = None,
                   skip_schema_validation: bool = False) -> Any:
        """The library's `call()`, minus its payload conversions for requests from `make_call`:
        it would turn the dataclass back into a dict (asdict, a deep copy) and every key back into
        camelCase (a regex per key), ~40 % of the station's CPU per message (benchmarks/ocpp)
        for the payload we already hold. Same validation, lock, timeout and result object."""
        camel = getattr(payload, CAMEL, None)
        if camel is None:
            return await super().call(payload, suppress, unique_id, skip_schema_validation)
        action = type(payload).__name__
        request = Call(unique_id if unique_id is not None else str(self._unique_id_generator()), action,
                       remove_nones(camel))
        if not skip_schema_validation:
            await ocpp_messages.validate_payload(request, self._ocpp_version)
        async with self._call_lock:
            await self._send(request.to_json())
            try:
                response = await self._get_specific_response(request.unique_id, self._response_timeout)
            except TimeoutError:
                raise TimeoutError(f"Waited {self._response_timeout}s for response on {request.to_json()}.") from None
        if response.message_type_id == MessageType.CallError:
            log.warning("%s: CALLERROR for %s %s: %s", self.id, action, request.unique_id, response)
            if suppress:
                return None
            raise response.to_exception()
        if not skip_schema_validation:
            response.action = action
            await ocpp_messages.validate_payload(response, self._ocpp_version)
        return getattr(self._call_result, action)(**camel_to_snake_case(response.payload))

    async def _send(self, message: str) -> None:
        log.debug("%s: send %s", self.id, message)
        await self._connection.send(message)

    async def route_message(self, raw_msg: str | bytes) -> None:
        raw = raw_msg.encode() if isinstance(raw_msg, str) else raw_msg
        if len(raw) > self.max_frame_bytes:
            m = _ID_RX.match(raw[:200])
            await self._send(call_error(m.group(1).decode() if m else "-1", "FormatViolation",
                                        f"message of {len(raw)} bytes exceeds {self.max_frame_bytes}"))
            return
        try:
            msg = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            await self._send(call_error("-1", "RpcFrameworkError", "message is not valid JSON"))
            return
        if not isinstance(msg, list) or len(msg) < 3 or not isinstance(msg[0], int) or isinstance(msg[0], bool):
            uid = msg[1] if isinstance(msg, list) and len(msg) > 1 and isinstance(msg[1], str) else "-1"
            await self._send(call_error(uid[:MAX_ID_LEN], "RpcFrameworkError", "not an OCPP-J message array"))
            return
        kind, uid = msg[0], msg[1]
        if not isinstance(uid, str) or not uid or len(uid) > MAX_ID_LEN:
            await self._send(call_error("-1", "RpcFrameworkError", "message id must be a string of 1..36 characters"))
            return
        if kind in (MessageType.CallResult, MessageType.CallError):
            await super().route_message(raw_msg)
            return
        if kind != MessageType.Call:
            await self._send(call_error(uid, "MessageTypeNotSupported", f"message type {kind} is not supported"))
            return
        if len(msg) != 4 or not isinstance(msg[2], str) or not isinstance(msg[3], dict):
            await self._send(call_error(uid, "RpcFrameworkError", "a CALL is [2, id, action, {payload}]"))
            return
        action = msg[2]
        if not self.station.may_answer():
            await self._send(call_error(uid, "SecurityError", "the CSMS rejected this station's BootNotification"))
            return
        if action not in KNOWN_ACTIONS:
            await self._send(call_error(uid, "NotImplemented", f"{action} is not an OCPP 2.0.1 action"))
            return
        if "_on_action" not in self.route_map.get(action, {}):
            await self._send(call_error(uid, "NotSupported", f"{action} is not supported by this station"))
            return
        try:
            await self._handle_call(Call(uid, action, msg[3]))
        except OCPPError as error:
            if isinstance(error, ProtocolError) and "required" in str(error.details.get("cause", "")):
                error = OccurrenceConstraintViolationError(details=error.details)
            log.info("%s %s refused: %s", action, uid, error)
            details = {k: str(v)[:200] for k, v in (error.details or {}).items() if k != "ocpp_message"}
            await self._send(call_error(uid, error.code, error.description or "", details))

    # --- provisioning ----------------------------------------------------------------------
    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data: list, **_: Any) -> Any:
        return call_result.GetVariables(get_variable_result=self.station.get_variables(to_camel(get_variable_data)))

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data: list, **_: Any) -> Any:
        return call_result.SetVariables(set_variable_result=self.station.set_variables(to_camel(set_variable_data)))

    @on(Action.get_base_report)
    def on_get_base_report(self, request_id: int, report_base: str, **_: Any) -> Any:
        return call_result.GetBaseReport(status=self.station.base_report_status(report_base))

    @after(Action.get_base_report)
    async def after_get_base_report(self, request_id: int, report_base: str, **_: Any) -> None:
        await self.station.send_base_report(request_id, report_base)

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, evse: dict | None = None, **_: Any) -> Any:
        return call_result.TriggerMessage(status=self.station.trigger_status(requested_message, to_camel(evse)))

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message: str, evse: dict | None = None, **_: Any) -> None:
        await self.station.run_trigger(requested_message, to_camel(evse))

    # --- availability and transactions ------------------------------------------------------
    @on(Action.change_availability)
    def on_change_availability(self, operational_status: str, evse: dict | None = None, **_: Any) -> Any:
        return call_result.ChangeAvailability(status=self.station.availability_status(operational_status,
                                                                                      to_camel(evse)))

    @after(Action.change_availability)
    async def after_change_availability(self, operational_status: str, evse: dict | None = None, **_: Any) -> None:
        await self.station.change_availability(operational_status, to_camel(evse))

    @on(Action.request_start_transaction)
    def on_request_start(self, id_token: dict, remote_start_id: int, evse_id: int | None = None, **_: Any) -> Any:
        status, tx_id = self.station.request_start(to_camel(id_token), remote_start_id, evse_id)
        return call_result.RequestStartTransaction(status=status, transaction_id=tx_id)

    @after(Action.request_start_transaction)
    async def after_request_start(self, id_token: dict, remote_start_id: int, evse_id: int | None = None,
                                  **_: Any) -> None:
        await self.station.run_remote_start()

    @on(Action.request_stop_transaction)
    def on_request_stop(self, transaction_id: str, **_: Any) -> Any:
        return call_result.RequestStopTransaction(status=self.station.request_stop(transaction_id))

    @after(Action.request_stop_transaction)
    async def after_request_stop(self, transaction_id: str, **_: Any) -> None:
        await self.station.run_remote_stop(transaction_id)

    @on(Action.get_transaction_status)
    def on_get_transaction_status(self, transaction_id: str | None = None, **_: Any) -> Any:
        queued, ongoing = self.station.transaction_status(transaction_id)
        return call_result.GetTransactionStatus(messages_in_queue=queued, ongoing_indicator=ongoing)

    # --- smart charging --------------------------------------------------------------------
    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict, **_: Any) -> Any:
        status, reason = self.station.set_charging_profile(evse_id, to_camel(charging_profile))
        return call_result.SetChargingProfile(status=status, status_info={"reason_code": reason} if reason else None)

    @after(Action.set_charging_profile)
    async def after_set_charging_profile(self, **_: Any) -> None:
        await self.station.apply_limits()

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, charging_profile_id: int | None = None,
                                  charging_profile_criteria: dict | None = None, **_: Any) -> Any:
        return call_result.ClearChargingProfile(
            status=self.station.clear_charging_profile(charging_profile_id, to_camel(charging_profile_criteria)))

    @after(Action.clear_charging_profile)
    async def after_clear_charging_profile(self, **_: Any) -> None:
        await self.station.apply_limits()

    @on(Action.get_charging_profiles)
    def on_get_charging_profiles(self, request_id: int, charging_profile: dict, evse_id: int | None = None,
                                 **_: Any) -> Any:
        return call_result.GetChargingProfiles(
            status=self.station.get_charging_profiles(request_id, evse_id, to_camel(charging_profile)))

    @after(Action.get_charging_profiles)
    async def after_get_charging_profiles(self, request_id: int, **_: Any) -> None:
        await self.station.send_charging_profiles(request_id)

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, duration: int, evse_id: int, charging_rate_unit: str | None = None,
                                  **_: Any) -> Any:
        status, schedule = self.station.composite_schedule(duration, evse_id, charging_rate_unit)
        return call_result.GetCompositeSchedule(status=status, schedule=schedule,
                                                status_info=None if schedule else {"reason_code": "UnknownEvse"})

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> Any:
        return call_result.ClearCache(status=self.station.clear_cache())

    # --- operations: Reset, SetNetworkProfile, local list, UnlockConnector, GetLog ----------
    # (decisions in reset.py, netprofile.py, locallist.py, logupload.py; D-Bus via the station)
    @on(Action.reset)
    def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> Any:  # noqa: A002 - the library's name
        return call_result.Reset(status=self.station.resets.request(type, evse_id))

    @after(Action.reset)
    async def after_reset(self, **_: Any) -> None:
        await self.station.resets.run_pending()

    @on(Action.set_network_profile)
    def on_set_network_profile(self, configuration_slot: int, connection_data: dict, **_: Any) -> Any:
        status, reason = self.station.set_network_profile(configuration_slot, to_camel(connection_data))
        return call_result.SetNetworkProfile(status=status,
                                             status_info={"reason_code": reason} if reason else None)

    @on(Action.send_local_list)
    async def on_send_local_list(self, version_number: int, update_type: str,
                                 local_authorization_list: list | None = None, **_: Any) -> Any:
        status = await self.station.send_local_list(version_number, update_type,
                                                    to_camel(local_authorization_list) or [])
        return call_result.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self, **_: Any) -> Any:
        return call_result.GetLocalListVersion(version_number=await self.station.local_list_version())

    @on(Action.unlock_connector)
    async def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        return call_result.UnlockConnector(status=await self.station.unlock_connector(evse_id, connector_id))

    @on(Action.reserve_now)
    async def on_reserve_now(self, id: int, expiry_date_time: str, id_token: dict,  # noqa: A002 - OCPP's name
                             evse_id: int | None = None, group_id_token: dict | None = None,
                             connector_type: str | None = None, **_: Any) -> Any:
        status = await self.station.reserve_now(id, expiry_date_time, to_camel(id_token), evse_id,
                                                to_camel(group_id_token), connector_type)
        return call_result.ReserveNow(status=status)

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        return call_result.CancelReservation(status=await self.station.cancel_reservation(reservation_id))

    @on(Action.get_log)
    def on_get_log(self, log: dict, log_type: str, request_id: int, retries: int | None = None,
                   retry_interval: int | None = None, **_: Any) -> Any:
        status, filename = self.station.logs.request(to_camel(log), log_type, request_id, retries, retry_interval)
        return call_result.GetLog(status=status, filename=filename)

    @after(Action.get_log)
    async def after_get_log(self, **_: Any) -> None:
        self.station.logs.start_pending()
    # --- security (block A): certificates; decisions in ocpp/security.py ----------------------
    @on(Action.certificate_signed)
    def on_certificate_signed(self, certificate_chain: str, certificate_type: str | None = None, **_: Any) -> Any:
        status, why = self.station.security.certificate_signed(certificate_chain, certificate_type)
        return call_result.CertificateSigned(status=status, status_info=_info(why))

    @after(Action.certificate_signed)
    async def after_certificate_signed(self, **_: Any) -> None:
        self.station.security.after_certificate_signed()

    @on(Action.install_certificate)
    def on_install_certificate(self, certificate_type: str, certificate: str, **_: Any) -> Any:
        status, why = self.station.security.install(certificate_type, certificate)
        return call_result.InstallCertificate(status=status, status_info=_info(why))

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(self, certificate_type: list | None = None, **_: Any) -> Any:
        chain = self.station.security.installed_ids(certificate_type)
        return call_result.GetInstalledCertificateIds(status="Accepted" if chain else "NotFound",
                                                      certificate_hash_data_chain=chain or None)

    @on(Action.delete_certificate)
    def on_delete_certificate(self, certificate_hash_data: dict, **_: Any) -> Any:
        status, why = self.station.security.delete(to_camel(certificate_hash_data))
        return call_result.DeleteCertificate(status=status, status_info=_info(why))
    # --- firmware (firmware.py: the update service does the work) ----------------------------
    @on(Action.update_firmware)
    async def on_update_firmware(self, request_id: int, firmware: dict, retries: int | None = None,
                                 retry_interval: int | None = None, **_: Any) -> Any:
        status = await self.station.firmware.answer(request_id, to_camel(firmware), retries, retry_interval)
        return call_result.UpdateFirmware(status=status)

    @after(Action.update_firmware)
    async def after_update_firmware(self, **_: Any) -> None:
        await self.station.firmware.install()

    # --- customer information (N09/N10) and DataTransfer (P01) ----------------------------------
    @on(Action.customer_information)
    def on_customer_information(self, request_id: int, report: bool, clear: bool, id_token: dict | None = None,
                                customer_identifier: str | None = None, customer_certificate: dict | None = None,
                                **_: Any) -> Any:
        req = customer.Request(report, clear, to_camel(id_token), customer_identifier, to_camel(customer_certificate))
        status, why, parts = self.station.customer_information(req)
        self._customer_parts = (request_id, parts)
        return call_result.CustomerInformation(status=status, status_info=_info(why))

    @after(Action.customer_information)
    async def after_customer_information(self, **_: Any) -> None:
        request_id, parts = getattr(self, "_customer_parts", (0, []))
        self._customer_parts = (0, [])
        if parts:
            await self.station.send_customer_information(request_id, parts)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, message_id: str | None = None, data: Any = None, **_: Any) -> Any:
        # No vendor extensions: every vendorId is unknown (P01.FR.06).
        log.info("DataTransfer from vendor %r, message %r: UnknownVendorId", vendor_id, message_id)
        return call_result.DataTransfer(status="UnknownVendorId")


def _info(why: str | None) -> dict | None:
    """statusInfo for a refusal: reasonCode plus the human reason (additionalInfo is string[512])."""
    return {"reason_code": "InvalidValue", "additional_info": why[:512]} if why else None
