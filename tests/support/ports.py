"""Loopback ports: a free one to listen on, and whether something listens."""

from __future__ import annotations

import socket

from bot.ops.localdb import free_port

__all__ = ["free_port", "port_open"]


def port_open(port: int) -> bool:
    """True when something listens on the loopback port."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0
