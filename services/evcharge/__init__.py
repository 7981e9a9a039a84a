"""evcharge: open-source EV charger firmware services."""

__version__ = "0.1.0"
