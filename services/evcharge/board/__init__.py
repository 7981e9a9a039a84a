"""Board service: the control-pilot HAL and the only code that switches the contactor."""
