"""Loopback addresses for tests: nothing here ever leaves 127.0.0.1."""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A 127.0.0.1 port with nothing listening (bound, then released): connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
