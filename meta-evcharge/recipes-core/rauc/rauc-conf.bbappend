# evcharge RAUC system configuration and keyring: only with DISTRO_FEATURES "rauc", and
# inside only for the evcharge distro (override), so adding meta-evcharge to another
# distro leaves meta-rauc's defaults alone.
# nooelint: oelint.spaces.lineend - the expression is empty without "rauc", meta-rauc gates the same way
require ${@bb.utils.contains('DISTRO_FEATURES', 'rauc', 'rauc-conf-evcharge.inc', '', d)}
