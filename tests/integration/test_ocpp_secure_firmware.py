"""OCPP 2.0.1 secure firmware update (use case L01; Part 6 cases TC_L_xx_CS) through the real OCPP
and update services on the private bus, with the RAUC simulator (evcharge.sim.rauc) as the
installer: a bundle served over HTTP from the test, a manufacturer root installed with
InstallCertificate, and the firmware signed (ECDSA, SHA-256) by a certificate issued under it.

The RAUC simulator "writes" the other slot and reports Completed, so the statuses up to
InstallRebooting are real; the reboot is simulated by restarting the update and OCPP services with
the simulator booted from the new slot (the real reboot, GRUB and mark-good run in QEMU:
tests/system/test_ota.py).
"""

from __future__ import annotations

from evcharge.common import names
from evcharge.common.bus import get_all
from evcharge.sil.supervisor import ServiceSpec

from .firmware_helpers import ago, in_seconds, reboot_into_new_slot


async def start(start_ocpp, csms, signer, rauc, *, install_root: bool = True):
    stack = await start_ocpp()
    await stack.sup.start(ServiceSpec("update", []), timeout_s=120)
    if install_root:
        answer = await csms.call("InstallCertificate", {"certificateType": "ManufacturerRootCertificate",
                                                        "certificate": signer.root.cert_pem})
        assert answer["status"] == "Accepted"
    return stack


def request(files, signer, request_id: int, *, path: str = "/fw.raucb", retrieve: str | None = None,
            install: str | None = None, signature: str | None = None, certificate: str | None = None,
            **extra) -> dict:
    fw = {"location": files.base + path, "retrieveDateTime": retrieve or ago(), "installDateTime": install or ago(),
          "signingCertificate": certificate or signer.leaf.cert_pem, "signature": signature or signer.signature()}
    return {"requestId": request_id, "firmware": fw, **extra}


def statuses(csms, request_id: int) -> list[str]:
    return [p["status"] for p in csms.received("FirmwareStatusNotification") if p["requestId"] == request_id]


async def until(csms, request_id: int, status: str, timeout: float = 60) -> list[str]:
    await csms.wait_for("FirmwareStatusNotification", timeout=timeout,
                        where=lambda p: p["requestId"] == request_id and p["status"] == status)
    return statuses(csms, request_id)


def security_events(csms, kind: str) -> list[dict]:
    return [p for p in csms.received("SecurityEventNotification") if p["type"] == kind]


INSTALL = ["Downloaded", "SignatureVerified", "Installing", "InstallRebooting"]


async def test_TC_L_01_CS_secure_firmware_update_installation_successful(start_ocpp, csms, signer, rauc, files):
    stack = await start(start_ocpp, csms, signer, rauc)
    answer = await csms.call("UpdateFirmware", request(files, signer, 101))
    assert answer["status"] == "Accepted"
    assert await until(csms, 101, "InstallRebooting") == ["Downloading", *INSTALL]
    assert len(rauc.installs) == 1 and rauc.primary == "B"
    await reboot_into_new_slot(stack, rauc)
    boots = await csms.wait_for("BootNotification", count=2, timeout=60)
    assert boots[-1]["reason"] == "FirmwareUpdate"
    assert await until(csms, 101, "Installed") == ["Downloading", *INSTALL, "Installed"]
    await csms.wait_for("SecurityEventNotification", timeout=30, where=lambda p: p["type"] == "FirmwareUpdated")
    assert len(security_events(csms, "FirmwareUpdated")) == 1


async def test_TC_L_02_CS_secure_firmware_update_install_scheduled(start_ocpp, csms, signer, rauc, files):
    await start(start_ocpp, csms, signer, rauc)
    answer = await csms.call("UpdateFirmware", request(files, signer, 102, install=in_seconds(20)))
    assert answer["status"] == "Accepted"
    assert await until(csms, 102, "InstallScheduled") == ["Downloading", "Downloaded", "SignatureVerified",
                                                          "InstallScheduled"]
    assert await until(csms, 102, "InstallRebooting") == ["Downloading", "Downloaded", "SignatureVerified",
                                                          "InstallScheduled", "Installing", "InstallRebooting"]


async def test_TC_L_03_CS_secure_firmware_update_download_scheduled(start_ocpp, csms, signer, rauc, files):
    await start(start_ocpp, csms, signer, rauc)
    answer = await csms.call("UpdateFirmware", request(files, signer, 103, retrieve=in_seconds(15)))
    assert answer["status"] == "Accepted"
    assert await until(csms, 103, "DownloadScheduled") == ["DownloadScheduled"]
    assert await until(csms, 103, "InstallRebooting") == ["DownloadScheduled", "Downloading", *INSTALL]


async def test_a_scheduled_download_survives_a_restart_of_both_services(start_ocpp, csms, signer, rauc, files):
    stack = await start(start_ocpp, csms, signer, rauc)
    # The retrieve time leaves the restarts ample margin (they take seconds).
    await csms.call("UpdateFirmware", request(files, signer, 104, retrieve=in_seconds(30)))
    await until(csms, 104, "DownloadScheduled")
    await stack.sup.stop("update")
    await stack.sup.stop("ocpp")
    await stack.sup.start(ServiceSpec("update", []), timeout_s=120)
    props = await get_all(stack.bus, names.UPDATE, names.UPDATE_PATH, names.UPDATE)
    assert props["History"] == ["DownloadScheduled"] and files.gets == []
    await stack.sup.start(ServiceSpec("ocpp", ["--config", str(stack.dir / "ocpp.yaml")]), timeout_s=60)
    assert await until(csms, 104, "InstallRebooting", timeout=120) == ["DownloadScheduled", "Downloading", *INSTALL]


async def test_TC_L_05_CS_secure_firmware_update_invalid_certificate(start_ocpp, csms, signer, rauc, files):
    from evcharge.sim.pki import Authority
    await start(start_ocpp, csms, signer, rauc)
    stranger = Authority.create("not the manufacturer").issue("firmware signing")
    answer = await csms.call("UpdateFirmware", request(files, signer, 105, certificate=stranger.cert_pem))
    assert answer["status"] == "InvalidCertificate"
    await csms.wait_for("SecurityEventNotification", timeout=30,
                        where=lambda p: p["type"] == "InvalidFirmwareSigningCertificate")
    assert statuses(csms, 105) == [] and files.gets == [] and rauc.installs == []


async def test_TC_L_06_CS_secure_firmware_update_invalid_signature(start_ocpp, csms, signer, rauc, files):
    await start(start_ocpp, csms, signer, rauc)
    answer = await csms.call("UpdateFirmware", request(files, signer, 106, signature=signer.signature(b"other")))
    assert answer["status"] == "Accepted"
    assert await until(csms, 106, "InvalidSignature") == ["Downloading", "Downloaded", "InvalidSignature"]
    await csms.wait_for("SecurityEventNotification", timeout=30,
                        where=lambda p: p["type"] == "InvalidFirmwareSignature")
    assert rauc.installs == []          # nothing unsigned reaches the installer


async def test_TC_L_07_CS_secure_firmware_update_download_failed(start_ocpp, csms, signer, rauc, files):
    await start(start_ocpp, csms, signer, rauc)
    answer = await csms.call("UpdateFirmware", request(files, signer, 107, path="/fw.raucb_does_not_exist"))
    assert answer["status"] == "Accepted"
    assert await until(csms, 107, "DownloadFailed") == ["Downloading", "DownloadFailed"]
    # With retries: every attempt is made (retryInterval apart) before DownloadFailed, still one Downloading.
    answer = await csms.call("UpdateFirmware", request(files, signer, 108, path="/missing.raucb", retries=2,
                                                       retryInterval=1))
    assert answer["status"] == "Accepted"
    assert await until(csms, 108, "DownloadFailed") == ["Downloading", "DownloadFailed"]
    assert files.gets.count("/missing.raucb") == 3
    assert rauc.installs == []


async def test_TC_L_08_CS_secure_firmware_update_install_verification_failed(start_ocpp, csms, signer, rauc, files):
    await start(start_ocpp, csms, signer, rauc)
    rauc.result, rauc.error = 1, "Failed to check bundle: Compatible mismatch: expected 'evcharge-qemu'"
    answer = await csms.call("UpdateFirmware", request(files, signer, 109, retrieve=in_seconds(10)))
    assert answer["status"] == "Accepted"
    assert await until(csms, 109, "InstallVerificationFailed") == \
        ["DownloadScheduled", "Downloading", "Downloaded", "SignatureVerified", "Installing",
         "InstallVerificationFailed"]


async def test_TC_L_10_CS_secure_firmware_update_accepted_canceled(start_ocpp, csms, signer, rauc, files):
    await start(start_ocpp, csms, signer, rauc)
    answer = await csms.call("UpdateFirmware", request(files, signer, 110, path="/slow.raucb"))
    assert answer["status"] == "Accepted"
    await until(csms, 110, "Downloading")
    answer = await csms.call("UpdateFirmware", request(files, signer, 111))
    assert answer["status"] == "AcceptedCanceled"
    assert await until(csms, 111, "InstallRebooting") == ["Downloading", *INSTALL]
    files.release.set()              # the cancelled download's server side ends
    assert statuses(csms, 110) == ["Downloading"]
    assert len(rauc.installs) == 1


async def test_TC_L_11_CS_secure_firmware_update_unable_to_cancel(start_ocpp, csms, signer, rauc, files):
    stack = await start(start_ocpp, csms, signer, rauc)
    rauc.hold = True                 # the install runs until released: cannot be cancelled
    answer = await csms.call("UpdateFirmware", request(files, signer, 112))
    assert answer["status"] == "Accepted"
    await until(csms, 112, "Installing")
    answer = await csms.call("UpdateFirmware", request(files, signer, 113))
    assert answer["status"] == "Rejected"
    rauc.release(0)
    assert await until(csms, 112, "InstallRebooting") == ["Downloading", *INSTALL]
    assert statuses(csms, 113) == []
    props = await get_all(stack.bus, names.UPDATE, names.UPDATE_PATH, names.UPDATE)
    assert props["Status"] == "InstallRebooting"


async def test_TC_L_16_CS_update_with_an_ongoing_transaction_installs_after_it(start_ocpp, csms, signer, rauc, files):
    """TC_L_16's condition (able to install during a transaction) is not met: the station
    downloads and verifies during the transaction and schedules the install until it ends
    (InstallScheduled; L01.FR.06), as TC_L_12/13 expect of such a station."""
    stack = await start(start_ocpp, csms, signer, rauc)
    await stack.sim(1, "PlugIn", "d", 220.0)
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started", timeout=30)
    answer = await csms.call("UpdateFirmware", request(files, signer, 116))
    assert answer["status"] == "Accepted"
    assert await until(csms, 116, "InstallScheduled") == ["Downloading", "Downloaded", "SignatureVerified",
                                                          "InstallScheduled"]
    assert rauc.installs == []
    await stack.sim(1, "Unplug")
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=30)
    assert await until(csms, 116, "InstallRebooting") == ["Downloading", "Downloaded", "SignatureVerified",
                                                          "InstallScheduled", "Installing", "InstallRebooting"]


async def test_TC_L_18_CS_secure_firmware_update_missing_certificate_and_signature(start_ocpp, csms, signer, rauc,
                                                                                   files):
    await start(start_ocpp, csms, signer, rauc)
    answer = await csms.call("UpdateFirmware", {"requestId": 118, "firmware": {
        "location": files.base + "/fw.raucb", "retrieveDateTime": ago(), "installDateTime": ago()}})
    assert answer["status"] == "Rejected"
    assert statuses(csms, 118) == [] and files.gets == [] and rauc.installs == []


async def test_an_accepted_request_is_handed_over_once_after_a_crash(start_ocpp, csms, signer, rauc, files):
    """The OCPP service died after answering Accepted (the request persisted) but before, or
    while, handing it to the update service: at the next start it hands it over, or recognises
    the request the update service already has by its origin, and reports each status once."""
    from dbus_fast import Variant
    from evcharge.common.bus import call
    from evcharge.ocpp.queue import MessageQueue
    stack = await start(start_ocpp, csms, signer, rauc)
    queue_file = stack.sup.state_dir("ocpp") / "queue.sqlite"
    options = {"signature": signer.signature(), "signing_certificate": signer.leaf.cert_pem}

    def accepted(request_id: int, origin: str) -> dict:
        return {"current": {"request_id": request_id, "location": files.base + "/fw.raucb",
                            "options": {**options, "origin": origin}}}

    # Crash before InstallWithOptions: handed over at the start.
    await stack.sup.stop("ocpp")
    q = MessageQueue(queue_file)
    q.put_state("firmware", accepted(201, "ocpp:201:aaaa"))
    q.close()
    await stack.sup.start(ServiceSpec("ocpp", ["--config", str(stack.dir / "ocpp.yaml")]), timeout_s=60)
    assert await until(csms, 201, "InstallRebooting") == ["Downloading", *INSTALL]
    assert len(rauc.installs) == 1

    # Crash after InstallWithOptions returned, before its id was stored: recognised, not asked twice.
    await stack.sup.stop("ocpp")
    rauc.boot_slot = rauc.primary            # (the reboot for 201)
    await stack.sup.stop("update")
    await stack.sup.start(ServiceSpec("update", []), timeout_s=120)
    (update_id,) = await call(stack.bus, names.UPDATE, names.UPDATE_PATH, names.UPDATE, "InstallWithOptions", "sa{sv}",
                              [files.base + "/fw.raucb", {**{k: Variant("s", v) for k, v in options.items()},
                                                          "origin": Variant("s", "ocpp:202:bbbb")}])
    q = MessageQueue(queue_file)
    q.put_state("firmware", accepted(202, "ocpp:202:bbbb"))
    q.close()
    await stack.sup.start(ServiceSpec("ocpp", ["--config", str(stack.dir / "ocpp.yaml")]), timeout_s=60)
    assert await until(csms, 202, "InstallRebooting") == ["Downloading", *INSTALL]
    assert len(rauc.installs) == 2
    props = await get_all(stack.bus, names.UPDATE, names.UPDATE_PATH, names.UPDATE)
    assert props["RequestId"] == update_id and props["Origin"] == "ocpp:202:bbbb"
