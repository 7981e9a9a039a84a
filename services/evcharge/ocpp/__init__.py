"""OCPP 2.0.1 client service (`org.evcharge.Ocpp1`): the charger's link to a CSMS."""

# Before any module of the service imports the `ocpp` library: its messages module, imported
# there without jsonschema (loaded only for a payload the schema check rejects; issue 7).
from . import validation  # noqa: F401
