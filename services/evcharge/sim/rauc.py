"""A RAUC installer simulator: `de.pengutronix.rauc` on `/` (interface de.pengutronix.rauc.Installer),
the part of RAUC's D-Bus API the update service uses, for the SIL and integration tests where no
real RAUC (and no A/B disk) exists. The install itself runs in QEMU (tests/system/test_ota.py).

What it does: InstallBundle checks that the bundle file exists, reports Operation "installing",
and completes (signal Completed, 0 = the other slot was "written" and made primary) at once,
or when the test says so (`hold`, then `release(result, error)`), so an update can be caught
while Installing. The slots are A and B; `boot_slot` is what the "machine" booted (a test flips
it to simulate the reboot into the new slot) and GetSlotStatus reports it booted and good.

Use in-process (`await RaucSim.start(bus_address)`), or `python -m evcharge.sim.rauc`
(on the session bus / DBUS_SYSTEM_BUS_ADDRESS given by --address).
"""

# No postponed annotations: dbus-fast reads the signature strings.
import argparse
import asyncio
import os

from dbus_fast import BusType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method, signal

NAME = "de.pengutronix.rauc"
PATH = "/"
IFACE = "de.pengutronix.rauc.Installer"


class Installer(ServiceInterface):
    def __init__(self, sim: "RaucSim") -> None:
        super().__init__(IFACE)
        self._sim = sim

    @method()
    def InstallBundle(self, source: "s", args: "a{sv}"):
        self._sim.install(source)

    @method()
    def Mark(self, state: "s", slot_identifier: "s") -> "ss":
        slot = self._sim.boot_slot if slot_identifier == "booted" else self._sim.other_slot()
        if state in ("active", "good"):
            self._sim.primary = slot if state == "active" else self._sim.primary
        return [f"rootfs.{'AB'.index(slot)}", f"marked slot {slot} {state}"]

    @method()
    def GetSlotStatus(self) -> "a(sa{sv})":
        out = []
        for i, bootname in enumerate("AB"):
            booted = bootname == self._sim.boot_slot
            out.append([f"rootfs.{i}", {"bootname": Variant("s", bootname),
                                        "state": Variant("s", "booted" if booted else "inactive"),
                                        "boot-status": Variant("s", "good")}])
        return out

    @method()
    def GetPrimary(self) -> "s":
        return f"rootfs.{'AB'.index(self._sim.primary)}"

    @dbus_property(access=PropertyAccess.READ)
    def Operation(self) -> "s":
        return self._sim.operation

    @dbus_property(access=PropertyAccess.READ)
    def LastError(self) -> "s":
        return self._sim.last_error

    @dbus_property(access=PropertyAccess.READ)
    def Progress(self) -> "(isi)":
        return [self._sim.progress, "installing" if self._sim.operation == "installing" else "", 1]

    @dbus_property(access=PropertyAccess.READ)
    def BootSlot(self) -> "s":
        return self._sim.boot_slot

    @dbus_property(access=PropertyAccess.READ)
    def Compatible(self) -> "s":
        return "evcharge-sim"

    @signal()
    def Completed(self, result: int) -> "i":
        return result


class RaucSim:
    def __init__(self, bus: MessageBus, boot_slot: str = "A") -> None:
        self.bus = bus
        self.boot_slot = boot_slot
        self.primary = boot_slot
        self.operation = "idle"
        self.last_error = ""
        self.progress = 0
        self.hold = False                 # keep an install running until release()
        self.result = 0                   # what an install ends with (0: success)
        self.error = ""
        self.installs: list[str] = []     # bundles asked for, in order
        self.iface = Installer(self)

    @classmethod
    async def start(cls, address: str | None = None, boot_slot: str = "A") -> "RaucSim":
        bus = await (MessageBus(bus_address=address) if address else MessageBus(bus_type=BusType.SYSTEM)).connect()
        sim = cls(bus, boot_slot)
        bus.export(PATH, sim.iface)
        await bus.request_name(NAME)
        return sim

    def other_slot(self) -> str:
        return "B" if self.boot_slot == "A" else "A"

    def _set(self, **props) -> None:
        for k, v in props.items():
            setattr(self, k, v)
        changed = {"Operation": self.operation, "LastError": self.last_error,
                   "Progress": [self.progress, "", 1]}
        self.iface.emit_properties_changed(changed)

    def install(self, source: str) -> None:
        from dbus_fast import DBusError
        if self.operation != "idle":
            raise DBusError("org.gtk.GDBus.UnmappedGError.Quark._g_2dio_2derror_2dquark.Code1",
                            "Already processing a different method")
        self.installs.append(source)
        self._set(operation="installing", progress=0, last_error="")
        if not os.path.isfile(source):
            asyncio.get_running_loop().call_soon(self.release, 1, f"Failed to open bundle {source}: no such file")
        elif not self.hold:
            asyncio.get_running_loop().call_soon(self.release, self.result, self.error)

    def release(self, result: int | None = None, error: str | None = None) -> None:
        """End the running install (result 0: the other slot is primary now)."""
        if self.operation != "installing":
            return
        result = self.result if result is None else result
        if result == 0:
            self.primary = self.other_slot()
        self._set(operation="idle", progress=100 if result == 0 else self.progress,
                  last_error="" if result == 0 else (error if error is not None else self.error) or "failed")
        self.iface.Completed(result)

    async def stop(self) -> None:
        self.bus.disconnect()


async def _main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    p.add_argument("--address", help="D-Bus address (default: the system bus)")
    p.add_argument("--boot-slot", default="A", choices=("A", "B"))
    a = p.parse_args()
    sim = await RaucSim.start(a.address, a.boot_slot)
    await sim.bus.wait_for_disconnect()


if __name__ == "__main__":
    asyncio.run(_main())
