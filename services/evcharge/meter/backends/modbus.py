"""Eastron SDM630 over Modbus TCP or RTU through pymodbus' asyncio clients.

Meters behind one serial line (an RS-485 bus) or one TCP gateway share a `ModbusLink`: one
client, one transaction at a time. The connection is ours to manage: pymodbus' own reconnect
loop is switched off (reconnect_delay=0) so that a dead meter shows up as a failed poll at once,
and the next poll reconnects. Every failure drops the connection, because a timed-out
transaction may leave a late answer in the pipe that would be matched to the next request.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.client.base import ModbusBaseClient

from .. import sdm630
from ..config import BackendKind, MeterEntry
from ..reading import Reading
from . import ReadError

log = logging.getLogger(__name__)
# pymodbus warns at every failed connect, i.e. at every poll while a meter is down; the poller
# logs each offline/online transition once instead.
logging.getLogger("pymodbus").setLevel(logging.ERROR)

ILLEGAL_DATA_ADDRESS = 2

# pymodbus renamed the unit address from `slave` to `device_id` (3.10); Yocto scarthgap ships 3.6.
_UNIT_KW = ("device_id" if "device_id" in inspect.signature(AsyncModbusTcpClient.read_input_registers).parameters
            else "slave")


def link_key(entry: MeterEntry) -> tuple[str, ...]:
    if entry.backend is BackendKind.MODBUS_TCP:
        return ("tcp", entry.host, str(entry.port))
    return ("rtu", entry.serial_port)


class ModbusLink:
    """One Modbus connection and the lock that keeps its transactions one at a time."""

    def __init__(self, entry: MeterEntry, timeout_s: float) -> None:
        self.entry = entry  # the line's parameters (validated equal for every meter on a serial line)
        self.timeout_s = timeout_s
        self.lock = asyncio.Lock()
        self._client: ModbusBaseClient | None = None

    def describe(self) -> str:
        e = self.entry
        return f"{e.host}:{e.port}" if e.backend is BackendKind.MODBUS_TCP else e.serial_port

    async def client(self) -> ModbusBaseClient:
        if self._client is not None and self._client.connected:
            return self._client
        self.close()
        e = self.entry
        common = {"timeout": self.timeout_s, "retries": 0, "reconnect_delay": 0}
        if e.backend is BackendKind.MODBUS_TCP:
            client: ModbusBaseClient = AsyncModbusTcpClient(e.host, port=e.port, **common)
        else:
            client = AsyncModbusSerialClient(e.serial_port, baudrate=e.baudrate, bytesize=8, parity=e.parity,
                                             stopbits=e.stopbits, **common)
        self._client = client
        if not await client.connect():
            raise ReadError(f"cannot connect to {self.describe()}")
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class ModbusBackend:
    def __init__(self, entry: MeterEntry, link: ModbusLink) -> None:
        self.entry = entry
        self.link = link
        self.kind = entry.backend.value
        self.on_change: Callable[[], None] | None = None
        # One request covers everything we publish (0x0000..0x004B); some firmware refuses
        # reads that span registers it does not define, then we fall back to exact blocks.
        self._blocks = sdm630.plan_blocks()
        self._exact = False

    def describe(self) -> str:
        return f"{self.link.describe()} unit {self.entry.unit_id}"

    async def start(self) -> None:
        pass  # the first poll connects; start-up must not wait for a meter that may be absent

    async def read(self, timeout_s: float) -> Reading:
        async with self.link.lock:
            try:
                return await asyncio.wait_for(self._read(), timeout_s)
            except BaseException:
                self.link.close()
                raise

    async def _read(self) -> Reading:
        client = await self.link.client()
        quantities: dict[sdm630.Quantity, float] = {}
        for block in self._blocks:
            rr = await client.read_input_registers(block.address, count=block.count,
                                                   **{_UNIT_KW: self.entry.unit_id})
            if rr.isError():
                code = getattr(rr, "exception_code", None)
                if code == ILLEGAL_DATA_ADDRESS and not self._exact:
                    log.warning("meter %s refuses a read of 0x%04X+%d; reading exact blocks from now on",
                                self.describe(), block.address, block.count)
                    self._blocks = sdm630.plan_blocks(max_gap=0)
                    self._exact = True
                raise ReadError(f"meter {self.describe()} answered with Modbus exception {code}")
            quantities.update(sdm630.decode_block(block, rr.registers))
        return Reading.from_quantities(quantities, datetime.now(UTC))

    async def stop(self) -> None:
        self.link.close()
