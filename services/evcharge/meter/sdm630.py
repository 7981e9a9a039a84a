"""Eastron SDM630 (v2, MID) input-register map and decoding. Pure: no I/O.

Every quantity is an IEEE-754 float32 in two consecutive 16-bit input registers (function code
4), high word first, as Eastron's protocol document specifies. Addresses below are the PDU
addresses (Eastron's "30001" is address 0x0000).

The meter answers at most 40 parameters (80 registers) per request, and reads of registers it
does not define may be refused, so `plan_blocks` merges neighbours only as far as asked.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAX_REGISTERS_PER_REQUEST = 80


class Quantity(enum.Enum):
    VOLTAGE_L1 = "voltage_l1"
    VOLTAGE_L2 = "voltage_l2"
    VOLTAGE_L3 = "voltage_l3"
    CURRENT_L1 = "current_l1"
    CURRENT_L2 = "current_l2"
    CURRENT_L3 = "current_l3"
    POWER_L1 = "power_l1"
    POWER_L2 = "power_l2"
    POWER_L3 = "power_l3"
    POWER_TOTAL = "power_total"
    FREQUENCY = "frequency"
    IMPORT_ENERGY = "import_energy"
    EXPORT_ENERGY = "export_energy"


@dataclass(frozen=True)
class Register:
    quantity: Quantity
    address: int        # first of the two registers
    meter_unit: str     # the unit the meter reports in
    unit: str           # the SI unit we publish
    scale: float = 1.0  # meter_unit -> unit

    @property
    def end(self) -> int:
        return self.address + 2


# Only what the service publishes; the rest of Eastron's map is deliberately left out.
REGISTERS: tuple[Register, ...] = (
    Register(Quantity.VOLTAGE_L1, 0x0000, "V", "V"),
    Register(Quantity.VOLTAGE_L2, 0x0002, "V", "V"),
    Register(Quantity.VOLTAGE_L3, 0x0004, "V", "V"),
    Register(Quantity.CURRENT_L1, 0x0006, "A", "A"),
    Register(Quantity.CURRENT_L2, 0x0008, "A", "A"),
    Register(Quantity.CURRENT_L3, 0x000A, "A", "A"),
    Register(Quantity.POWER_L1, 0x000C, "W", "W"),
    Register(Quantity.POWER_L2, 0x000E, "W", "W"),
    Register(Quantity.POWER_L3, 0x0010, "W", "W"),
    Register(Quantity.POWER_TOTAL, 0x0034, "W", "W"),
    Register(Quantity.FREQUENCY, 0x0046, "Hz", "Hz"),
    Register(Quantity.IMPORT_ENERGY, 0x0048, "kWh", "Wh", 1000.0),
    Register(Quantity.EXPORT_ENERGY, 0x004A, "kWh", "Wh", 1000.0),
)


@dataclass(frozen=True)
class Block:
    """One read request: `count` input registers from `address`."""

    address: int
    count: int
    registers: tuple[Register, ...]


def plan_blocks(registers: Iterable[Register] = REGISTERS, *, max_gap: int = MAX_REGISTERS_PER_REQUEST,
                max_count: int = MAX_REGISTERS_PER_REQUEST) -> list[Block]:
    """Fewest requests covering `registers`, bridging at most `max_gap` unused registers."""
    ordered = sorted(registers, key=lambda r: r.address)
    blocks: list[Block] = []
    group: list[Register] = []
    for reg in ordered:
        if group:
            start = group[0].address
            gap = reg.address - max(r.end for r in group)
            if gap > max_gap or reg.end - start > max_count:
                blocks.append(_block(group))
                group = []
        group.append(reg)
    if group:
        blocks.append(_block(group))
    return blocks


def _block(group: list[Register]) -> Block:
    start = group[0].address
    return Block(start, max(r.end for r in group) - start, tuple(group))


def float32(hi: int, lo: int) -> float:
    return struct.unpack(">f", struct.pack(">HH", hi & 0xFFFF, lo & 0xFFFF))[0]


def encode_float32(value: float) -> tuple[int, int]:
    """The two register words for `value` (for simulators and tests)."""
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return hi, lo


def decode_block(block: Block, words: Sequence[int]) -> dict[Quantity, float]:
    """Values in SI units from the words of one block."""
    if len(words) < block.count:
        raise ValueError(f"expected {block.count} registers from 0x{block.address:04X}, got {len(words)}")
    out: dict[Quantity, float] = {}
    for reg in block.registers:
        i = reg.address - block.address
        out[reg.quantity] = float32(words[i], words[i + 1]) * reg.scale
    return out


def register_image(values: dict[Quantity, float]) -> dict[int, int]:
    """address -> word for quantities given in published units (the inverse of decoding)."""
    by_quantity = {r.quantity: r for r in REGISTERS}
    image: dict[int, int] = {}
    for q, v in values.items():
        reg = by_quantity[q]
        image[reg.address], image[reg.address + 1] = encode_float32(v / reg.scale)
    return image
