"""SDM630 register decoding and request planning."""

import pytest
from evcharge.meter import sdm630
from evcharge.meter.reading import Reading
from evcharge.meter.sdm630 import Quantity


def test_float32_decodes_eastron_word_order():
    # 230.0 V as an SDM630 sends it: 0x4366 0x0000 (high word first).
    assert sdm630.float32(0x4366, 0x0000) == 230.0
    # 1.5 kWh = 0x3FC0 0x0000; 12345.6789 has a non-zero low word, which catches swapped words.
    assert sdm630.float32(0x3FC0, 0x0000) == 1.5
    assert sdm630.float32(0x4640, 0xE6B7) == pytest.approx(12345.6789, rel=1e-6)
    assert sdm630.float32(0xE6B7, 0x4640) != pytest.approx(12345.6789, rel=1e-3)


def test_whole_map_is_one_request_within_the_eastron_limit():
    blocks = sdm630.plan_blocks()
    assert [(b.address, b.count) for b in blocks] == [(0x0000, 0x004C)]
    assert blocks[0].count <= sdm630.MAX_REGISTERS_PER_REQUEST


def test_exact_plan_only_reads_defined_registers():
    blocks = sdm630.plan_blocks(max_gap=0)
    assert [(b.address, b.count) for b in blocks] == [(0x0000, 18), (0x0034, 2), (0x0046, 6)]
    covered = {a for b in blocks for a in range(b.address, b.address + b.count)}
    assert covered == {a for r in sdm630.REGISTERS for a in (r.address, r.address + 1)}


def test_plan_respects_request_size_limit():
    blocks = sdm630.plan_blocks(max_count=20)
    assert all(b.count <= 20 for b in blocks)
    read = [r for b in blocks for r in b.registers]
    assert sorted(read, key=lambda r: r.address) == sorted(sdm630.REGISTERS, key=lambda r: r.address)


def test_decode_block_converts_kwh_to_wh_and_reads_each_quantity():
    values = {Quantity.VOLTAGE_L1: 230.5, Quantity.VOLTAGE_L2: 231.0, Quantity.VOLTAGE_L3: 229.0,
              Quantity.CURRENT_L1: 16.0, Quantity.CURRENT_L2: 15.5, Quantity.CURRENT_L3: 0.25,
              Quantity.POWER_L1: 3688.0, Quantity.POWER_L2: 3580.5, Quantity.POWER_L3: 57.25,
              Quantity.POWER_TOTAL: 7325.75, Quantity.FREQUENCY: 49.98,
              Quantity.IMPORT_ENERGY: 1234567.0, Quantity.EXPORT_ENERGY: 0.0}
    image = sdm630.register_image(values)
    (block,) = sdm630.plan_blocks()
    words = [image.get(a, 0) for a in range(block.address, block.address + block.count)]
    # The import register holds kWh: 1234.567 kWh on the wire.
    assert sdm630.float32(image[0x48], image[0x49]) == pytest.approx(1234.567, rel=1e-6)
    decoded = sdm630.decode_block(block, words)
    for q, v in values.items():
        assert decoded[q] == pytest.approx(v, rel=1e-6), q
    reading = Reading.from_quantities(decoded, at=None)  # type: ignore[arg-type]
    assert reading.energy_wh == pytest.approx(1234567.0, rel=1e-6)
    assert reading.voltage_v == pytest.approx((230.5, 231.0, 229.0))
    assert reading.current_a == pytest.approx((16.0, 15.5, 0.25))


def test_decode_block_rejects_a_short_answer():
    (block,) = sdm630.plan_blocks()
    with pytest.raises(ValueError, match="expected 76 registers"):
        sdm630.decode_block(block, [0] * 10)


