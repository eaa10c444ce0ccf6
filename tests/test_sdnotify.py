"""The sd_notify protocol against real unix datagram sockets, as systemd's manager binds them."""

from __future__ import annotations

import logging
import os
import socket

from voiceloop.sdnotify import SystemdNotifier


def test_messages_reach_an_abstract_namespace_socket():
    name = f"voiceloop-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind("\0" + name)
        manager.settimeout(5)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "30000000"})
        assert notifier.notify("READY=1", "STATUS=listening")
        assert manager.recv(4096) == b"READY=1\nSTATUS=listening"
        notifier.close()
    assert notifier.watchdog_s == 30.0


def test_outside_systemd_nothing_is_sent_and_no_watchdog():
    notifier = SystemdNotifier({})
    assert not notifier.notify("READY=1") and notifier.watchdog_s is None
    assert SystemdNotifier({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "1"}).watchdog_s is None  # not ours


def test_a_vanished_socket_is_warned_about_once_and_never_raises(tmp_path, caplog):
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    with caplog.at_level(logging.WARNING, logger="voiceloop.sdnotify"):
        assert not notifier.notify("WATCHDOG=1") and not notifier.notify("WATCHDOG=1")
    assert len(caplog.records) == 1 and "gone.sock" in caplog.records[0].getMessage()
