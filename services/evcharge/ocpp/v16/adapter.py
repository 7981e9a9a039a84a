"""The `ocpp` library's 1.6 ChargePoint as a thin adapter between the WebSocket and the station.

As in the 2.0.1 adapter, `@on` handlers only ask the station for a decision and `@after`
handlers do what sends a CALL or calls another service. Frames are checked before the library
sees them; OCPP-J 1.6 (4.2.3) has its own error codes (no RpcFrameworkError, no
MessageTypeNotSupported, "FormationViolation", "OccurenceConstraintViolation"):

- not JSON, not an array, no readable message id, unknown MessageTypeId, a frame larger than
  MAX_FRAME_BYTES                                -> FormationViolation (id "-1" if unreadable)
- an action OCPP 1.6 does not define            -> NotImplemented
- a 1.6 action this station does not handle     -> NotSupported
- a payload against the schema                  -> FormationViolation / TypeConstraintViolation,
  a missing required field ProtocolError ("payload incomplete"), a value outside an
  enumeration PropertyConstraintViolation (errata v4.0 3.24)
- while the CSMS has Rejected the station       -> SecurityError
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from typing import TYPE_CHECKING, Any

from ocpp import messages as ocpp_messages
from ocpp.charge_point import camel_to_snake_case
from ocpp.exceptions import OCPPError, PropertyConstraintViolationError
from ocpp.messages import Call, MessageType
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from ..adapter import call_error, to_camel
from ..logupload import DIAGNOSTICS16, LOG16
from .maintenance import diagnostics_log, log_parameters, retry_options

if TYPE_CHECKING:
    from .service import Ocpp16Service

ocpp_messages.ASYNC_VALIDATION = False

log = logging.getLogger("evcharge.ocpp.link16")

KNOWN_ACTIONS = {a.value for a in Action}
MAX_ID_LEN = 36
MAX_FRAME_BYTES = 65000
_ID_RX = re.compile(rb'^\s*\[\s*\d+\s*,\s*"([^"\\]{1,36})"')


def make_call16(action: str, payload: dict[str, Any]) -> Any:
    """A 1.6 library request object from a camelCase payload (as stored in the queue). The
    library's dataclasses require some fields the schemas make optional (requestId of
    LogStatusNotification and SignedFirmwareStatusNotification): absent ones are passed as None,
    which the library drops before validating against the schema."""
    cls = getattr(call, action)
    kwargs = camel_to_snake_case(payload)
    for f in dataclasses.fields(cls):
        if f.name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            kwargs[f.name] = None
    return cls(**kwargs)


def _error16(error: OCPPError) -> tuple[str, str]:
    cause = str((error.details or {}).get("cause", ""))
    if error.code == "ProtocolError" and "required" in cause:
        return "ProtocolError", "payload incomplete: " + cause
    if error.code == "FormatViolation":
        if "is not one of" in cause:
            return "PropertyConstraintViolation", cause
        return "FormationViolation", error.description or cause
    if error.code == "OccurrenceConstraintViolation":
        return "OccurenceConstraintViolation", error.description or cause
    return error.code, error.description or cause


class Link16(ChargePoint):
    def __init__(self, station_id: str, connection: Any, station: Ocpp16Service, *, response_timeout: float) -> None:
        super().__init__(station_id, connection, response_timeout=response_timeout, logger=log)
        self.station = station

    async def start(self) -> None:
        while True:
            message = await self._connection.recv()
            log.debug("%s: receive %s", self.id, message if len(message) < 2000 else message[:2000] + "...")
            await self.route_message(message)

    async def _send(self, message: str) -> None:
        log.debug("%s: send %s", self.id, message)
        await self._connection.send(message)

    async def route_message(self, raw_msg: str | bytes) -> None:
        raw = raw_msg.encode() if isinstance(raw_msg, str) else raw_msg
        if len(raw) > MAX_FRAME_BYTES:
            m = _ID_RX.match(raw[:200])
            await self._send(call_error(m.group(1).decode() if m else "-1", "FormationViolation",
                                        f"message of {len(raw)} bytes exceeds {MAX_FRAME_BYTES}"))
            return
        try:
            msg = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            await self._send(call_error("-1", "FormationViolation", "message is not valid JSON"))
            return
        if not isinstance(msg, list) or len(msg) < 3 or not isinstance(msg[0], int) or isinstance(msg[0], bool):
            uid = msg[1] if isinstance(msg, list) and len(msg) > 1 and isinstance(msg[1], str) else "-1"
            await self._send(call_error(uid[:MAX_ID_LEN], "FormationViolation", "not an OCPP-J message array"))
            return
        kind, uid = msg[0], msg[1]
        if not isinstance(uid, str) or not uid or len(uid) > MAX_ID_LEN:
            await self._send(call_error("-1", "FormationViolation", "message id must be a string of 1..36 characters"))
            return
        if kind in (MessageType.CallResult, MessageType.CallError):
            await super().route_message(raw_msg)
            return
        if kind != MessageType.Call or len(msg) != 4 or not isinstance(msg[2], str) or not isinstance(msg[3], dict):
            await self._send(call_error(uid, "FormationViolation", "a CALL is [2, id, action, {payload}]"))
            return
        action = msg[2]
        if not self.station.may_answer():
            await self._send(call_error(uid, "SecurityError", "the Central System rejected this Charge Point"))
            return
        if action not in KNOWN_ACTIONS:
            await self._send(call_error(uid, "NotImplemented", f"{action} is not an OCPP 1.6 action"))
            return
        if "_on_action" not in self.route_map.get(action, {}):
            await self._send(call_error(uid, "NotSupported", f"{action} is not supported by this Charge Point"))
            return
        try:
            await self._handle_call(Call(uid, action, msg[3]))
        except OCPPError as error:
            code, description = _error16(error)
            log.info("%s %s refused: %s %s", action, uid, code, description)
            details = {k: str(v)[:200] for k, v in (error.details or {}).items() if k != "ocpp_message"}
            await self._send(call_error(uid, code, description, details))

    # --- Core profile -------------------------------------------------------------------------
    @on(Action.get_configuration)
    def on_get_configuration(self, key: list | None = None, **_: Any) -> Any:
        known, unknown = self.station.conf.get_configuration(key)
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        return call_result.ChangeConfiguration(status=self.station.change_configuration(key, value))

    @after(Action.change_configuration)
    async def after_change_configuration(self, **_: Any) -> None:
        self.station.after_change_configuration()

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag: str, connector_id: int | None = None, charging_profile: dict | None = None,
                        **_: Any) -> Any:
        return call_result.RemoteStartTransaction(
            status=self.station.remote_start_status(id_tag, connector_id, to_camel(charging_profile)))

    @after(Action.remote_start_transaction)
    async def after_remote_start(self, **_: Any) -> None:
        await self.station.run_remote_start()

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id: int, **_: Any) -> Any:
        return call_result.RemoteStopTransaction(status=self.station.remote_stop_status(transaction_id))

    @after(Action.remote_stop_transaction)
    async def after_remote_stop(self, transaction_id: int, **_: Any) -> None:
        await self.station.run_remote_stop(transaction_id)

    @on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str, **_: Any) -> Any:  # noqa: A002 - the field's name
        return call_result.ChangeAvailability(status=self.station.availability_status(connector_id, type))

    @after(Action.change_availability)
    async def after_change_availability(self, **_: Any) -> None:
        await self.station.change_availability()

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> Any:  # noqa: A002
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    async def after_reset(self, type: str, **_: Any) -> None:  # noqa: A002
        await self.station.reset(type)

    @on(Action.unlock_connector)
    async def on_unlock_connector(self, connector_id: int, **_: Any) -> Any:
        # awaits evse over D-Bus, never an OCPP call: no deadlock of the receive loop
        return call_result.UnlockConnector(status=await self.station.unlock_connector(connector_id))

    @on(Action.reserve_now)
    async def on_reserve_now(self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int,
                             parent_id_tag: str | None = None, **_: Any) -> Any:
        status = await self.station.reserve_now(connector_id, expiry_date, id_tag, reservation_id, parent_id_tag)
        return call_result.ReserveNow(status=status)

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        return call_result.CancelReservation(status=await self.station.cancel_reservation(reservation_id))

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> Any:
        return call_result.ClearCache(status=self.station.clear_cache())

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, message_id: str | None = None, data: str | None = None,
                         **_: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, connector_id: int | None = None, **_: Any) -> Any:
        return call_result.TriggerMessage(status=self.station.trigger_status(requested_message, connector_id))

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message: str, connector_id: int | None = None, **_: Any) -> None:
        await self.station.run_trigger(requested_message, connector_id)

    # --- security extension: ExtendedTriggerMessage (the TriggerMessage messages and
    # SignChargePointCertificate; LogStatusNotification / SignedFirmwareStatusNotification are
    # NotImplemented) and certificate management (decisions in v16/security.py)
    @on(Action.extended_trigger_message)
    def on_extended_trigger_message(self, requested_message: str, connector_id: int | None = None, **_: Any) -> Any:
        return call_result.ExtendedTriggerMessage(
            status=self.station.trigger_status(requested_message, connector_id, extended=True))

    @after(Action.extended_trigger_message)
    async def after_extended_trigger_message(self, requested_message: str, connector_id: int | None = None,
                                             **_: Any) -> None:
        await self.station.run_trigger(requested_message, connector_id, extended=True)

    @on(Action.certificate_signed)
    def on_certificate_signed(self, certificate_chain: str, **_: Any) -> Any:
        return call_result.CertificateSigned(status=self.station.sec.certificate_signed(certificate_chain))

    @after(Action.certificate_signed)
    async def after_certificate_signed(self, **_: Any) -> None:
        self.station.sec.after_certificate_signed()

    @on(Action.install_certificate)
    def on_install_certificate(self, certificate_type: str, certificate: str, **_: Any) -> Any:
        return call_result.InstallCertificate(status=self.station.sec.install(certificate_type, certificate))

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(self, certificate_type: str, **_: Any) -> Any:
        found = self.station.sec.installed_ids(certificate_type)
        return call_result.GetInstalledCertificateIds(status="Accepted" if found else "NotFound",
                                                      certificate_hash_data=found or None)

    @on(Action.delete_certificate)
    def on_delete_certificate(self, certificate_hash_data: dict, **_: Any) -> Any:
        return call_result.DeleteCertificate(status=self.station.sec.delete(to_camel(certificate_hash_data)))

    # --- Local Auth List Management (the auth service keeps the list) ---------------------------
    @on(Action.send_local_list)
    async def on_send_local_list(self, list_version: int, update_type: str,
                                 local_authorization_list: list | None = None, **_: Any) -> Any:
        status = await self.station.send_local_list(list_version, update_type,
                                                    to_camel(local_authorization_list) or [])
        return call_result.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self, **_: Any) -> Any:
        return call_result.GetLocalListVersion(list_version=await self.station.local_list_version())

    # --- Firmware Management and the security extension's secure firmware update --------------
    # (decisions in ocpp/firmware.py, shared with 2.0.1; the update service does the work)
    @on(Action.update_firmware)
    async def on_update_firmware(self, location: str, retrieve_date: str, retries: int | None = None,
                                 retry_interval: int | None = None, **_: Any) -> Any:
        try:
            await self.station.update_firmware(location, retrieve_date, retries, retry_interval)
        except ValueError as e:
            raise PropertyConstraintViolationError(description=str(e)) from None
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    async def after_update_firmware(self, **_: Any) -> None:
        await self.station.firmware.install()

    @on(Action.signed_update_firmware)
    async def on_signed_update_firmware(self, request_id: int, firmware: dict, retries: int | None = None,
                                        retry_interval: int | None = None, **_: Any) -> Any:
        try:
            status = await self.station.signed_update_firmware(request_id, to_camel(firmware), retries,
                                                               retry_interval)
        except ValueError as e:
            raise PropertyConstraintViolationError(description=str(e)) from None
        return call_result.SignedUpdateFirmware(status=status)

    @after(Action.signed_update_firmware)
    async def after_signed_update_firmware(self, **_: Any) -> None:
        await self.station.firmware.install()

    # --- GetDiagnostics and the security extension's GetLog (ocpp/logupload.py uploads) -----------
    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location: str, retries: int | None = None, retry_interval: int | None = None,
                           start_time: str | None = None, stop_time: str | None = None, **_: Any) -> Any:
        try:
            log_data = diagnostics_log(location, start_time, stop_time)
        except ValueError as e:
            raise PropertyConstraintViolationError(description=str(e)) from None
        retries, retry_interval = retry_options(retries, retry_interval)
        status, filename = self.station.logs.request(log_data, "DiagnosticsLog", 0, retries, retry_interval,
                                                     report=DIAGNOSTICS16)
        # 6.21: no fileName when no diagnostics will be uploaded (a location that is not http(s))
        return call_result.GetDiagnostics(file_name=filename if status != "Rejected" else None)

    @after(Action.get_diagnostics)
    async def after_get_diagnostics(self, **_: Any) -> None:
        self.station.logs.start_pending()

    @on(Action.get_log)
    def on_get_log(self, log: dict, log_type: str, request_id: int, retries: int | None = None,
                   retry_interval: int | None = None, **_: Any) -> Any:
        try:
            log_data = log_parameters(to_camel(log))
        except ValueError as e:
            raise PropertyConstraintViolationError(description=str(e)) from None
        retries, retry_interval = retry_options(retries, retry_interval)
        status, filename = self.station.logs.request(log_data, log_type, request_id, retries, retry_interval,
                                                     report=LOG16)
        return call_result.GetLog(status=status, filename=filename if status != "Rejected" else None)

    @after(Action.get_log)
    async def after_get_log(self, **_: Any) -> None:
        self.station.logs.start_pending()

    # --- Smart Charging profile --------------------------------------------------------------
    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict, **_: Any) -> Any:
        return call_result.SetChargingProfile(
            status=self.station.set_charging_profile(connector_id, to_camel(cs_charging_profiles)))

    @after(Action.set_charging_profile)
    async def after_set_charging_profile(self, **_: Any) -> None:
        await self.station.apply_limits()

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id: int, duration: int, charging_rate_unit: str | None = None,
                                  **_: Any) -> Any:
        result = self.station.composite_schedule(connector_id, duration, charging_rate_unit)
        if result is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        start, schedule = result
        return call_result.GetCompositeSchedule(status="Accepted", connector_id=connector_id, schedule_start=start,
                                                charging_schedule=schedule)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, id: int | None = None, connector_id: int | None = None,  # noqa: A002
                                  charging_profile_purpose: str | None = None, stack_level: int | None = None,
                                  **_: Any) -> Any:
        return call_result.ClearChargingProfile(
            status=self.station.clear_charging_profile(id, connector_id, charging_profile_purpose, stack_level))

    @after(Action.clear_charging_profile)
    async def after_clear_charging_profile(self, **_: Any) -> None:
        await self.station.apply_limits()
