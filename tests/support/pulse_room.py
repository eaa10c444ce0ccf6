"""The room between a speaker and a microphone, as a real process on a PulseAudio server.

It records `speaker.monitor` (what the daemon plays), convolves it with a room impulse response,
scales it to the echo level, adds the scripted user's speech at given times and plays the sum into
`micsink`, whose monitor is the daemon's microphone. Run with the venv's python and the server's
`PULSE_SERVER` in the environment:

    python tests/support/pulse_room.py --speech clip.wav@1.5 --rt60 0.3 --echo-db -6 --delay-ms 400

`--delay-ms` adds that much delay to the echo path on top of the sound server's own buffering: a
Bluetooth or HDMI speaker's output latency, which no timestamp of the daemon's streams shows.
`--ppm` plays the speaker's sound that much fast (linear interpolation, before the room): a speaker
on its own clock that nothing compensates, a drift the daemon's timestamps do not show either.

It prints "ready" once both streams run; the speech times count from that moment. Stop it with
SIGTERM.

A real room never falls behind. This process can, on a busy box: then what the speaker played
queues up in front of it or in front of the player and comes out late, as an echo path that grew
by the length of the stall and stays grown (suspected, not shown, in a reply's last word heard as
the user seconds after the daemon's echo window had closed, once in a full test run). So a backlog
of more than `MAX_BEHIND_S`, in front of this process or in front of the microphone's player, is
dropped (after going through the room, so its reverb and the speech schedule go on): the
microphone hears a gap, as from a glitch, and the echo path keeps its length.
"""

from __future__ import annotations

import argparse
import array
import fcntl
import os
import signal
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
from scipy.signal import fftconvolve

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the support package

from voiceloop.audio.decode import decode_file  # noqa: E402
from support.rir import synth_rir  # noqa: E402

RATE = 16000
BLOCK = 320  # 20 ms
BLOCK_BYTES = BLOCK * 4
MAX_BEHIND_S = 0.1


class Room:
    """Streaming overlap-add of the speaker signal with the RIR, plus scheduled speech."""

    def __init__(self, rir: np.ndarray, gain_db: float, speech: list[tuple[int, np.ndarray]]):
        self._rir = rir * 10 ** (gain_db / 20)
        self._tail = np.zeros(len(rir) - 1, dtype=np.float64)
        self._speech = speech
        self._n = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        wet = fftconvolve(block, self._rir)
        wet[: len(self._tail)] += self._tail
        out, self._tail = wet[: len(block)].copy(), wet[len(block):]
        for start, clip in self._speech:
            lo, hi = max(start, self._n), min(start + len(clip), self._n + len(block))
            if lo < hi:
                out[lo - self._n: hi - self._n] += clip[lo - start: hi - start]
        self._n += len(block)
        return out.astype(np.float32)


class Drift:
    """A delay line read at `1 + ppm 1e-6` of its rate: the echo path slips by that much (a fast
    speaker eats into the delay, 0.3 ms a second at 300 ppm)."""

    def __init__(self, ppm: float, delay: int):
        self._step = 1.0 + ppm * 1e-6
        self._buf = np.zeros(delay)
        self._pos = 0.0  # next read position in `_buf`

    def process(self, block: np.ndarray) -> np.ndarray:
        self._buf = np.concatenate([self._buf, block])
        where = self._pos + np.arange(len(block)) * self._step
        where = np.minimum(where, len(self._buf) - 1.001)  # a fast speaker never reads what is not there
        base = where.astype(np.int64)
        frac = where - base
        out = self._buf[base] * (1 - frac) + self._buf[base + 1] * frac
        self._pos = where[-1] + self._step
        keep = int(self._pos) - 1
        if keep > 0:
            self._buf, self._pos = self._buf[keep:], self._pos - keep
        return out


def _pa(tool: str, device: str, latency_ms: int) -> list[str]:
    return [tool, f"--device={device}", "--raw", "--format=float32le", f"--rate={RATE}", "--channels=1",
            f"--latency-msec={latency_ms}"]


def _read_block(fd: int) -> bytes | None:
    """One whole block from the recorder, or None at its end."""
    data = b""
    while len(data) < BLOCK_BYTES:
        more = os.read(fd, BLOCK_BYTES - len(data))
        if not more:
            return None
        data += more
    return data


def _samples(block: bytes) -> np.ndarray:
    return np.frombuffer(block, dtype="<f4").astype(np.float64)


def _queued_blocks(fd: int) -> int:
    """Whole blocks waiting in a pipe (either end): how far its reader is behind its writer."""
    count = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, count)
    return count[0] // BLOCK_BYTES


def _speech(specs: list[str]) -> list[tuple[int, np.ndarray]]:
    out = []
    for spec in specs:
        path, _, at = spec.rpartition("@")
        out.append((int(float(at) * RATE), decode_file(Path(path)).astype(np.float64)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speech", action="append", default=[], help="FILE@SECONDS: the user says FILE at SECONDS")
    parser.add_argument("--rt60", type=float, default=0.3, help="reverberation time of the room in seconds")
    parser.add_argument("--echo-db", type=float, default=-6.0, help="level of the speaker at the mic, dB")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="extra speaker-to-mic delay (speaker latency)")
    parser.add_argument("--ppm", type=float, default=0.0, help="speaker clock against the mic's, hidden from both")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    delay = int(args.delay_ms * RATE / 1000)
    drift = Drift(args.ppm, delay) if args.ppm else None
    rir = np.concatenate([np.zeros(0 if drift else delay), synth_rir(args.rt60, seed=args.seed)])
    room = Room(rir.astype(np.float64), args.echo_db, _speech(args.speech))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    rec = subprocess.Popen(_pa("parec", "speaker.monitor", 20), stdout=subprocess.PIPE, bufsize=0)
    mic = subprocess.Popen(_pa("pacat", "micsink", 40), stdin=subprocess.PIPE)  # headroom against underruns
    print("ready", flush=True)
    fd, max_behind = rec.stdout.fileno(), int(MAX_BEHIND_S * RATE / BLOCK)
    try:
        while (raw := _read_block(fd)) is not None:
            block = _samples(raw)
            out = room.process(drift.process(block) if drift else block)
            if (behind := _queued_blocks(fd)) > max_behind:
                print(f"room: {behind * BLOCK / RATE:.2f} s behind the speaker; dropped", file=sys.stderr, flush=True)
                for _ in range(behind):  # through the room (its reverb and the speech schedule go on), unheard
                    out = room.process(_samples(_read_block(fd) or bytes(BLOCK_BYTES)))
            if _queued_blocks(mic.stdin.fileno()) > max_behind:  # the player is the one behind
                print("room: the microphone's player is behind; dropped a block", file=sys.stderr, flush=True)
                continue
            mic.stdin.write(out.tobytes())
            mic.stdin.flush()
    except (BrokenPipeError, SystemExit):
        pass
    finally:
        rec.kill()
        mic.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
