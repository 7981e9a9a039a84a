"""evcharge update service (org.evcharge.Update1): firmware updates with RAUC A/B slots."""
