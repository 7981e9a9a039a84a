"""OCPP 1.6J Firmware Management (UpdateFirmware -> FirmwareStatusNotification) and the security
extension's secure firmware update (SignedUpdateFirmware -> SignedFirmwareStatusNotification)
against csms16, through the real OCPP and update services on the private bus with the RAUC
simulator (evcharge.sim.rauc) as the installer, a bundle served over HTTP by the test, and a
firmware signing certificate issued under a ManufacturerRootCertificate installed with
InstallCertificate. The reboot is simulated by restarting both services with the simulator
booted from the written slot (the real one runs in QEMU: tests/system/test_ota.py).
"""

from __future__ import annotations

import pytest
from evcharge.common import names
from evcharge.common.bus import get_all
from evcharge.sil.supervisor import ServiceSpec
from ocpp.exceptions import OCPPError

from .firmware_helpers import FIRMWARE, ago, in_seconds, reboot_into_new_slot

CARD = "04A1B2C3"  # in the auth service's local list (conftest)
SIGNED = "SignedFirmwareStatusNotification"


async def start(start_ocpp16, csms16, signer=None, *, update: bool = True):
    stack = await start_ocpp16()
    if update:
        # It looks for RAUC up to 30 s when none is on the bus; the simulator answers at once.
        await stack.sup.start(ServiceSpec("update", []), timeout_s=120)
    if signer is not None:
        answer = await csms16.call("InstallCertificate", {"certificateType": "ManufacturerRootCertificate",
                                                          "certificate": signer.root.cert_pem})
        assert answer["status"] == "Accepted"
    return stack


def core(csms16) -> list[str]:
    return [p["status"] for p in csms16.received("FirmwareStatusNotification")]


def signed(csms16, request_id: int) -> list[str]:
    return [p["status"] for p in csms16.received(SIGNED) if p.get("requestId") == request_id]


async def until_core(csms16, status: str, count: int = 1, timeout: float = 60) -> list[str]:
    await csms16.wait_for("FirmwareStatusNotification", count, timeout=timeout, where=lambda p: p["status"] == status)
    return core(csms16)


async def until_signed(csms16, request_id: int, status: str, timeout: float = 60) -> list[str]:
    await csms16.wait_for(SIGNED, timeout=timeout,
                          where=lambda p: p.get("requestId") == request_id and p["status"] == status)
    return signed(csms16, request_id)


def events(csms16, kind: str) -> list[dict]:
    return [p for p in csms16.received("SecurityEventNotification") if p["type"] == kind]


def signed_request(files, signer, request_id: int, *, path: str = "/fw.raucb", retrieve: str | None = None,
                   install: str | None = None, signature: str | None = None, certificate: str | None = None,
                   **extra) -> dict:
    fw = {"location": files.base + path, "retrieveDateTime": retrieve or ago(),
          "signingCertificate": certificate or signer.leaf.cert_pem, "signature": signature or signer.signature()}
    if install:
        fw["installDateTime"] = install
    return {"requestId": request_id, "firmware": fw, **extra}


async def trigger(csms16, extended: bool = False) -> str:
    action = "ExtendedTriggerMessage" if extended else "TriggerMessage"
    return (await csms16.call(action, {"requestedMessage": "FirmwareStatusNotification"}))["status"]


# --- core UpdateFirmware ----------------------------------------------------------------------------
async def test_update_firmware_waits_for_the_transaction_installs_and_reports_core_statuses(
        start_ocpp16, csms16, rauc, files):
    """Downloading, Downloaded during a transaction, no install until it ends (the update service
    schedules it); TriggerMessage then says Downloaded; after the transaction Installing, and
    Installed after the reboot into the new slot; then Idle on TriggerMessage. No requestId,
    only core statuses (none of the security extension's)."""
    stack = await start(start_ocpp16, csms16)
    assert await trigger(csms16) == "Accepted"
    await csms16.wait_for("FirmwareStatusNotification")
    assert csms16.received("FirmwareStatusNotification") == [{"status": "Idle"}]
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await csms16.wait_for("StartTransaction")
    answer = await csms16.call("UpdateFirmware", {"location": files.base + "/fw.raucb", "retrieveDate": ago(),
                                                  "retries": 1, "retryInterval": 1})
    assert answer == {}
    assert await until_core(csms16, "Downloaded") == ["Idle", "Downloading", "Downloaded"]
    await stack.wait(lambda: get_all(stack.bus, names.UPDATE, names.UPDATE_PATH, names.UPDATE),
                     lambda p: p["Status"] == "InstallScheduled", timeout=60, what_name="the install scheduled")
    assert rauc.installs == []
    assert await trigger(csms16) == "Accepted"
    assert await until_core(csms16, "Downloaded", 2) == ["Idle", "Downloading", "Downloaded", "Downloaded"]
    await stack.sim(1, "Unplug")
    await csms16.wait_for("StopTransaction", timeout=30)
    assert await until_core(csms16, "Installing") == ["Idle", "Downloading", "Downloaded", "Downloaded", "Installing"]
    await stack.wait(lambda: get_all(stack.bus, names.UPDATE, names.UPDATE_PATH, names.UPDATE),
                     lambda p: p["Status"] == "InstallRebooting", timeout=60, what_name="the install written")
    assert len(rauc.installs) == 1
    await reboot_into_new_slot(stack, rauc)
    assert await until_core(csms16, "Installed") == ["Idle", "Downloading", "Downloaded", "Downloaded", "Installing",
                                                     "Installed"]
    assert await trigger(csms16) == "Accepted"
    assert (await until_core(csms16, "Idle", 2))[-1] == "Idle"
    assert csms16.received(SIGNED) == []
    await csms16.wait_for("SecurityEventNotification", timeout=30, where=lambda p: p["type"] == "FirmwareUpdated")


async def test_update_firmware_that_cannot_be_carried_out_reports_download_failed(start_ocpp16, csms16, files):
    """UpdateFirmware.conf has no status: a location that is not an http(s) or ftp(s) URL, a download that
    fails after its retries, or no update service -> FirmwareStatusNotification DownloadFailed."""
    stack = await start(start_ocpp16, csms16, update=False)
    assert await csms16.call("UpdateFirmware", {"location": files.base + "/fw.raucb",
                                                "retrieveDate": ago()}) == {}
    assert await until_core(csms16, "DownloadFailed") == ["DownloadFailed"]   # no update service
    await stack.sup.start(ServiceSpec("update", []), timeout_s=120)
    for n, location in enumerate(("sftp://127.0.0.1/fw.raucb", "file:///etc/passwd", "not a url"), start=2):
        assert await csms16.call("UpdateFirmware", {"location": location, "retrieveDate": ago()}) == {}
        assert await until_core(csms16, "DownloadFailed", n) == ["DownloadFailed"] * n
    assert await csms16.call("UpdateFirmware", {"location": files.base + "/missing.raucb", "retrieveDate": ago(),
                                                "retries": 2, "retryInterval": 1}) == {}
    assert await until_core(csms16, "DownloadFailed", 5) == ["DownloadFailed"] * 4 + ["Downloading", "DownloadFailed"]
    assert files.gets.count("/missing.raucb") == 3


async def test_update_firmware_bad_dates_get_a_callerror(start_ocpp16, csms16, files):
    await start(start_ocpp16, csms16, update=False)
    with pytest.raises(OCPPError) as e:
        await csms16.call("UpdateFirmware", {"location": files.base + "/fw.raucb", "retrieveDate": "yesterday"})
    assert e.value.code == "PropertyConstraintViolation"
    await csms16.send_raw('[2, "u1", "UpdateFirmware", {"location": "http://127.0.0.1/fw.raucb"}]')
    reply = await csms16.wait_raw_reply(lambda d: d[0] == 4 and d[1] == "u1")
    assert reply[2] == "ProtocolError", reply
    assert core(csms16) == []


async def test_update_firmware_scheduled_retrieve_date(start_ocpp16, csms16, rauc, files):
    """A retrieveDate in the future: nothing is downloaded before it (core has no
    DownloadScheduled: TriggerMessage says Idle meanwhile), then Downloading ... Installing."""
    stack = await start(start_ocpp16, csms16)
    assert await csms16.call("UpdateFirmware", {"location": files.base + "/fw.raucb",
                                                "retrieveDate": in_seconds(30)}) == {}
    await stack.wait(lambda: get_all(stack.bus, names.UPDATE, names.UPDATE_PATH, names.UPDATE),
                     lambda p: p["Status"] == "DownloadScheduled", timeout=60, what_name="the download scheduled")
    assert await trigger(csms16) == "Accepted"
    assert await until_core(csms16, "Idle") == ["Idle"]
    assert files.gets == []
    assert await until_core(csms16, "Installing", timeout=180) == ["Idle", "Downloading", "Downloaded", "Installing"]


# --- security extension: SignedUpdateFirmware ---------------------------------------------------
INSTALL = ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting"]


async def test_signed_update_firmware_installed(start_ocpp16, csms16, signer, rauc, files):
    stack = await start(start_ocpp16, csms16, signer)
    answer = await csms16.call("SignedUpdateFirmware", signed_request(files, signer, 201))
    assert answer["status"] == "Accepted"
    assert await until_signed(csms16, 201, "InstallRebooting") == INSTALL
    assert len(rauc.installs) == 1
    await reboot_into_new_slot(stack, rauc)
    assert await until_signed(csms16, 201, "Installed") == [*INSTALL, "Installed"]
    await csms16.wait_for("SecurityEventNotification", timeout=30, where=lambda p: p["type"] == "FirmwareUpdated")
    assert len(events(csms16, "FirmwareUpdated")) == 1
    assert core(csms16) == []
    assert await trigger(csms16, extended=True) == "Accepted"
    await csms16.wait_for(SIGNED, timeout=30, where=lambda p: p["status"] == "Idle")
    assert csms16.received(SIGNED)[-1] == {"status": "Idle"}


async def test_signed_update_firmware_invalid_signing_certificate(start_ocpp16, csms16, signer, rauc, files):
    """A signing certificate that does not chain to an installed ManufacturerRootCertificate:
    InvalidCertificate and SecurityEventNotification InvalidFirmwareSigningCertificate; nothing
    downloaded. Without any manufacturer root installed, the same."""
    from evcharge.sim.pki import Authority
    await start(start_ocpp16, csms16)
    answer = await csms16.call("SignedUpdateFirmware", signed_request(files, signer, 202))
    assert answer["status"] == "InvalidCertificate"
    await csms16.call("InstallCertificate", {"certificateType": "ManufacturerRootCertificate",
                                             "certificate": signer.root.cert_pem})
    stranger = Authority.create("not the manufacturer").issue("firmware signing")
    answer = await csms16.call("SignedUpdateFirmware", signed_request(files, signer, 203,
                                                                      certificate=stranger.cert_pem))
    assert answer["status"] == "InvalidCertificate"
    await csms16.wait_for("SecurityEventNotification", 2, timeout=30,
                          where=lambda p: p["type"] == "InvalidFirmwareSigningCertificate")
    assert csms16.received(SIGNED) == [] and files.gets == [] and rauc.installs == []
    # With a manufacturer root installed only signed updates are taken: a core UpdateFirmware
    # (no answer status) is reported InstallationFailed, nothing downloaded.
    assert await csms16.call("UpdateFirmware", {"location": files.base + "/fw.raucb", "retrieveDate": ago()}) == {}
    assert await until_core(csms16, "InstallationFailed") == ["InstallationFailed"]
    assert files.gets == [] and rauc.installs == []


async def test_signed_update_firmware_invalid_signature(start_ocpp16, csms16, signer, rauc, files):
    await start(start_ocpp16, csms16, signer)
    answer = await csms16.call("SignedUpdateFirmware",
                               signed_request(files, signer, 204, signature=signer.signature(FIRMWARE + b"x")))
    assert answer["status"] == "Accepted"
    assert await until_signed(csms16, 204, "InvalidSignature") == ["Downloading", "Downloaded", "InvalidSignature"]
    await csms16.wait_for("SecurityEventNotification", timeout=30,
                          where=lambda p: p["type"] == "InvalidFirmwareSignature")
    assert rauc.installs == []


async def test_signed_update_firmware_install_verification_failed(start_ocpp16, csms16, signer, rauc, files):
    await start(start_ocpp16, csms16, signer)
    rauc.result, rauc.error = 1, "Failed to check bundle: Compatible mismatch: expected 'evcharge-qemu'"
    answer = await csms16.call("SignedUpdateFirmware", signed_request(files, signer, 205))
    assert answer["status"] == "Accepted"
    assert await until_signed(csms16, 205, "InstallVerificationFailed") == \
        ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallVerificationFailed"]


async def test_signed_update_firmware_download_scheduled_trigger_and_accepted_canceled(
        start_ocpp16, csms16, signer, rauc, files):
    """DownloadScheduled until retrieveDateTime; ExtendedTriggerMessage reports it with its
    requestId; a second request replaces it (AcceptedCanceled) and is installed."""
    await start(start_ocpp16, csms16, signer)
    answer = await csms16.call("SignedUpdateFirmware", signed_request(files, signer, 206, retrieve=in_seconds(600)))
    assert answer["status"] == "Accepted"
    assert await until_signed(csms16, 206, "DownloadScheduled") == ["DownloadScheduled"]
    assert await trigger(csms16, extended=True) == "Accepted"
    await csms16.wait_for(SIGNED, 2, timeout=30)
    assert csms16.received(SIGNED) == [{"status": "DownloadScheduled", "requestId": 206}] * 2
    answer = await csms16.call("SignedUpdateFirmware", signed_request(files, signer, 207))
    assert answer["status"] == "AcceptedCanceled"
    assert await until_signed(csms16, 207, "InstallRebooting") == INSTALL
    assert signed(csms16, 206) == ["DownloadScheduled", "DownloadScheduled"]
    assert len(rauc.installs) == 1


async def test_signed_update_firmware_while_installing_is_rejected(start_ocpp16, csms16, signer, rauc, files):
    await start(start_ocpp16, csms16, signer)
    rauc.hold = True                 # the install runs until released: cannot be cancelled
    assert (await csms16.call("SignedUpdateFirmware", signed_request(files, signer, 208)))["status"] == "Accepted"
    await until_signed(csms16, 208, "Installing")
    assert (await csms16.call("SignedUpdateFirmware", signed_request(files, signer, 209)))["status"] == "Rejected"
    rauc.release(0)
    assert await until_signed(csms16, 208, "InstallRebooting") == INSTALL
    assert signed(csms16, 209) == []


async def test_signed_update_firmware_install_scheduled_during_a_transaction(start_ocpp16, csms16, signer, rauc,
                                                                             files):
    stack = await start(start_ocpp16, csms16, signer)
    await stack.sim(1, "PlugIn", "d", 220.0)
    await stack.tap(CARD)
    await csms16.wait_for("StartTransaction")
    answer = await csms16.call("SignedUpdateFirmware", signed_request(files, signer, 210))
    assert answer["status"] == "Accepted"
    assert await until_signed(csms16, 210, "InstallScheduled") == ["Downloading", "Downloaded", "SignatureVerified",
                                                                   "InstallScheduled"]
    assert rauc.installs == []
    await stack.sim(1, "Unplug")
    await csms16.wait_for("StopTransaction", timeout=30)
    assert await until_signed(csms16, 210, "InstallRebooting") == ["Downloading", "Downloaded", "SignatureVerified",
                                                                   "InstallScheduled", "Installing",
                                                                   "InstallRebooting"]


async def test_signed_update_firmware_bad_date_gets_a_callerror(start_ocpp16, csms16, signer, files):
    await start(start_ocpp16, csms16, signer, update=False)
    with pytest.raises(OCPPError) as e:
        await csms16.call("SignedUpdateFirmware", signed_request(files, signer, 211, retrieve="31/12/2026"))
    assert e.value.code == "PropertyConstraintViolation"
    answer = await csms16.call("SignedUpdateFirmware", signed_request(files, signer, 212))
    assert answer["status"] == "Rejected"    # no update service on the bus
