"""`voiceloop run` at boot: started before the sound server, it waits, then serves; systemd is told.

The daemon is the real CLI in a subprocess. Its `$NOTIFY_SOCKET` is a real unix datagram socket
bound by the test, which plays systemd's part: it receives READY=1 only once the devices are
open, then WATCHDOG=1 every WatchdogSec/2.
"""

from __future__ import annotations

import itertools
import signal
import socket
import subprocess
import sys
import threading
import time

from support.net import closed_port
from support.openai_server import Script, ThreadedOpenAIServer
from support.pulse import PulseServer

WATCHDOG_S = 2.0


class _Stamped:
    """Lines (or datagrams) with the monotonic time they arrived, collected by a thread."""

    def __init__(self, source, reader):
        self.items: list[tuple[float, str]] = []
        threading.Thread(target=self._run, args=(source, reader), daemon=True).start()

    def _run(self, source, reader) -> None:
        for item in reader(source):
            self.items.append((time.monotonic(), item))

    def first(self, text: str, timeout_s: float) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            hits = [t for t, item in list(self.items) if text in item]
            if hits:
                return hits[0]
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} within {timeout_s} s:\n" + "\n".join(i for _, i in self.items[-30:]))

    def count(self, text: str) -> int:
        return sum(text in item for _, item in list(self.items))


def _lines(stream):
    for line in stream:
        yield line.rstrip("\n")


def _datagrams(sock: socket.socket):
    sock.settimeout(0.2)
    while True:
        try:
            yield sock.recv(4096).decode()
        except TimeoutError:
            continue
        except OSError:  # closed
            return


def test_run_before_the_sound_server_waits_then_serves_notifies_systemd_and_logs_xruns(tmp_path, whisper_base_dir):
    pulse = PulseServer(tmp_path / "pulse")  # not started yet: the box is still booting
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    config = tmp_path / "voiceloop.yaml"
    with ThreadedOpenAIServer(Script()) as llm:
        config.write_text(
            f"asr:\n  engine: whisper\n  device: cpu\n  whisper:\n    model: {whisper_base_dir}\n"
            f"audio:\n  input_device: pulse\n  output_device: pulse\n  reopen_max_s: 1.0\n"
            f"llm:\n  base_url: {llm.base_url}\n  model: test-model\n"
            f"tts:\n  edge_proxy: http://127.0.0.1:{closed_port()}\n"
            f"dialogue:\n  turn_log: ''\n"
            f"api:\n  port: {closed_port()}\n", encoding="utf-8")  # not 8765, which anything may hold
        env = {**pulse.env, "HOME": str(tmp_path), "VOICELOOP_CONFIG": "",
               "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": str(int(WATCHDOG_S * 1e6))}
        daemon = subprocess.Popen([sys.executable, "-m", "voiceloop", "run", "--config", str(config)], env=env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True)
        try:
            log = _Stamped(daemon.stderr, _lines)
            told = _Stamped(notify, _datagrams)
            log.first("waiting for audio devices", timeout_s=90)
            time.sleep(4.0)  # several tries later: still alive, still quiet, not ready
            assert daemon.poll() is None, "the daemon exited instead of waiting"
            assert told.count("READY=1") == 0 and told.count("WATCHDOG=1") == 0
            pulse.start()
            up = time.monotonic()
            ready_at = log.first("ready:", timeout_s=30)
            ready_told = told.first("READY=1", timeout_s=5)
            time.sleep(3 * WATCHDOG_S)
            pings = [t for t, item in list(told.items) if item == "WATCHDOG=1"]
            # The whole daemon stopped for 1.5 s (a loaded box, swapping): the speaker runs dry.
            daemon.send_signal(signal.SIGSTOP)
            time.sleep(1.5)
            daemon.send_signal(signal.SIGCONT)
            log.first("audio xruns: ", timeout_s=10)
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=30) == 0
            told.first("STOPPING=1", timeout_s=5)
        finally:
            if daemon.poll() is None:
                daemon.kill()
            pulse.stop()
            notify.close()
    print(f"sound server up -> 'ready' logged {ready_at - up:.2f} s, READY=1 {ready_told - up:.2f} s later")
    assert ready_told - up < 1.0 + 2.0  # the longest retry gap plus one try and the LLM probe, loaded box
    assert log.count("waiting for audio devices") == 1, "the wait was logged more than once"
    assert log.count("loading whisper ASR model") == 1, "the model was loaded twice"
    assert log.count("ALSA lib") == 0, "libasound wrote to stderr (its messages belong in the DEBUG log)"
    xruns = [line for _, line in log.items if "audio xruns: " in line]
    # At least the stop's underflow; at most one line a minute, however many followed it.
    assert len(xruns) == 1 and "WARNING" in xruns[0] and "flow" in xruns[0], xruns
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert pings and pings[0] >= ready_told and len(pings) >= 4, told.items
    assert all(0.5 * WATCHDOG_S / 2 < g < 1.5 * WATCHDOG_S / 2 for g in gaps), gaps
