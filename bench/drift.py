"""Hours of two drifting clocks, accelerated: is echo cancellation and barge-in as good at the end?

    .venv/bin/python bench/drift.py [--minutes 12] [--ppm 3000] [--delay 0.25] [--every 20]

A USB mic and a separate speaker 300 ppm apart slip 2.16 s against each other in two hours. This
runs the real front end in the simulated room (speed 0: as fast as the CPU goes) for `--minutes`
of audio with the speaker clock `--ppm` off the mic's, so that the defaults slip as far as two
hours at 300 ppm do. An espeak-ng reply (echo 6 dB over the user, RT60 0.3 s, `--delay` of echo
path) plays every `--every` seconds; in the first and the last three minutes the user barges into
every second reply, 3 s in. Printed: ERLE of the echo-only replies (first three vs last three),
barge-in onset delay (user onset -> `SpeechStarted`) at the start vs the end, self-heard onsets
(any `SpeechStarted` outside the user's speech), pauses for nothing (`SpeechPossible` outside it:
the daemon silences the reply for ~0.1 s), and the echo delay and drift the front end measured.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np

from support.recordings import ZH
from support.simroom import RoomSpec, SimulatedRoom, normalize_speech

from voiceloop.audio.decode import decode_file
from voiceloop.audio.frontend import FrontEnd, frontend_events
from voiceloop.audio.speech import SpeechPossible, SpeechStarted
from voiceloop.audio.port import Captured
from voiceloop.config import AecConfig, Config, TtsConfig
from voiceloop.tts.espeak import EspeakSynthesizer

USERS = ("aishell1_BAC009S0724W0121.wav", "aishell1_BAC009S0764W0121.wav", "funasr_asr_example.wav")
TEXT = "好的，我来详细说一说。广州的房地产市场最近变化很大。很多中介公司都在调整策略。"


class EnergyFrontEnd(FrontEnd):
    """The real front end, summing mic and echo-cancelled energy per reply (no audio kept)."""

    def __init__(self, cfg: Config, spans: list[tuple[float, float]]):
        super().__init__(cfg)
        self.spans = spans
        self.energy = np.zeros((len(spans), 2))

    def _cancel(self, item: Captured, pos: float):
        cancelled = super()._cancel(item, pos)
        k = np.searchsorted([s for s, _ in self.spans], item.t, side="right") - 1
        if k >= 0 and item.t < self.spans[k][1]:
            mic = float(np.sum(item.samples.astype(np.float64) ** 2))
            if mic > 160e-6:  # echo present (> -60 dBFS)
                self.energy[k] += (mic, float(np.sum(cancelled.clean.astype(np.float64) ** 2)))
        return cancelled


async def run(args) -> None:
    reply = normalize_speech(np.concatenate([c async for c in EspeakSynthesizer(TtsConfig()).synthesize(TEXT)]), -32.0)
    total = args.minutes * 60
    starts = list(np.arange(1.0, total - args.every, args.every))
    barge = [i for i, t in enumerate(starts) if (t < 180 or t > total - 180) and i % 2 == 1]
    script = [(starts[i] + 3.0, decode_file(ZH / USERS[j % len(USERS)])) for j, i in enumerate(barge)]
    room = SimulatedRoom(RoomSpec(delay_s=args.delay, clock_ppm=args.ppm, echo_gain_db=6.0, snr_db=30.0,
                                  render_block=3, capture_block=2, duration_s=total), script)
    front = EnergyFrontEnd(Config(aec=AecConfig(noise_suppression=False)),
                           [(t, t + len(reply) / 16000 + args.delay + 0.3) for t in starts])

    task = asyncio.create_task(room.play_at([(t, reply) for t in starts]))
    onsets, signs, wall = [], [], time.perf_counter()
    async for ev in frontend_events(room.frames(), front):
        if isinstance(ev, SpeechPossible):
            signs.append(room.now)
        if isinstance(ev, SpeechStarted):
            onsets.append(room.now)
            room.clear()
    task.cancel()
    report(args, room, front, starts, barge, onsets, time.perf_counter() - wall)
    users = room.truth.user_speech
    idle = [t for t in signs if not any(a - 0.05 <= t <= b for a, b in users)]
    played_min = sum(p.end_t - p.start_t for p in room.truth.playback) / 60
    print(f"reply paused for nothing (a possible onset outside the user's speech): {len(idle)} in {played_min:.1f} min "
          f"of reply ({len(idle) / max(played_min, 1e-9):.2f} per minute)")


def report(args, room, front, starts, barge, onsets, wall_s) -> None:
    users = room.truth.user_speech
    delays = {}
    for (a, b), i in zip(users, barge):
        hit = [t for t in onsets if a - 0.05 <= t <= b]
        delays[i] = hit[0] - a if hit else None
    self_heard = [t for t in onsets if not any(a - 0.05 <= t <= b for a, b in users)]
    echo_only = [k for k in range(len(starts)) if k not in barge and front.energy[k, 1] > 0]
    erle = {k: 10 * np.log10(front.energy[k, 0] / front.energy[k, 1]) for k in echo_only}
    slip_ms = args.minutes * 60 * args.ppm * 1e-3
    print(f"{args.minutes:.0f} min of audio at {args.ppm:+.0f} ppm (clocks slip {slip_ms:.0f} ms = "
          f"{slip_ms / 2160 * 120:.0f} min at 300 ppm), echo delay {args.delay * 1000:.0f} ms, in {wall_s:.0f} s")
    print(f"front end measured: echo delay {front.echo_delay_s * 1000:.1f} ms, clocks {front._path.drift_ppm:+.0f} ppm")
    first, last = echo_only[:3], echo_only[-3:]
    print("ERLE, echo-only replies, start:", " ".join(f"{erle[k]:.1f}" for k in first),
          " end:", " ".join(f"{erle[k]:.1f}" for k in last), "dB")
    for name, part in (("start", [i for i in barge if starts[i] < 180]), ("end", [i for i in barge if starts[i] >= 180])):
        got = [delays[i] for i in part if delays.get(i) is not None]
        ms = " ".join(f"{d * 1000:.0f}" for d in got)
        print(f"barge-in onset {name}: {ms} ms (median {np.median(got) * 1000:.0f}); missed {len(part) - len(got)}/{len(part)}"
              if got else f"barge-in onset {name}: none heard of {len(part)}")
    print(f"self-heard onsets: {len(self_heard)} {[round(t, 1) for t in self_heard][:10]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=12.0, help="audio simulated")
    parser.add_argument("--ppm", type=float, default=3000.0, help="speaker clock against the mic clock")
    parser.add_argument("--delay", type=float, default=0.25, help="echo path delay, seconds")
    parser.add_argument("--every", type=float, default=20.0, help="a reply every this many seconds")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
