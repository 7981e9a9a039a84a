import pytest
from evcharge.energy.allocation import Demand, allocate
from evcharge.energy.config import EnergyConfig, EnergyConnector
from evcharge.energy.manager import SITE, EnergyManager


def test_equal_share():
    assert allocate(32, [Demand(1, 32, 1), Demand(2, 32, 2)]) == {1: 16.0, 2: 16.0}


def test_unused_share_goes_to_the_others():
    assert allocate(32, [Demand(1, 10, 1), Demand(2, 32, 2)]) == {1: 10.0, 2: 22.0}


def test_below_6_a_the_latest_request_waits():
    assert allocate(10, [Demand(1, 32, 1), Demand(2, 32, 2)]) == {1: 10.0, 2: 0.0}
    assert allocate(10, [Demand(1, 32, 2), Demand(2, 32, 1)]) == {1: 0.0, 2: 10.0}


def test_never_exceeds_the_limit():
    alloc = allocate(20, [Demand(i, 32, i) for i in range(1, 4)])
    assert sum(alloc.values()) <= 20 and all(a in (0.0,) or a >= 6 for a in alloc.values())


def test_demand_below_minimum_gets_nothing():
    assert allocate(32, [Demand(1, 3, 1)]) == {1: 0.0}


def manager(site=32.0):
    return EnergyManager(EnergyConfig(site_limit_a=site, connectors=[EnergyConnector(1, 32), EnergyConnector(2, 32)]))


def test_external_limits_only_lower():
    m = manager()
    m.request(1, 32)
    assert m.allocations[1] == 32
    m.set_limit(1, "ocpp", 50)  # above the configured maximum: no effect
    assert m.allocations[1] == 32
    m.set_limit(1, "ocpp", 16)
    assert m.allocations[1] == 16
    m.set_limit(SITE, "grid", 10)
    assert m.allocations[1] == 10
    m.clear_limit(SITE, "grid")
    m.clear_limit(1, "ocpp")
    assert m.allocations[1] == 32


def test_second_connector_halves_the_first():
    m = manager()
    m.request(1, 32)
    changed = m.request(2, 32)
    assert changed == {1: 16.0, 2: 16.0}
    assert m.request(2, 0) == {1: 32.0, 2: 0.0}


def test_persistence_round_trip():
    m = manager()
    m.request(2, 32)
    m.request(1, 20)
    m.set_limit(SITE, "grid", 30)
    again = manager()
    again.load_json(m.to_json())
    assert again.allocations == m.allocations
    assert again.request(1, 20) == {}  # same order kept: nothing moves


@pytest.mark.parametrize("site", [0.0, 5.9])
def test_site_too_small_for_anyone(site):
    m = manager(site)
    m.request(1, 32)
    assert m.allocations[1] == 0
