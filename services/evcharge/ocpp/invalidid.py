"""What a transaction does when the CSMS does not accept its idToken (OCPP 2.0.1 E05/C12, pure).

A TransactionEventResponse whose idTokenInfo is not Accepted for an ongoing transaction:
- TxCtrlr.StopTxOnInvalidId true: the transaction is stopped (Deauthorized), whatever
  MaxEnergyOnInvalidId says (TC_C_16, TC_C_18: the energy flow stops on the Invalid answer);
- false and TxCtrlr.MaxEnergyOnInvalidId 0: the transaction goes on, the energy transfer stops
  (SuspendedEVSE, TC_C_17);
- false and MaxEnergyOnInvalidId > 0: charging goes on until the transaction has delivered that
  many Wh, then the energy transfer stops (TC_C_15). The count is the transaction's energy from its
  start, offline part included: the 2023-12 errata raised TC_C_15's value from 500 to 10000 Wh
  because the energy charged offline before the answer already exceeded 500.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class OnInvalid(enum.Enum):
    STOP = "stop"          # Stop(DeAuthorized)
    SUSPEND = "suspend"    # Pause now: SuspendedEVSE
    LIMIT = "limit"        # Pause once the transaction delivered MaxEnergyOnInvalidId


def on_invalid(stop_tx_on_invalid_id: bool, max_energy_wh: int) -> OnInvalid:
    if stop_tx_on_invalid_id:
        return OnInvalid.STOP
    return OnInvalid.LIMIT if max_energy_wh > 0 else OnInvalid.SUSPEND


@dataclass
class EnergyCaps:
    """Per connector, the deauthorized transaction allowed to charge up to a number of Wh."""

    caps: dict[int, tuple[str, float]] = field(default_factory=dict)  # connector -> (transactionId, max Wh)

    def arm(self, cid: int, transaction_id: str, max_wh: float) -> None:
        # A second Invalid answer for the same transaction keeps the first limit: it counts from the start.
        if self.caps.get(cid, ("", 0.0))[0] != transaction_id:
            self.caps[cid] = (transaction_id, float(max_wh))

    def reached(self, cid: int, transaction_id: str | None, energy_wh: float | None) -> bool:
        """True once, when the transaction's energy reaches its cap (the cap is then done with). A cap
        left from another transaction (it ended while the service was down) is dropped, never applied."""
        cap = self.caps.get(cid)
        if cap is None:
            return False
        if cap[0] != transaction_id:
            del self.caps[cid]
            return False
        if energy_wh is None or energy_wh < cap[1]:
            return False
        del self.caps[cid]
        return True

    def drop(self, cid: int) -> bool:
        return self.caps.pop(cid, None) is not None

    def to_json(self) -> dict[str, Any]:
        return {str(c): [t, m] for c, (t, m) in self.caps.items()}

    def load_json(self, data: dict[str, Any] | None) -> None:
        self.caps = {int(c): (str(t), float(m)) for c, (t, m) in (data or {}).items()}
