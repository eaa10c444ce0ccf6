"""systemd's service notification protocol: READY=1, WATCHDOG=1 and STATUS= to `$NOTIFY_SOCKET`.

Hand-written rather than a dependency: the protocol is one AF_UNIX datagram of newline-separated
`KEY=VALUE` lines, documented as stable in sd_notify(3), which invites standalone
implementations. The pure-Python `sdnotify` package has not been released since 2017 and hides
every error; `cysystemd` and `systemd-python` bind all of libsystemd for these few lines.

Outside systemd (`$NOTIFY_SOCKET` unset) every call does nothing, so the daemon runs the same by
hand, under systemd with `Type=notify`, or under any supervisor speaking the same protocol.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SystemdNotifier:
    """One datagram socket to the service manager; `watchdog_s` is `WatchdogSec=` (None: no watchdog)."""

    def __init__(self, environ: Mapping[str, str] = os.environ):
        address = environ.get("NOTIFY_SOCKET", "")
        # "@name" is a socket in the abstract namespace; anything else is a filesystem path.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_s = _watchdog_s(environ)
        self._sock: socket.socket | None = None
        self._warned = False

    def notify(self, *fields: str) -> bool:
        """Send `fields` ("READY=1", "STATUS=...") as one message; never blocks, never raises."""
        if not self._address:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)  # a stuck manager must not stall the event loop
            self._sock.sendto("\n".join(fields).encode("utf-8"), self._address)
            return True
        except OSError as exc:
            if not self._warned:
                log.warning("cannot notify systemd at %s: %s", self._address.replace("\0", "@"), exc)
                self._warned = True
            return False

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _watchdog_s(environ: Mapping[str, str]) -> float | None:
    """WatchdogSec= in seconds, if set for this process (`$WATCHDOG_PID`, when present, must be ours)."""
    usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1e6
