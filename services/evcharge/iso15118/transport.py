"""The SECC's sockets: SDP over UDP (port 15118, IPv6 link-local multicast ff02::1) and V2GTP over TCP.

One V2G session at a time per SECC (one connector): a second TCP connection while one runs is
refused. Every request is answered from the pure `Secc`; the time from the complete request frame to
the response written is recorded per message type (`stats`) and a late answer is logged.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from evcharge import v2gtp

from ..common.log import fields
from .secc import EvseController, Secc

log = logging.getLogger("evcharge.iso15118")

SDP_PORT = 15118
SDP_MULTICAST = "ff02::1"
SECURITY_NO_TLS = 0x10
TRANSPORT_TCP = 0x00


def interface_addresses(ifname: str) -> list[tuple[str, int, int]]:
    """(address, scope id, flags) of `ifname` from /proc/net/if_inet6, link-local first."""
    out = []
    try:
        lines = open("/proc/net/if_inet6", encoding="ascii").read().splitlines()  # noqa: SIM115
    except OSError:
        return []
    for line in lines:
        parts = line.split()
        if len(parts) < 6 or parts[5] != ifname:
            continue
        addr = str(ipaddress.IPv6Address(bytes.fromhex(parts[0])))
        out.append((addr, int(parts[1], 16), int(parts[4], 16), int(parts[3], 16)))
    out.sort(key=lambda a: a[3] != 0x20)  # scope 0x20 = link
    return [(a, idx, flags) for a, idx, flags, _scope in out]


def link_local(ifname: str) -> tuple[str, int] | None:
    """The interface's usable (not tentative) IPv6 link-local address and index."""
    for addr, idx, flags in interface_addresses(ifname):
        if addr.startswith("fe80") and not flags & 0x40:  # IFA_F_TENTATIVE
            return addr, idx
    return None


def sdp_response(address: str, port: int) -> bytes:
    payload = ipaddress.IPv6Address(address.split("%")[0]).packed + struct.pack(">HBB", port, SECURITY_NO_TLS,
                                                                                TRANSPORT_TCP)
    return v2gtp.encode(v2gtp.PayloadType.SDP_RESPONSE, payload)


class SdpServer(asyncio.DatagramProtocol):
    def __init__(self, get_answer: Callable[[], bytes | None]) -> None:
        self.get_answer = get_answer
        self.transport: asyncio.DatagramTransport | None = None
        self.requests = 0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[override]
        try:
            frame = v2gtp.decode(data)
        except v2gtp.V2gtpError as e:
            log.debug("SDP: ignored datagram from %s: %s", addr, e)
            return
        if frame.payload_type != v2gtp.PayloadType.SDP_REQUEST:
            return
        answer = self.get_answer()
        if answer is None or self.transport is None:
            return
        self.requests += 1
        security, transport = frame.payload
        log.info("SDP request from %s (security 0x%02X, transport 0x%02X)", addr[0], security, transport)
        self.transport.sendto(answer, addr)


@dataclass
class ServerConfig:
    interface: str = "lo"
    address: str = ""          # address to bind TCP and announce in SDP ("" = the interface's link-local)
    tcp_port: int = 0          # 0: any free port (announced by SDP)
    sdp_port: int = SDP_PORT
    sequence_timeout_s: float = 60.0
    enabled: tuple[str, ...] = ("iso2", "din")


@dataclass
class V2gServer:
    cfg: ServerConfig
    controller: EvseController
    connector_id: int = 1
    on_change: Callable[[], None] = lambda: None
    secc: Secc | None = None
    stats: dict[str, list[float]] = field(default_factory=dict)
    last_stop_reason: str = ""
    sessions: int = 0
    tcp_port: int = 0
    announce: str = ""
    _server: asyncio.AbstractServer | None = None
    _sdp: asyncio.DatagramTransport | None = None
    _conn: asyncio.Task[None] | None = None
    _writer: asyncio.StreamWriter | None = None
    _enabled: bool = True

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        scope = 0
        if self.cfg.address:
            address = self.cfg.address
        else:
            ll = None
            for _ in range(100):  # a fresh interface's address may still be in duplicate address detection
                ll = link_local(self.cfg.interface)
                if ll:
                    break
                await asyncio.sleep(0.05)
            if ll is None:
                raise OSError(f"interface {self.cfg.interface} has no IPv6 link-local address")
            address, scope = ll
        self.announce = address
        host = f"{address}%{self.cfg.interface}" if scope else address
        self._server = await asyncio.start_server(self._client, host=host, port=self.cfg.tcp_port,
                                                  family=socket.AF_INET6, reuse_address=True)
        self.tcp_port = self._server.sockets[0].getsockname()[1]
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("::", self.cfg.sdp_port))
        if scope:
            mreq = ipaddress.IPv6Address(SDP_MULTICAST).packed + struct.pack("@I", scope)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        sock.setblocking(False)
        self._sdp, _ = await loop.create_datagram_endpoint(lambda: SdpServer(self._sdp_answer), sock=sock)
        log.info("SECC listening on [%s]:%d (%s), SDP on UDP %d", address, self.tcp_port, self.cfg.interface,
                 self.cfg.sdp_port, extra=fields(connector=self.connector_id))

    def _sdp_answer(self) -> bytes | None:
        if not self._enabled:
            return None
        return sdp_response(self.announce, self.tcp_port)

    async def stop(self) -> None:
        self._enabled = False
        if self._sdp:
            self._sdp.close()
        if self._server:
            self._server.close()
        if self._conn:
            self._conn.cancel()
            await asyncio.gather(self._conn, return_exceptions=True)
        if self.secc and not self.secc.ended:
            self._finish("SECC shutting down")

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if self._conn is not None and not self._conn.done():
            log.warning("refusing a second V2G connection from %s while a session runs", peer[0] if peer else "?")
            writer.close()
            return
        self._conn = asyncio.current_task()
        self._writer = writer
        self.secc = Secc(self.controller, now=time.monotonic(), enabled=self.cfg.enabled,
                         sequence_timeout_s=self.cfg.sequence_timeout_s)
        self.sessions += 1
        log.info("V2G connection from [%s]", peer[0] if peer else "?", extra=fields(connector=self.connector_id))
        self.on_change()
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            self._finish("SECC shutting down")
            raise
        except (ConnectionError, OSError) as e:
            self._finish(f"TCP connection lost: {e}")
        finally:
            writer.close()
            self._writer = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        secc = self.secc
        assert secc is not None
        frames = v2gtp.FrameReader()
        while not secc.ended:
            timeout = max(0.0, secc.deadline - time.monotonic())
            try:
                chunk = await asyncio.wait_for(reader.read(65536), timeout)
            except TimeoutError:
                if secc.check_timeout(time.monotonic()):
                    self._finish(secc.stop_reason)
                    return
                continue
            t_in = time.perf_counter()
            if not chunk:
                self._finish("TCP connection closed by the EV")
                return
            try:
                got = frames.feed(chunk)
            except v2gtp.V2gtpError as e:
                secc.abort(f"invalid V2GTP header: {e.reason}", time.monotonic())
                self._finish(secc.stop_reason)
                return
            for frame in got:
                if frame.payload_type != v2gtp.PayloadType.EXI:
                    secc.abort(f"unexpected V2GTP payload type 0x{int(frame.payload_type):04X}", time.monotonic())
                    self._finish(secc.stop_reason)
                    return
                out = secc.handle(frame.payload, time.monotonic())
                if out.payload is not None:
                    writer.write(v2gtp.encode(v2gtp.PayloadType.EXI, out.payload))
                    elapsed = time.perf_counter() - t_in
                    self.stats.setdefault(out.request or "?", []).append(elapsed)
                    if elapsed > secc.performance_s(out.request):
                        log.warning("%s answered in %.1f ms (limit %.0f ms)", out.request, elapsed * 1e3,
                                    secc.performance_s(out.request) * 1e3)
                if out.close:
                    await writer.drain()
                    self._finish(out.error or secc.stop_reason)
                    return
                self.on_change()
            await writer.drain()

    def _finish(self, reason: str) -> None:
        secc = self.secc
        if secc is not None and not secc.ended:
            secc.abort(reason, time.monotonic())
        reason = (secc.stop_reason if secc else "") or reason
        self.last_stop_reason = reason
        clean = reason.startswith("SessionStop")
        (log.info if clean else log.warning)("V2G session %s ended: %s",
                                             secc.session_id.hex().upper() if secc and secc.session_id else "-", reason,
                                             extra=fields(connector=self.connector_id))
        self.on_change()
