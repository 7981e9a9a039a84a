"""OCPP 1.6J: the second protocol of the OCPP service (selected by `protocol: ocpp1.6`)."""
