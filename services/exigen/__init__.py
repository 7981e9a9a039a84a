"""exigen: generate the C grammar tables of `evcharge.exi` from the V2G XSD schemas."""
