"""A private PulseAudio server with null sinks: real sound devices on a box without a sound card.

`speaker` is what the daemon plays into (default sink); `micsink` is what the room plays into, and
its monitor is the daemon's microphone (default source). Both are 16 kHz mono: a 48 kHz sink costs
~45 dB of loopback SNR in the server's resampler. The server runs as a child of the test process
with its own runtime dir, so nothing on the host (or a parallel test run) is touched.

Clients reach it through `PULSE_SERVER`: `env` for subprocesses (parec, pacat, the room process),
`activate()` for this process, which also makes PortAudio enumerate again so its ALSA "pulse"
device connects here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

RATE = 16000
_DEFAULT_PA = """\
load-module module-native-protocol-unix auth-anonymous=1 socket={socket}
load-module module-null-sink sink_name=speaker rate=16000 channels=1
load-module module-null-sink sink_name=micsink rate=16000 channels=1
set-default-sink speaker
set-default-source micsink.monitor
"""


class PulseServer:
    """One `pulseaudio` process; `restart()` kills it hard and brings it back (a sound server crash)."""

    def __init__(self, root: Path):
        self.root = root
        self.runtime = root / "runtime"
        self.socket = self.runtime / "native"
        self.script = root / "default.pa"
        self.env = {**os.environ, "PULSE_SERVER": f"unix:{self.socket}", "XDG_RUNTIME_DIR": str(self.runtime)}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        for tool in ("pulseaudio", "pactl", "parec", "pacat"):
            assert shutil.which(tool), f"{tool} missing: apt-get install pulseaudio pulseaudio-utils (scripts/setup)"
        self.runtime.mkdir(parents=True, exist_ok=True)
        self.runtime.chmod(0o700)
        self.script.write_text(_DEFAULT_PA.format(socket=self.socket))
        log = open(self.root / "pulseaudio.log", "ab")
        # -n: no system default.pa; running as root is allowed outside --system with a warning.
        self.proc = subprocess.Popen(
            ["pulseaudio", "-n", "-F", str(self.script), "--exit-idle-time=-1", "--daemonize=no",
             "--use-pid-file=no", "--disallow-exit", "--log-target=stderr"],
            env={**self.env, "HOME": str(self.root)}, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout_s
        while subprocess.run(["pactl", "info"], env=self.env, capture_output=True).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pulseaudio did not come up; log: {(self.root / 'pulseaudio.log').read_text()[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()

    def pactl(self, *args: str) -> str:
        done = subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True, timeout=10)
        if done.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def add_null_sink(self, name: str, rate: int, channels: int) -> None:
        self.pactl("load-module", "module-null-sink", f"sink_name={name}", f"rate={rate}", f"channels={channels}")

    def activate(self) -> None:
        """Point this process's PulseAudio clients (PortAudio's ALSA "pulse" device) at this server."""
        from voiceloop.audio.devicelist import refresh

        os.environ["PULSE_SERVER"] = self.env["PULSE_SERVER"]
        refresh()

    def recorder(self, source: str, rate: int = RATE, channels: int = 1) -> "Recorder":
        return Recorder(self, source, rate, channels)

    def play(self, sink: str, samples: np.ndarray, rate: int = RATE) -> subprocess.Popen:
        """Start playing mono float32 `samples` into `sink` (pacat); returns the running process."""
        proc = subprocess.Popen(_pa_args("pacat", sink, rate, 1), env=self.env, stdin=subprocess.PIPE)
        proc.stdin.write(np.asarray(samples, dtype="<f4").tobytes())
        proc.stdin.close()
        return proc


class Recorder:
    """parec on a source, as float32, read by a thread; `stop()` returns what it heard.

    Starts only once parec delivers data, so nothing played afterwards is missed. The result has
    shape (n,) or (n, channels).
    """

    def __init__(self, server: PulseServer, source: str, rate: int, channels: int):
        self.channels = channels
        self._chunks: list[bytes] = []
        self._proc = subprocess.Popen(_pa_args("parec", source, rate, channels), env=server.env,
                                      stdout=subprocess.PIPE)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._chunks:
            assert time.monotonic() < deadline and self._proc.poll() is None, f"parec on {source} delivers nothing"
            time.sleep(0.01)

    def _read(self) -> None:
        while chunk := self._proc.stdout.read1(65536):
            self._chunks.append(chunk)

    def stop(self) -> np.ndarray:
        self._proc.terminate()
        self._proc.wait(timeout=10)
        self._thread.join(timeout=10)
        data = b"".join(self._chunks)
        frame = 4 * self.channels
        samples = np.frombuffer(data[: len(data) // frame * frame], dtype="<f4")
        return samples if self.channels == 1 else samples.reshape(-1, self.channels)


def _pa_args(tool: str, device: str, rate: int, channels: int) -> list[str]:
    return [tool, f"--device={device}", "--raw", "--format=float32le", f"--rate={rate}",
            f"--channels={channels}", "--latency-msec=20"]


@contextmanager
def pulse_server(root: Path) -> Iterator[PulseServer]:
    """A running server for the duration of the block; stopped (killed) afterwards."""
    server = PulseServer(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def room_process(server: PulseServer, speech: list[tuple[Path, float]] = (), rt60_s: float = 0.3,
                 echo_db: float = -6.0, delay_ms: float = 0.0, ppm: float = 0.0) -> Iterator[subprocess.Popen]:
    """Run `pulse_room.py` (speaker.monitor -> delay -> RIR -> + speech -> micsink) until the block ends."""
    script = Path(__file__).with_name("pulse_room.py")
    args = [sys.executable, str(script), "--rt60", str(rt60_s), "--echo-db", str(echo_db), "--delay-ms", str(delay_ms),
            "--ppm", str(ppm)]
    for path, at in speech:
        args += ["--speech", f"{path}@{at}"]
    proc = subprocess.Popen(args, env=server.env, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "ready", f"room process failed to start (exit {proc.poll()})"
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
