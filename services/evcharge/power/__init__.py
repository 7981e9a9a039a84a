"""DC power supply and isolation monitor (`org.evcharge.PowerSupply1`) for DC charging."""
