"""Simulators of the charger's surroundings (board, EV, meter, CSMS, card reader...): product
code, documented for users, used by SIL runs and integration tests."""
