"""OCPP 2.0.1 client service (`org.evcharge.Ocpp1`): the charger's link to a CSMS."""
