"""Evse service: the session manager, one D-Bus object per connector."""
