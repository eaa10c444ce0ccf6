"""Audio front-end benchmark: echo cancellers and speech detectors side by side, in one run.

    .venv/bin/python bench/frontend.py

Everything runs in `SimulatedRoom` (RT60 0.3 s) with the real Mandarin clips in ../shared/audio/zh:
- AEC (webrtc, speexdsp, none): ERLE over time (0.5 s windows), convergence time (first window
  at >= 30 dB; "-" if never), steady ERLE after 2 s, near-end loss in double-talk (echo 6 dB
  over the user; "NE loss" is the same without echo, i.e. what the processing alone costs), and
  CPU per 10 ms frame. Convergence is counted from the first window with echo, so "0.0 s" means
  the first 0.5 s window already reached 30 dB.
- Barge-in (webrtc, speexdsp, none; double-talk detector on and off): the user talks over an
  espeak-ng reply whose echo is 6 dB over the user; onset delay = `SpeechStarted` (room clock)
  minus the true onset, median over 3 users x 3 echo delays, playback cleared on the onset as the
  daemon does; "1st sign" is the same for the first `SpeechPossible` (where the daemon pauses the
  reply); "missed" counts barge-ins never heard; "echo onsets" are `SpeechStarted` events in the
  same replies without a user (must be 0), "echo pauses" `SpeechPossible` events there (each a
  pause of a few tens of ms); cpu is the whole front end per 10 ms frame.
- Listening to silence (the box's usual state): CPU per 10 ms frame of the whole front end and of
  each stage (aligner, echo-delay estimator, AEC3, double-talk detector, speech detector), with an
  idle speaker and a quiet room (-65 dBFS noise), as a share of one core. Target: <= 5 % in all.
  The whole daemon idling in a PulseAudio room: `bench/room_dialogue.py --idle`.
- VAD (silero, webrtcvad) through the endpointer at 20 and 5 dB SNR: frame precision/recall
  against the energy truth, utterance counts, start error and end-of-utterance delay (from the
  true end to the moment `SpeechEnded` fires), CPU per frame.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

from support.simroom import RoomSpec, SimulatedRoom, normalize_speech
from voiceloop.audio.aec import create_echo_canceller
from voiceloop.audio.decode import decode_file
from voiceloop.audio.endpoint import Endpointer
from voiceloop.audio.frontend import FrontEnd
from voiceloop.audio.port import Captured, Rendered
from voiceloop.audio.speech import SpeechEnded, SpeechPossible, SpeechStarted
from voiceloop.audio.vad import create_speech_detector
from voiceloop.config import AecConfig, Config, TtsConfig, VadConfig
from voiceloop.tts.espeak import EspeakSynthesizer

ZH = Path(__file__).resolve().parents[1] / ".." / "shared" / "audio" / "zh"
USER = ("funasr_asr_example.wav", "aishell1_BAC009S0724W0121.wav", "aishell1_BAC009S0764W0121.wav",
        "wenet_nst_data_example_ID001.wav", "uberi_chinese.wav", "funasr_csharp_3_mixed.wav")
REPLY = ("funasr_asr_example.wav", "funasr_csharp_2.wav", "aishell1_BAC009S0724W0121.wav", "funasr_csharp_1.wav")


def clip(name: str) -> np.ndarray:
    return decode_file(ZH / name)


async def aec_tracks(room: SimulatedRoom, aec) -> tuple[np.ndarray, np.ndarray, float]:
    mic, out, busy = [], [], 0.0
    async for item in room.frames():
        t = time.perf_counter()
        if isinstance(item, Rendered):
            aec.render(item.samples)
        elif isinstance(item, Captured):
            mic.append(item.samples)
            out.append(aec.capture(item.samples))
        busy += time.perf_counter() - t
    return np.concatenate(mic), np.concatenate(out), busy / len(mic) * 1e3


def erle_windows(mic: np.ndarray, out: np.ndarray, window_s: float = 0.5) -> list[tuple[float, float]]:
    n = int(window_s * 16000)
    rows = []
    for k in range(len(mic) // n):
        m, o = mic[k * n:(k + 1) * n], out[k * n:(k + 1) * n]
        if np.mean(m**2) > 1e-6:
            rows.append((k * window_s, 10 * np.log10(np.sum(m**2) / max(np.sum(o**2), 1e-12))))
    return rows


async def bench_aec(engine: str) -> dict:
    cfg = AecConfig(engine=engine, noise_suppression=False)
    reply = np.concatenate([normalize_speech(clip(n), -32.0) for n in REPLY])
    room = SimulatedRoom(RoomSpec(delay_s=0.08, duration_s=len(reply) / 16000))
    await room.play(reply)
    mic, out, cpu_ms = await aec_tracks(room, create_echo_canceller(cfg))
    rows = erle_windows(mic, out)
    onset = rows[0][0]  # the reply starts with a pause: count from the first echo-active window
    converged = next((t - onset for t, db in rows if db >= 30.0), None)
    late = np.zeros(len(mic), dtype=bool)
    late[2 * 16000:] = True
    active = late & np.repeat(np.mean(mic.reshape(-1, 160) ** 2, axis=1) > 1e-6, 160)
    steady = 10 * np.log10(np.sum(mic[active] ** 2) / max(np.sum(out[active] ** 2), 1e-12))

    spec = RoomSpec(delay_s=0.08, duration_s=9.0)
    talk = SimulatedRoom(spec, [(4.0, clip(USER[1]))])
    await talk.play(normalize_speech(clip(REPLY[3]), -32.0))
    _, dt_out, _ = await aec_tracks(talk, create_echo_canceller(cfg))
    near, _, _ = await aec_tracks(SimulatedRoom(spec, [(4.0, clip(USER[1]))]),
                                  create_echo_canceller(AecConfig(engine="none", high_pass=False)))
    _, near_out, _ = await aec_tracks(SimulatedRoom(spec, [(4.0, clip(USER[1]))]), create_echo_canceller(cfg))
    s, e = (int(x * 16000) for x in talk.truth.user_speech[0])
    loss = 10 * np.log10(np.sum(near[s:e] ** 2) / np.sum(dt_out[s:e] ** 2))
    return {"rows": rows, "converged": converged, "steady": steady, "dt_loss": loss, "cpu_ms": cpu_ms,
            "near_only_loss": 10 * np.log10(np.sum(near[s:e] ** 2) / np.sum(near_out[s:e] ** 2))}


async def espeak_reply() -> np.ndarray:
    text = "好的，我来详细说一说。广州的房地产市场最近变化很大。很多中介公司都在调整策略。"
    return normalize_speech(np.concatenate([c async for c in EspeakSynthesizer(TtsConfig()).synthesize(text)]), -32.0)


async def barge_in_once(cfg: Config, reply: np.ndarray, user: np.ndarray | None, delay_s: float) -> dict:
    """One reply with a user at 4 s (or none): onset and first-sign delays, what the echo alone
    started (`SpeechStarted`) or paused for a moment (`SpeechPossible`), ms per frame."""
    room = SimulatedRoom(RoomSpec(delay_s=delay_s, duration_s=10.0, render_block=3, capture_block=2),
                         [(4.0, user)] if user is not None else [])
    front, starts, signs, busy, frames = FrontEnd(cfg), [], [], 0.0, 0
    await room.play(reply)
    async for item in room.frames():
        t = time.perf_counter()
        events = front.push(item)
        busy, frames = busy + time.perf_counter() - t, frames + isinstance(item, Captured)
        signs += [room.now for ev in events if isinstance(ev, SpeechPossible)]
        if any(isinstance(ev, SpeechStarted) for ev in events):
            starts.append(room.now)
            signs.append(room.now)
            room.clear()
    onset = room.truth.user_speech[0][0] if user is not None else float("inf")
    late = [t - onset for t in starts if t >= onset]
    first = [t - onset for t in signs if t >= onset]
    return {"onset": late[0] if late else None, "sign": first[0] if first else None,
            "false_starts": len(starts) - len(late), "false_pauses": sum(t < onset for t in signs),
            "cpu_ms": busy / frames * 1e3}


async def bench_barge_in(engine: str, detector: bool, reply: np.ndarray) -> dict:
    cfg = Config(aec=AecConfig(engine=engine, double_talk_detector=detector))
    delays, firsts, missed, false_on, false_pauses, cpu = [], [], 0, 0, 0, []
    for name in USER[1:4]:
        for delay_s in (0.05, 0.1, 0.15):
            r = await barge_in_once(cfg, reply, clip(name), delay_s)
            cpu.append(r["cpu_ms"])
            false_on, false_pauses = false_on + r["false_starts"], false_pauses + r["false_pauses"]
            missed += r["onset"] is None
            delays += [r["onset"]] if r["onset"] is not None else []
            firsts += [r["sign"]] if r["sign"] is not None else []
    for delay_s in (0.05, 0.15):
        r = await barge_in_once(cfg, reply, None, delay_s)
        false_on, false_pauses = false_on + r["false_starts"], false_pauses + r["false_pauses"]
    return {"delays": delays, "firsts": firsts, "missed": missed, "false": false_on, "false_pauses": false_pauses,
            "cpu_ms": float(np.mean(cpu))}


async def bench_vad(engine: str, snr_db: float) -> dict:
    script, t = [], 1.0
    for name in USER:
        samples = clip(name)
        script.append((t, samples))
        t += len(samples) / 16000 + 1.5
    room = SimulatedRoom(RoomSpec(snr_db=snr_db, duration_s=t + 1.0), script)
    detector = create_speech_detector(VadConfig(engine=engine))
    endpointer = Endpointer(VadConfig(engine=engine), detector.hangover_s, detector.onset_lag_s)
    probs, ends, busy = [], [], 0.0
    async for item in room.frames():
        if isinstance(item, Captured):
            t0 = time.perf_counter()
            p = detector.probability(item.samples)
            busy += time.perf_counter() - t0
            probs.append(p)
            ends += [(room.now, ev) for ev in endpointer.step(0.01, p) if isinstance(ev, SpeechEnded)]
    truth = np.zeros(len(probs), dtype=bool)
    for a, b in room.truth.user_speech:
        truth[int(a * 100):int(b * 100)] = True
    said = np.array(probs) >= 0.5
    tp = np.sum(said & truth)
    starts, delays = [], []
    for a, b in room.truth.user_speech:
        hits = [(now, ev) for now, ev in ends if ev.start_t < b and ev.end_t > a]
        if hits:
            starts.append(hits[0][1].start_t - a)
            delays.append(hits[-1][0] - b)
    return {"precision": tp / max(np.sum(said), 1), "recall": tp / np.sum(truth), "utts": len(ends),
            "truth": len(room.truth.user_speech), "start_err": starts, "end_delay": delays,
            "cpu_ms": busy / len(probs) * 1e3}


def bench_idle(seconds: float = 60.0) -> dict[str, float]:
    """CPU seconds per 10 ms frame of each front-end stage while nobody talks and nothing plays."""
    front = FrontEnd(Config())
    spent: dict[str, float] = {}

    def timed(obj, name: str, stage: str) -> None:
        method = getattr(obj, name)

        def wrapper(*args, **kwargs):
            t = time.process_time()
            try:
                return method(*args, **kwargs)
            finally:
                spent[stage] = spent.get(stage, 0.0) + time.process_time() - t
        setattr(obj, name, wrapper)

    timed(front._path._align, "read", "aligner")
    timed(front._path._delay, "push", "echo delay")
    timed(front._path._aec, "render", "AEC3")
    timed(front._path._aec, "capture", "AEC3")
    if front._path._barge is not None:
        timed(front._path._barge, "capture", "double-talk")
    timed(front._vad, "probability", "speech detector")
    rng = np.random.default_rng(0)
    frames = int(seconds / 0.01)
    noise = (rng.standard_normal((frames, 160)) * 10 ** (-65 / 20)).astype(np.float32)
    silence = np.zeros(160, dtype=np.float32)
    total = 0.0
    for i in range(frames):
        t = time.process_time()
        front.push(Rendered(silence, i * 0.01, 100.0 + i * 0.01))
        front.push(Captured(noise[i], i * 0.01, 100.0 + i * 0.01 + 0.004))
        total += time.process_time() - t
    spent = {stage: s / frames for stage, s in spent.items()}
    spent["the rest"] = total / frames - sum(spent.values())
    return {"front end": total / frames, **spent}


async def main() -> None:
    print("== Listening to silence: CPU per 10 ms frame (% of one core; target <= 5 % in all) ==")
    for stage, s in bench_idle().items():
        print(f"{stage:16} {s * 1e3:6.3f} ms {s / 0.01 * 100:5.1f} %")
    print("\n== AEC (RT60 0.3 s, bulk delay 80 ms, echo 6 dB over the user, NS off) ==")
    results = {engine: await bench_aec(engine) for engine in ("webrtc", "speexdsp", "none")}
    print(f"{'engine':10} {'converge':>9} {'ERLE>2s':>8} {'DT loss':>8} {'NE loss':>8} {'cpu ms/frame':>13}")
    for engine, r in results.items():
        conv = f"{r['converged']:.1f} s" if r["converged"] is not None else "-"
        print(f"{engine:10} {conv:>9} {r['steady']:7.1f}dB {r['dt_loss']:7.1f}dB {r['near_only_loss']:7.1f}dB {r['cpu_ms']:13.3f}")
    print("ERLE over time (0.5 s windows, dB):")
    for engine, r in results.items():
        print(f"  {engine:9}", " ".join(f"{db:3.0f}" for _, db in r["rows"][:30]))
    print("\n== Barge-in onset delay during double-talk (espeak reply, echo 6 dB over the user, RT60 0.3 s) ==")
    print(f"{'engine':10} {'detector':>8} {'median ms':>10} {'range ms':>14} {'1st sign ms':>12} {'missed':>7} "
          f"{'echo onsets':>12} {'echo pauses':>12} {'cpu ms/frame':>13}")
    reply = await espeak_reply()
    for engine in ("webrtc", "speexdsp", "none"):
        for detector in ((True, False) if engine != "none" else (False,)):
            r = await bench_barge_in(engine, detector, reply)
            d, f = np.array(r["delays"]) * 1e3, np.array(r["firsts"]) * 1e3
            med, rng = (f"{np.median(d):.0f}", f"[{d.min():.0f},{d.max():.0f}]") if len(d) else ("-", "-")
            first = f"{np.median(f):.0f}" if len(f) else "-"
            print(f"{engine:10} {'on' if detector else 'off':>8} {med:>10} {rng:>14} {first:>12} {r['missed']:>4}/9 "
                  f"{r['false']:>12} {r['false_pauses']:>12} {r['cpu_ms']:13.3f}")
    print("\n== VAD + endpointer (threshold 0.5, end_silence 600 ms), 6 utterances ==")
    print(f"{'engine':10} {'SNR':>4} {'prec':>6} {'recall':>6} {'utts':>6} {'start err ms':>16} {'end delay ms':>16} {'cpu ms':>7}")
    for snr in (20.0, 5.0):
        for engine in ("silero", "webrtcvad"):
            r = await bench_vad(engine, snr)
            se = np.array(r["start_err"]) * 1e3
            ed = np.array(r["end_delay"]) * 1e3
            print(f"{engine:10} {snr:4.0f} {r['precision']:6.3f} {r['recall']:6.3f} {r['utts']:>3}/{r['truth']:<2} "
                  f"{np.mean(se):+6.0f} [{se.min():+.0f},{se.max():+.0f}] {np.mean(ed):6.0f} [{ed.min():.0f},{ed.max():.0f}] "
                  f"{r['cpu_ms']:7.3f}")


if __name__ == "__main__":
    asyncio.run(main())
