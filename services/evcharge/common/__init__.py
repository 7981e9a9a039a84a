"""Pieces every evcharge service shares: names, errors, config, logging, the service runner."""
