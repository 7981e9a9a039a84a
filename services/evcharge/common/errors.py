"""D-Bus errors every service raises (`org.evcharge.Error.<Reason>`).

A method that fails raises one of these before changing anything, with a message that says what
was wrong and what would be accepted.
"""

from dbus_fast import DBusError

ERROR_PREFIX = "org.evcharge.Error."


class EvchargeError(DBusError):
    reason = "Failed"

    def __init__(self, text: str) -> None:
        super().__init__(ERROR_PREFIX + self.reason, text)


class InvalidArgument(EvchargeError):
    reason = "InvalidArgument"


class InvalidState(EvchargeError):
    """The request is valid but not now (e.g. start while unavailable)."""

    reason = "InvalidState"


class NotFound(EvchargeError):
    reason = "NotFound"


class Unavailable(EvchargeError):
    """A dependency (another service, the hardware) cannot serve the request."""

    reason = "Unavailable"


def require_range(name: str, value: float, low: float, high: float, unit: str = "") -> None:
    if not (low <= value <= high):  # also rejects NaN
        raise InvalidArgument(f"{name} must be between {low:g} and {high:g}{unit}, got {value!r}")


def require_choice(name: str, value: str, choices) -> None:
    if value not in choices:
        raise InvalidArgument(f"{name} must be one of {', '.join(sorted(choices))}; got {value!r}")
