"""EV simulator: the EVCC side of DIN 70121 DC and ISO 15118-2 AC/DC over real sockets.

    python -m evcharge.sim.ev --protocol iso2 [--dc] [--interface veth0 | --sdp-address ::1]
                              [--connector 1 --bus-address unix:path=...]   # also drive the simulated CP

It finds the SECC with SDP (UDP 15118, multicast ff02::1 on the interface, or unicast to
--sdp-address), runs the session over V2GTP/TCP with the EV's timeouts, and prints one JSON line
with the outcome (requests, response codes, per-request round-trip times). With --connector it
also plays the vehicle on the simulated board (`org.evcharge.Board1.Sim`): plugs in with S2 open,
waits for 5 % PWM, closes S2 (state C) after PowerDeliveryRes(Start), opens it after
PowerDelivery(Stop) and unplugs at the end.

The protocol logic is the pure `evcharge.sim.evcc.Evcc`; this module is its asyncio adapter.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import socket
import struct
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from evcharge import exi, v2gtp

from .evcc import MISBEHAVIOURS, Evcc, EvParams, Misbehave

log = logging.getLogger("evcharge.sim.ev")

SDP_PORT = 15118
SDP_RETRY_S = 0.25
SDP_TRIES = 50
#: EV response timeouts (ISO 15118-2 Table 109 / DIN 70121): 2 s, CurrentDemand 0.25 s, some 5 s.
TIMEOUTS_S = {"CurrentDemandReq": 0.25, "ChargeParameterDiscoveryReq": 5.0, "PaymentDetailsReq": 5.0,
              "CertificateInstallationReq": 5.0, "CertificateUpdateReq": 5.0}
DEFAULT_TIMEOUT_S = 2.0


class EvError(Exception):
    pass


@dataclass
class Result:
    ok: bool = False
    error: str = ""
    protocol: str = ""
    session_id: str = ""
    secc: str = ""
    requests: list[list[Any]] = field(default_factory=list)   # [name, repeats] in order
    responses: list[list[Any]] = field(default_factory=list)  # [name, code, repeats] in order
    rtt_ms: dict[str, list[float]] = field(default_factory=dict)
    closed_by_secc: bool = False
    slac: str = ""                      # "matched" / "failed: ..." when --slac ran


async def discover(interface: str | None, sdp_address: str | None, *, port: int = SDP_PORT,
                   tries: int = SDP_TRIES, retry_s: float = SDP_RETRY_S) -> tuple[str, int]:
    """SDP: ask for the SECC's address and TCP port (no TLS, TCP)."""
    loop = asyncio.get_running_loop()
    if interface and not sdp_address:
        from ..iso15118.transport import link_local

        for _ in range(100):  # a fresh link: wait until the interface has its link-local address
            if link_local(interface):
                break
            await asyncio.sleep(0.05)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setblocking(False)
    scope = socket.if_nametoindex(interface) if interface else 0
    if sdp_address:
        dest: tuple = (sdp_address, port, 0, scope if sdp_address.startswith("fe80") else 0)
    else:
        if not scope:
            raise EvError("SDP needs --interface (multicast) or --sdp-address")
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, scope)
        dest = ("ff02::1", port, 0, scope)
    request = v2gtp.encode(v2gtp.PayloadType.SDP_REQUEST, bytes([0x10, 0x00]))
    try:
        for attempt in range(tries):
            await loop.sock_sendto(sock, request, dest)
            try:
                data = await asyncio.wait_for(loop.sock_recv(sock, 64), retry_s)
            except TimeoutError:
                continue
            frame = v2gtp.decode(data)
            if frame.payload_type != v2gtp.PayloadType.SDP_RESPONSE:
                continue
            addr = str(ipaddress.IPv6Address(frame.payload[:16]))
            (tcp_port,) = struct.unpack(">H", frame.payload[16:18])
            log.info("SDP: SECC at [%s]:%d after %d request(s)", addr, tcp_port, attempt + 1)
            return addr, tcp_port
    finally:
        sock.close()
    raise EvError(f"SDP: no SECC answered {tries} requests")


class CpDriver:
    """The simulated vehicle's CP side on the simulated board (org.evcharge.Board1.Sim)."""

    def __init__(self, bus, connector_id: int) -> None:
        from ..common import names

        self.bus = bus
        self.path = names.board_connector_path(connector_id)
        self.names = names

    async def _sim(self, member: str, sig: str = "", *args: Any) -> None:
        from ..common.bus import call

        await call(self.bus, self.names.BOARD, self.path, self.names.BOARD_SIM_IFACE, member, sig, list(args))

    async def plug_in(self) -> None:
        await self._sim("SetEvReady", "b", False)   # S2 open until the HLC says so
        await self._sim("PlugIn", "d", 220.0)

    async def wait_digital_communication(self, timeout_s: float = 10.0) -> None:
        from ..common.bus import get_property

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            duty = await get_property(self.bus, self.names.BOARD, self.path, self.names.BOARD_CONNECTOR_IFACE,
                                      "PwmDutyPct")
            mode = await get_property(self.bus, self.names.BOARD, self.path, self.names.BOARD_CONNECTOR_IFACE,
                                      "PwmMode")
            if mode == "pwm" and abs(duty - 5.0) < 0.5:
                return
            await asyncio.sleep(0.05)
        raise EvError("no 5 % PWM (digital communication) on the CP")

    async def set_state(self, state: str) -> None:
        await self._sim("SetEvReady", "b", state == "C")

    async def unplug(self) -> None:
        await self._sim("Unplug")


async def slac_match(interface: str, timeout_s: float = 20.0, attempts: int = 3) -> str:
    """EV-side SLAC on `interface` (raw socket, ethertype 0x88E1): "matched" or "failed: why".

    A failed matching is started over, up to `attempts` times in all (ISO 15118-3 lets the EV
    restart matching): the EVSE may still be busy with its modem's CM_SET_KEY when the EV's
    first CM_SLAC_PARM.REQ goes out."""
    from ..slac.rawsock import RawSocket
    from .slac_ev import SlacEv

    sock = RawSocket(interface)
    ev = SlacEv(sock.mac)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def send(frames: list[bytes]) -> None:
        for f in frames:
            sock.send(f)
        if ev.done:
            done.set()

    sock.start(lambda frame: send(ev.feed(frame, loop.time())))
    send(ev.start(loop.time()))
    deadline = loop.time() + timeout_s
    tries = 1
    try:
        while not done.is_set() and loop.time() < deadline:
            try:
                await asyncio.wait_for(done.wait(), 0.05)
            except TimeoutError:
                send(ev.tick(loop.time()))
            if ev.state == "Failed" and tries < attempts:
                tries += 1
                log.info("SLAC attempt %d failed (%s); starting over", tries - 1, ev.reason)
                done.clear()
                send(ev.start(loop.time()))
    finally:
        sock.close()
    log.info("SLAC: %s%s", ev.state, f" ({ev.reason})" if ev.reason else "")
    return "matched" if ev.state == "Matched" else f"failed: {ev.reason or 'timeout'}"


async def run_session(host: str, port: int, evcc: Evcc, *, interface: str | None = None, cp: CpDriver | None = None,
                      timeout_scale: float = 1.0, cycle_s: float = 0.05, stall_wait_s: float = 90.0) -> Result:
    res = Result(protocol=evcc.params.protocol, secc=f"[{host}]:{port}")
    scope = socket.if_nametoindex(interface) if interface and host.startswith("fe80") else 0
    target = f"{host}%{interface}" if scope else host
    reader, writer = await asyncio.wait_for(asyncio.open_connection(target, port), 5.0)
    frames = v2gtp.FrameReader()
    step = evcc.first()
    namespace = exi.NS_APP_PROTOCOL
    loop_names = ("CurrentDemandReq", "ChargingStatusReq")
    try:
        while True:
            if step.drop:
                res.error = f"EV dropped TCP before {step.name}"
                return res
            if step.stall:
                res.error = f"EV went silent before {step.name}"
                t0 = time.monotonic()
                try:
                    data = await asyncio.wait_for(reader.read(1), stall_wait_s)
                    res.closed_by_secc = data == b""
                except TimeoutError:
                    pass
                res.error += f"; SECC closed after {time.monotonic() - t0:.1f} s" if res.closed_by_secc else ""
                return res
            payload = step.payload if step.payload is not None else exi.encode(step.namespace, step.request)
            if cycle_s and (step.name in loop_names or (res.requests and res.requests[-1][0] == step.name)):
                await asyncio.sleep(cycle_s)  # charge loop cycle, or repeating a request answered "Ongoing"
            if res.requests and res.requests[-1][0] == step.name:
                res.requests[-1][1] += 1
            else:
                res.requests.append([step.name, 1])
            t0 = time.perf_counter()
            writer.write(v2gtp.encode(v2gtp.PayloadType.EXI, payload))
            await writer.drain()
            limit = TIMEOUTS_S.get(step.name, DEFAULT_TIMEOUT_S) * timeout_scale
            frame = None
            deadline = time.monotonic() + limit
            while frame is None:
                try:
                    chunk = await asyncio.wait_for(reader.read(65536), max(0.0, deadline - time.monotonic()))
                except TimeoutError:
                    res.error = f"timeout: no response to {step.name} within {limit * 1e3:.0f} ms"
                    return res
                if not chunk:
                    res.closed_by_secc = True
                    res.error = f"SECC closed the connection after {step.name}"
                    return res
                got = frames.feed(chunk)
                frame = got[0] if got else None
            res.rtt_ms.setdefault(step.name, []).append(round((time.perf_counter() - t0) * 1e3, 3))
            if step.name == "supportedAppProtocolReq":
                namespace = exi.NS_APP_PROTOCOL
            msg = exi.decode(namespace, frame.payload)
            namespace = evcc.ns
            step = evcc.on_response(msg)
            name, code = evcc.responses[-1]
            if res.responses and res.responses[-1][:2] == [name, code]:
                res.responses[-1][2] += 1
            else:
                res.responses.append([name, code, 1])
            res.session_id = evcc.session_id.hex().upper()
            if step.cp and cp is not None:
                await cp.set_state(step.cp)
            if step.done:
                res.ok = not step.error
                res.error = step.error
                try:  # after SessionStop (or a FAILED response) the SECC closes the connection
                    res.closed_by_secc = await asyncio.wait_for(reader.read(1), 5.0) == b""
                except (TimeoutError, ConnectionError):
                    pass
                return res
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass


async def run(args: argparse.Namespace) -> Result:
    params = EvParams(protocol=args.protocol, dc=args.dc or args.protocol == "din", charge_loops=args.loops)
    mis = Misbehave()
    if args.misbehave:
        kind, _, at = args.misbehave.partition("@")
        at, _, nth = at.partition("#")
        if kind not in MISBEHAVIOURS or not at or (nth and not nth.isdigit()):
            raise SystemExit(f"--misbehave: KIND@Request[#N] with KIND one of {', '.join(MISBEHAVIOURS)}, "
                             f"got {args.misbehave!r}")
        mis = Misbehave(kind, at, int(nth or 1))
    evcc = Evcc(params, mis)
    cp = bus = None
    if args.connector:
        from ..common.bus import connect

        bus = await connect(args.bus_address)
        cp = CpDriver(bus, args.connector)
        await cp.plug_in()
        await cp.wait_digital_communication()
    try:
        slac = ""
        if args.slac:
            if not args.interface:
                raise EvError("--slac needs --interface")
            slac = await slac_match(args.interface)
            if args.slac_only or slac != "matched":
                return Result(protocol=args.protocol, ok=slac == "matched", slac=slac,
                              error="" if slac == "matched" else f"SLAC {slac}")
        if args.secc:
            host, _, port = args.secc.rpartition(":")
            addr, tcp_port = host.strip("[]"), int(port)
        else:
            addr, tcp_port = await discover(args.interface, args.sdp_address, port=args.sdp_port)
        result = await run_session(addr, tcp_port, evcc, interface=args.interface, cp=cp,
                                   timeout_scale=args.timeout_scale, cycle_s=args.cycle_s,
                                   stall_wait_s=args.stall_wait_s)
        result.slac = slac
    except (EvError, OSError, TimeoutError) as e:
        log.exception("EV session failed")
        result = Result(protocol=args.protocol, error=f"{type(e).__name__}: {e}")
    finally:
        if cp is not None:
            try:
                await cp.set_state("B")
                if not args.stay_plugged:
                    await asyncio.sleep(args.unplug_delay_s)  # a driver does not pull the cable at once
                    await cp.unplug()
            finally:
                bus.disconnect()  # type: ignore[union-attr]
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evcharge-sim-ev", description="simulated EV (ISO 15118-2 / DIN 70121 EVCC)")
    p.add_argument("--protocol", choices=("iso2", "din"), default="iso2")
    p.add_argument("--dc", action="store_true", help="DC charging (always with DIN)")
    p.add_argument("--interface", help="network interface for SDP multicast and link-local addresses")
    p.add_argument("--sdp-address", help="send SDP to this address instead of ff02::1 (e.g. ::1)")
    p.add_argument("--sdp-port", type=int, default=SDP_PORT)
    p.add_argument("--secc", help="skip SDP: [address]:port")
    p.add_argument("--loops", type=int, default=10, help="CurrentDemand / ChargingStatus requests")
    p.add_argument("--cycle-s", type=float, default=0.05, help="pause before each charge-loop request")
    p.add_argument("--timeout-scale", type=float, default=1.0, help="multiply the EV's response timeouts")
    p.add_argument("--misbehave", help=f"KIND@Request[#N] (at the Nth such request), KIND one of {', '.join(MISBEHAVIOURS)}")
    p.add_argument("--stall-wait-s", type=float, default=90.0, help="with stall: how long to wait for the SECC")
    p.add_argument("--slac", action="store_true", help="match with SLAC on --interface first (raw socket, root)")
    p.add_argument("--slac-only", action="store_true", help="stop after SLAC")
    p.add_argument("--connector", type=int, default=0, help="also drive the simulated CP of this board connector")
    p.add_argument("--bus-address", help="D-Bus address of the board (default $EVCHARGE_BUS_ADDRESS / system bus)")
    p.add_argument("--stay-plugged", action="store_true", help="do not unplug at the end")
    p.add_argument("--unplug-delay-s", type=float, default=1.0, help="from the end of the session to unplugging")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s ev %(levelname)s %(message)s")
    result = asyncio.run(run(args))
    print(json.dumps(asdict(result)), flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
