"""evcharge.ocpp.proxy: websockets' proxy lookup only when a proxy is configured."""

from evcharge.ocpp import proxy


def test_no_proxy_variable_means_no_proxy():
    if proxy.SUPPORTS_PROXY:
        assert proxy.connect_options({"PATH": "/usr/bin", "LANG": "C"}) == {"proxy": None}
    else:
        assert proxy.connect_options({"PATH": "/usr/bin"}) == {}


def test_any_proxy_variable_leaves_the_lookup_to_websockets():
    for name in ("https_proxy", "HTTP_PROXY", "all_proxy", "no_proxy", "WS_PROXY"):
        assert proxy.connect_options({name: "http://proxy.example:3128"}) == {}
