"""The schema sets the codec supports: namespace URI -> root XSD documents (relative to exi-schemas/)."""
from __future__ import annotations

# C identifier, namespace, root documents (imports are followed). DIN and ISO-2 MsgDef do not
# import their MsgBody, so all four documents are listed explicitly.
SCHEMA_SETS: list[tuple[str, str, list[str]]] = [
    ("apphand", "urn:iso:15118:2:2010:AppProtocol", ["V2G_CI_AppProtocol.xsd"]),
    ("din", "urn:din:70121:2012:MsgDef",
     ["din/V2G_CI_MsgDef.xsd", "din/V2G_CI_MsgHeader.xsd", "din/V2G_CI_MsgBody.xsd", "din/V2G_CI_MsgDataTypes.xsd"]),
    ("iso2", "urn:iso:15118:2:2013:MsgDef",
     ["iso15118-2/V2G_CI_MsgDef.xsd", "iso15118-2/V2G_CI_MsgHeader.xsd", "iso15118-2/V2G_CI_MsgBody.xsd",
      "iso15118-2/V2G_CI_MsgDataTypes.xsd"]),
    ("iso20", "urn:iso:std:iso:15118:-20:CommonMessages", ["iso15118-20/V2G_CI_CommonMessages.xsd"]),
    ("iso20_ac", "urn:iso:std:iso:15118:-20:AC", ["iso15118-20/V2G_CI_AC.xsd"]),
    ("iso20_dc", "urn:iso:std:iso:15118:-20:DC", ["iso15118-20/V2G_CI_DC.xsd"]),
    # No captured vectors exist for these two; they are covered by the property tests only.
    ("iso20_acdp", "urn:iso:std:iso:15118:-20:ACDP", ["iso15118-20/V2G_CI_ACDP.xsd"]),
    ("iso20_wpt", "urn:iso:std:iso:15118:-20:WPT", ["iso15118-20/V2G_CI_WPT.xsd"]),
]
