"""D-Bus introspection of a running service: dbus-fast's XML support (xml.etree, pyexpat) is
deferred until first use in every service (evcharge.common.deferred, issue 7); an Introspect
call from a peer loads it and gets the full description."""

from evcharge.common import names
from evcharge.common.bus import call

INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"


async def test_a_peer_introspects_a_service_started_without_xml(stack):
    await stack.start(services=("board",))
    path = names.board_connector_path(1)
    xml = (await call(stack.bus, names.BOARD, path, INTROSPECTABLE, "Introspect"))[0]
    assert xml.startswith("<!DOCTYPE node")
    assert f'<interface name="{names.BOARD_CONNECTOR_IFACE}">' in xml
    assert '<property name="CpState"' in xml
    # The same object introspected again (the module is loaded now): the same answer.
    assert (await call(stack.bus, names.BOARD, path, INTROSPECTABLE, "Introspect"))[0] == xml
    root = (await call(stack.bus, names.BOARD, names.BOARD_PATH, INTROSPECTABLE, "Introspect"))[0]
    assert '<node name="Connector"' in root or f'<interface name="{names.BOARD}">' in root
