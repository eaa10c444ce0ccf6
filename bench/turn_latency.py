"""Turn latency and barge-in reaction of the whole daemon, in the simulated room, in real time.

    .venv/bin/python bench/turn_latency.py [--trials 5] [--ttft 0.3] [--echo-db 6] [--delay 0.4]

The LLM is the loopback test server with a fixed time to first token, the voice is espeak-ng
(local), ASR is Whisper base from PyPI (CPU). For each turn the room's ground truth gives the
true end of user speech and the moment reply audio first left the speaker; the daemon's own
added latency is what remains after subtracting the parts it does not control:

    added = (first audio out - end of speech) - endpoint silence - ASR - LLM to first sentence - TTS to first audio

Barge-in reaction is user onset (truth) -> playback cleared (truth). Targets: added <= 50 ms
median, barge-in <= 150 ms median.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.models_pypi import assemble_whisper_base  # noqa: E402
from support.openai_server import OpenAIServer, Script  # noqa: E402
from support.recordings import ZH  # noqa: E402

from voiceloop.assistant import TurnFinished  # noqa: E402
from voiceloop.audio.decode import decode_file  # noqa: E402
from support.simroom import RoomSpec, SimulatedRoom  # noqa: E402
from voiceloop.config import AsrConfig, Config, DialogueConfig, LlmConfig, TtsConfig, WhisperConfig  # noqa: E402
from voiceloop.daemon import serve  # noqa: E402
from voiceloop.logs import setup_logging  # noqa: E402

CLIPS = ("aishell1_BAC009S0724W0121.wav", "aishell1_BAC009S0764W0121.wav", "funasr_asr_example.wav",
         "wenet_nst_ID001.wav", "wenet_nst_ID002.wav")
ESPEAK_DBFS = -20.0  # measured level of voiceloop's espeak-ng Mandarin voice (active speech)
LONG_REPLY = tuple("这是一个很长的回答，用来测试打断。" for _ in range(12))


async def one_trial(clip: str, asr, cfg: Config, ttft: float, echo_db: float, rt60: float, delay: float
                    ) -> dict | None:
    speech = decode_file(ZH / clip)
    barge_at = 0.5 + len(speech) / 16000 + 6.0
    gain_db = echo_db - (ESPEAK_DBFS - RoomSpec().speech_dbfs)
    room = SimulatedRoom(RoomSpec(speed=1.0, duration_s=barge_at + 6.0, echo_gain_db=gain_db, rt60_s=rt60, delay_s=delay),
                         script=[(0.5, speech), (barge_at, decode_file(ZH / "aishell1_BAC009S0764W0121.wav"))])
    async with OpenAIServer(Script(deltas=LONG_REPLY, first_token_delay_s=ttft, delta_delay_s=0.3),
                            Script(deltas=("好。",))) as srv:
        llm = LlmConfig(base_url=srv.base_url, model="bench")
        run_cfg = Config(asr=cfg.asr, llm=llm, tts=cfg.tts, dialogue=DialogueConfig(turn_log=""))
        finished: list[TurnFinished] = []
        await serve(run_cfg, room, asr, on_event=lambda e: finished.append(e) if isinstance(e, TurnFinished) else None)
    if not finished or not room.truth.playback:
        return None  # no reply was played (printed as such)
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
    onset = room.truth.user_speech[1][0]
    clears = [t for t, dropped in room.truth.clears if t >= onset - 0.05 and dropped > 0]
    return {"clip": clip, "total": total, "asr": asr_s, "llm": llm_s, "tts": tts_s, "added": added,
            "endpoint_late": endpoint_late, "pipeline": pipeline,
            "barge_in": (clears[0] - onset) if clears else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--ttft", type=float, default=0.3, help="LLM time to first token, seconds")
    parser.add_argument("--echo-db", type=float, default=6.0,
                        help="the assistant's voice at the mic over the user's, dB (espeak plays at about "
                             "-20 dBFS, the room puts the user at -32 dBFS)")
    parser.add_argument("--rt60", type=float, default=0.3, help="room reverberation time, seconds")
    parser.add_argument("--delay", type=float, default=0.05, help="speaker-to-mic echo delay, seconds (0.4: Bluetooth)")
    args = parser.parse_args()
    setup_logging("WARNING")
    from voiceloop.asr.whisper import WhisperEngine

    with tempfile.TemporaryDirectory() as tmp:
        asr_cfg = AsrConfig(engine="whisper", device="cpu", whisper=WhisperConfig(model=str(assemble_whisper_base(Path(tmp)))))
        asr = WhisperEngine(asr_cfg)
        cfg = Config(asr=asr_cfg, tts=TtsConfig(engine="espeak"))
        rows = []
        for i in range(args.trials):
            clip = CLIPS[i % len(CLIPS)]
            row = asyncio.run(one_trial(clip, asr, cfg, args.ttft, args.echo_db, args.rt60, args.delay))
            if row is None:
                print(f"{clip:<34} no reply was played")
                continue
            rows.append(row)
            barge = f"{row['barge_in'] * 1000:6.0f}" if row["barge_in"] is not None else "   n/a"
            print(f"{clip:<34} speech end->audio {row['total']:5.2f}s  asr {row['asr']:.2f}s  "
                  f"llm->1st sentence {row['llm']:.2f}s  tts {row['tts']:.3f}s  added {row['added'] * 1000:4.0f} ms "
                  f"(endpointer {row['endpoint_late'] * 1000:4.0f} + pipeline {row['pipeline'] * 1000:3.0f})  "
                  f"barge-in {barge} ms")
    added = statistics.median(r["added"] for r in rows) * 1000
    barges = [r["barge_in"] for r in rows if r["barge_in"] is not None]
    total = statistics.median(r["total"] for r in rows)
    print(f"\nmedian end of speech -> first audio (all local, CPU): {total:.2f} s")
    late = statistics.median(r["endpoint_late"] for r in rows) * 1000
    pipeline = statistics.median(r["pipeline"] for r in rows) * 1000
    print(f"median daemon-added latency: {added:.0f} ms (target <= 50 ms: {added / 50:.2f}x of target)")
    print(f"  of which endpointing later than the configured silence: {late:.0f} ms (VAD release vs the "
          f"energy-based speech end), pipeline (queues, threads, playback start): {pipeline:.0f} ms")
    if barges:
        b = statistics.median(barges) * 1000
        p90 = float(np.percentile(barges, 90)) * 1000
        print(f"median barge-in reaction: {b:.0f} ms, p90 {p90:.0f} ms over {len(barges)}/{len(rows)} trials "
              f"(target <= 150 ms: {b / 150:.2f}x of target)")
    else:
        print("barge-in never detected")


if __name__ == "__main__":
    main()
