"""OCPP 1.6J Firmware Management and diagnostics requests as the shared 2.0.1 building blocks
take them (pure).

- UpdateFirmware (core, 6.48) and SignedUpdateFirmware (security extension) become the `firmware`
  dict `ocpp.firmware.FirmwareAgent.answer` takes; the update service does the work.
- GetDiagnostics (core, 6.21) and GetLog (security extension) become the `log` dict
  `ocpp.logupload.LogUploader.request` takes.

1.6 date-times are UTC; one without an offset is read as UTC (the update service insists on an
offset). A date-time that does not parse is refused with PropertyConstraintViolation by the
adapter: the field is syntactically a string, its value is not valid (OCPP-J 1.6 4.2.3).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def utc_time(value: Any, field: str) -> str | None:
    """An RFC 3339 UTC date-time string for a 1.6 date-time field (None when absent); ValueError
    naming `field` when it does not parse."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{field}: not a date-time: {text!r}") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def core_firmware(location: str, retrieve_date: Any) -> dict[str, Any]:
    """UpdateFirmware.req as a FirmwareType: no signature, no install time."""
    return {"location": location, "retrieveDateTime": utc_time(retrieve_date, "retrieveDate")}


def signed_firmware(firmware: dict[str, Any]) -> dict[str, Any]:
    """SignedUpdateFirmware.req's FirmwareType with its date-times normalised."""
    out = dict(firmware)
    out["retrieveDateTime"] = utc_time(firmware.get("retrieveDateTime"), "retrieveDateTime")
    install = utc_time(firmware.get("installDateTime"), "installDateTime")
    if install:
        out["installDateTime"] = install
    else:
        out.pop("installDateTime", None)
    return out


def retry_options(retries: int | None, retry_interval: int | None) -> tuple[int | None, int | None]:
    """retries / retryInterval as the update service and the uploader take them: never negative."""
    return (None if retries is None else max(0, int(retries)),
            None if retry_interval is None else max(0, int(retry_interval)))


def diagnostics_log(location: str, start_time: Any, stop_time: Any) -> dict[str, Any]:
    """GetDiagnostics.req as a LogParametersType (a DiagnosticsLog)."""
    log: dict[str, Any] = {"remoteLocation": location}
    oldest, latest = utc_time(start_time, "startTime"), utc_time(stop_time, "stopTime")
    if oldest:
        log["oldestTimestamp"] = oldest
    if latest:
        log["latestTimestamp"] = latest
    return log


def log_parameters(log: dict[str, Any]) -> dict[str, Any]:
    """GetLog.req's LogParametersType with its date-times normalised."""
    out = {"remoteLocation": log.get("remoteLocation", "")}
    for key in ("oldestTimestamp", "latestTimestamp"):
        at = utc_time(log.get(key), key)
        if at:
            out[key] = at
    return out
