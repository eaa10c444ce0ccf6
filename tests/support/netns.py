"""Run test code inside a network namespace of its own, so multicast (mDNS) never leaves the test.

Tests may send traffic only to loopback; mDNS goes to the group on every interface, the machine's
real ones included. A thread that calls unshare(CLONE_NEWNET) moves (with the threads and
subprocesses it starts) into a fresh namespace whose only interface is `lo`; the rest of the test
process stays where it was. Needs root (CAP_SYS_ADMIN) and iproute2's `ip`.
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000  # <sched.h>; os.unshare arrives only in Python 3.12


def _enter_new_netns() -> None:
    """Move the calling thread into a new network namespace with `lo` up and carrying multicast."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"unshare(CLONE_NEWNET): {os.strerror(errno)} (the test needs root)")
    names = [name for _, name in socket.if_nameindex()]
    assert names == ["lo"], f"not in a fresh network namespace: interfaces {names}"
    for cmd in (["ip", "link", "set", "lo", "up", "multicast", "on"],
                ["ip", "route", "add", "224.0.0.0/4", "dev", "lo", "src", "127.0.0.1"]):
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=10)


def in_new_netns(fn: Callable[[], T], timeout_s: float = 120) -> T:
    """`fn()` on a throwaway thread inside a new network namespace holding only loopback; its result
    or its exception. The namespace goes away with the thread and the sockets made in it."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            _enter_new_netns()
            outcome["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="netns-test", daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), f"still running in the network namespace after {timeout_s} s"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]
