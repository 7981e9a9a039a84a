"""Bus names, object paths and interface names (see notes/conventions.md).

One place defines them so that services, the CLI, the policies and the docs cannot drift.
"""

BOARD = "org.evcharge.Board1"
EVSE = "org.evcharge.Evse1"
METER = "org.evcharge.Meter1"
AUTH = "org.evcharge.Auth1"
ENERGY = "org.evcharge.Energy1"
V2G = "org.evcharge.V2g1"
SLAC = "org.evcharge.Slac1"
OCPP = "org.evcharge.Ocpp1"
UPDATE = "org.evcharge.Update1"
POWER_SUPPLY = "org.evcharge.PowerSupply1"

BOARD_PATH = "/org/evcharge/Board1"
EVSE_PATH = "/org/evcharge/Evse1"
METER_PATH = "/org/evcharge/Meter1"
AUTH_PATH = "/org/evcharge/Auth1"
ENERGY_PATH = "/org/evcharge/Energy1"
V2G_PATH = "/org/evcharge/V2g1"
SLAC_PATH = "/org/evcharge/Slac1"
OCPP_PATH = "/org/evcharge/Ocpp1"
UPDATE_PATH = "/org/evcharge/Update1"
POWER_SUPPLY_PATH = "/org/evcharge/PowerSupply1"

BOARD_CONNECTOR_IFACE = "org.evcharge.Board1.Connector"
BOARD_SIM_IFACE = "org.evcharge.Board1.Sim"
EVSE_CONNECTOR_IFACE = "org.evcharge.Evse1.Connector"
METER_METER_IFACE = "org.evcharge.Meter1.Meter"
AUTH_SIM_IFACE = "org.evcharge.Auth1.Sim"
POWER_SUPPLY_ISOLATION_IFACE = "org.evcharge.PowerSupply1.Isolation"

PROPERTIES_IFACE = "org.freedesktop.DBus.Properties"


def board_connector_path(connector_id: int) -> str:
    return f"{BOARD_PATH}/Connector/{connector_id}"


def evse_connector_path(connector_id: int) -> str:
    return f"{EVSE_PATH}/Connector/{connector_id}"


def meter_path(meter_id: int) -> str:
    return f"{METER_PATH}/Meter/{meter_id}"


def connector_id_from_path(path: str) -> int:
    """The trailing `/<id>` of a per-connector object path."""
    return int(path.rsplit("/", 1)[1])
