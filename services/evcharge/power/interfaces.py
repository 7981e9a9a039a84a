"""org.evcharge.PowerSupply1 and its .Isolation part (no postponed annotations: dbus-fast reads the
signatures)."""

from typing import TYPE_CHECKING

from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method

from ..common import names
from ..common.errors import InvalidArgument, require_range

if TYPE_CHECKING:
    from .service import PowerService


class PowerSupplyInterface(ServiceInterface):
    """org.evcharge.PowerSupply1 on /org/evcharge/PowerSupply1: the DC supply of one connector."""

    def __init__(self, svc: "PowerService") -> None:
        super().__init__(names.POWER_SUPPLY)
        self._svc = svc

    @method()
    def SetOutput(self, voltage_v: "d", current_limit_a: "d") -> None:
        """Switch the output on at this voltage with this current limit (the SECC's setpoint);
        returns when accepted. Outside 0 .. MaxVoltageV / MaxCurrentA, or above MaxPowerW: InvalidArgument."""
        cfg = self._svc.cfg
        require_range("voltage_v", voltage_v, 0.0, cfg.max_voltage_v, " V")
        require_range("current_limit_a", current_limit_a, 0.0, cfg.max_current_a, " A")
        if voltage_v * current_limit_a > cfg.max_power_w:
            raise InvalidArgument(f"{voltage_v:g} V x {current_limit_a:g} A exceeds MaxPowerW {cfg.max_power_w:g}")
        self._svc.set_output(voltage_v, current_limit_a)

    @method()
    def Off(self) -> None:
        """Switch the output off (voltage and current ramp down to 0)."""
        self._svc.off()

    @dbus_property(access=PropertyAccess.READ)
    def ConnectorId(self) -> "u":
        """The connector this supply feeds."""
        return self._svc.cfg.connector_id

    @dbus_property(access=PropertyAccess.READ)
    def Backend(self) -> "s":
        """sim (a simulated supply and isolation monitor)."""
        return self._svc.cfg.backend

    @dbus_property(access=PropertyAccess.READ)
    def MaxVoltageV(self) -> "d":
        """Highest output voltage."""
        return self._svc.cfg.max_voltage_v

    @dbus_property(access=PropertyAccess.READ)
    def MaxCurrentA(self) -> "d":
        """Highest output current."""
        return self._svc.cfg.max_current_a

    @dbus_property(access=PropertyAccess.READ)
    def MaxPowerW(self) -> "d":
        """Highest output power."""
        return self._svc.cfg.max_power_w

    @dbus_property(access=PropertyAccess.READ)
    def Enabled(self) -> "b":
        """The output is on (SetOutput) or off (Off)."""
        return self._svc.supply.enabled

    @dbus_property(access=PropertyAccess.READ)
    def VoltageSetpointV(self) -> "d":
        """The voltage asked for by the last SetOutput."""
        return self._svc.supply.voltage_set

    @dbus_property(access=PropertyAccess.READ)
    def CurrentLimitA(self) -> "d":
        """The current limit of the last SetOutput."""
        return self._svc.supply.current_set

    @dbus_property(access=PropertyAccess.READ)
    def PresentVoltageV(self) -> "d":
        """Measured output voltage."""
        return self._svc.present[0]

    @dbus_property(access=PropertyAccess.READ)
    def PresentCurrentA(self) -> "d":
        """Measured output current (flows only while the connector's contactor is closed)."""
        return self._svc.present[1]


class IsolationInterface(ServiceInterface):
    """org.evcharge.PowerSupply1.Isolation on /org/evcharge/PowerSupply1: the isolation monitor
    (IMD) of the same DC output, used by CableCheck."""

    def __init__(self, svc: "PowerService") -> None:
        super().__init__(names.POWER_SUPPLY_ISOLATION_IFACE)
        self._svc = svc

    @method()
    def StartCheck(self, test_voltage_v: "d") -> None:
        """Start an isolation measurement at this test voltage; Status goes Ongoing, then Valid,
        Warning or Fault. Outside 0 .. MaxVoltageV: InvalidArgument."""
        cfg = self._svc.cfg
        require_range("test_voltage_v", test_voltage_v, 1.0, cfg.max_voltage_v, " V")
        self._svc.start_check(test_voltage_v)

    @method()
    def Reset(self) -> None:
        """Forget the last result (Status Idle), e.g. at the end of a session."""
        self._svc.reset_check()

    @dbus_property(access=PropertyAccess.READ)
    def Status(self) -> "s":
        """Idle, Ongoing, Valid, Warning or Fault."""
        return self._svc.imd.status.value

    @dbus_property(access=PropertyAccess.READ)
    def ResistanceOhm(self) -> "d":
        """The last measured insulation resistance (0 while none)."""
        return self._svc.imd.measured_ohm

    @dbus_property(access=PropertyAccess.READ)
    def TestVoltageV(self) -> "d":
        """The test voltage of the last StartCheck."""
        return self._svc.imd.test_voltage_v
