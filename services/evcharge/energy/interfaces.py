"""org.evcharge.Energy1 on /org/evcharge/Energy1 (no postponed annotations: dbus-fast reads them)."""

import math
from typing import TYPE_CHECKING

from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method, signal

from ..common import names
from ..common.errors import InvalidArgument, NotFound
from .manager import SITE

if TYPE_CHECKING:
    from .service import EnergyService

MAX_SOURCE_LEN = 64


class EnergyInterface(ServiceInterface):
    def __init__(self, svc: "EnergyService") -> None:
        super().__init__(names.ENERGY)
        self._svc = svc

    def _connector(self, cid: int, *, site_ok: bool) -> None:
        if cid == SITE and site_ok:
            return
        if cid not in self._svc.manager.connector_ids():
            ids = ", ".join(map(str, self._svc.manager.connector_ids()))
            raise NotFound(f"no connector {cid} (connectors: {ids}{'; 0 = site' if site_ok else ''})")

    @staticmethod
    def _amps(name: str, value: float, high: float = 2000.0) -> None:
        if math.isnan(value) or not (0 <= value <= high):
            raise InvalidArgument(f"{name} must be between 0 and {high:g} A, got {value!r}")

    @method()
    def RequestCurrent(self, connector_id: "u", max_a: "d") -> "d":
        """The evse service's demand for a connector (0 releases it); returns the allocation now."""
        self._connector(connector_id, site_ok=False)
        self._amps("max_a", max_a, 80.0)
        return self._svc.request(connector_id, max_a)

    @method()
    def SetExternalLimit(self, connector_id: "u", source: "s", limit_a: "d") -> None:
        """A limit from outside (e.g. an OCPP charging profile) for a connector or the site (0); only lowers."""
        self._connector(connector_id, site_ok=True)
        if not source or len(source) > MAX_SOURCE_LEN:
            raise InvalidArgument(f"source must be a non-empty name of at most {MAX_SOURCE_LEN} characters")
        self._amps("limit_a", limit_a)
        self._svc.set_limit(connector_id, source, limit_a)

    @method()
    def ClearExternalLimit(self, connector_id: "u", source: "s") -> None:
        self._connector(connector_id, site_ok=True)
        self._svc.clear_limit(connector_id, source)

    @dbus_property(access=PropertyAccess.READ)
    def SiteLimitA(self) -> "d":
        """Configured site limit per phase."""
        return self._svc.manager.cfg.site_limit_a

    @dbus_property(access=PropertyAccess.READ)
    def EffectiveSiteLimitA(self) -> "d":
        """Site limit after external limits."""
        return self._svc.manager.site_limit()

    @dbus_property(access=PropertyAccess.READ)
    def Allocations(self) -> "a{ud}":
        """Current allocated per connector."""
        return dict(self._svc.manager.allocations)

    @dbus_property(access=PropertyAccess.READ)
    def Demands(self) -> "a{ud}":
        """Current requested per connector."""
        return {cid: d.max_a for cid, d in self._svc.manager.demands.items()}

    @dbus_property(access=PropertyAccess.READ)
    def ExternalLimits(self) -> "a(usd)":
        """(connector or 0 for the site, source, limit) of every external limit."""
        return [[cid, src, lim] for (cid, src), lim in self._svc.manager.limits.items()]

    @signal()
    def AllocationChanged(self, connector_id: int, current_a: float) -> "ud":
        """A connector's allocation changed."""
        return [connector_id, current_a]
