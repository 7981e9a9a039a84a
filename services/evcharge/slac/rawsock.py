"""AF_PACKET raw socket for ethertype 0x88E1 on one interface, with an asyncio reader."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

from .messages import ETHERTYPE

ETH_P_ALL = 0x0003


def interface_mac(ifname: str) -> bytes:
    text = Path(f"/sys/class/net/{ifname}/address").read_text().strip()
    return bytes(int(p, 16) for p in text.split(":"))


class RawSocket:
    def __init__(self, ifname: str, *, all_frames: bool = False) -> None:
        proto = ETH_P_ALL if all_frames else ETHERTYPE
        self.ifname = ifname
        self.mac = interface_mac(ifname)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
        self.sock.bind((ifname, proto))
        self.sock.setblocking(False)
        self._all = all_frames

    def start(self, on_frame: Callable[[bytes], None]) -> None:
        def readable() -> None:
            while True:
                try:
                    frame = self.sock.recv(2048)
                except BlockingIOError:
                    return
                if self._all and frame[12:14] != ETHERTYPE.to_bytes(2, "big"):
                    continue
                on_frame(frame)

        asyncio.get_running_loop().add_reader(self.sock.fileno(), readable)

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def close(self) -> None:
        try:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        except RuntimeError:
            pass
        self.sock.close()
