"""Whether a listening address stays on this machine: the HTTP API and Wyoming both refuse to
listen beyond it without their safeguard (a token, an allow list)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str | None) -> bool:
    """True for localhost and 127.0.0.0/8 or ::1; a host name is taken as reachable from outside."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False
