"""Schema-informed EXI codec for DIN 70121, ISO 15118-2, ISO 15118-20 and the AppProtocol handshake.

    decode(namespace, data) -> {"RootElement": {...}}
    encode(namespace, message) -> bytes

`namespace` is the schema's target namespace URI (see the constants below). The dict form is
documented in docs/exi.md. Errors raise `ExiError` (with `.reason` and `.position`, in bits).
"""
from __future__ import annotations

from . import _exi
from .errors import ExiError

_exi.set_error_class(ExiError)

NS_APP_PROTOCOL = "urn:iso:15118:2:2010:AppProtocol"
NS_DIN = "urn:din:70121:2012:MsgDef"
NS_ISO2 = "urn:iso:15118:2:2013:MsgDef"
NS_ISO20_COMMON = "urn:iso:std:iso:15118:-20:CommonMessages"
NS_ISO20_AC = "urn:iso:std:iso:15118:-20:AC"
NS_ISO20_DC = "urn:iso:std:iso:15118:-20:DC"
NS_ISO20_ACDP = "urn:iso:std:iso:15118:-20:ACDP"
NS_ISO20_WPT = "urn:iso:std:iso:15118:-20:WPT"

#: Namespaces compiled into the extension.
NAMESPACES: tuple[str, ...] = _exi.namespaces()

# The C functions are exported directly: a Python wrapper would double the per-call overhead.
decode = _exi.decode
encode = _exi.encode

__all__ = ["ExiError", "decode", "encode", "NAMESPACES", "NS_APP_PROTOCOL", "NS_DIN", "NS_ISO2",
           "NS_ISO20_COMMON", "NS_ISO20_AC", "NS_ISO20_DC", "NS_ISO20_ACDP", "NS_ISO20_WPT"]
