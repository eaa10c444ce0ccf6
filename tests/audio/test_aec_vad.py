"""Echo cancellation and speech detection on real Mandarin through a simulated room."""

from __future__ import annotations

import numpy as np
import pytest
from support.room_clips import REPLY_CLIPS, USER_CLIPS, clip, erle_db, run_aec
from support.simroom import RoomSpec, SimulatedRoom, normalize_speech

from voiceloop.audio.aec import SpeexAec, WebRtcAec, create_echo_canceller
from voiceloop.audio.vad import SileroVad, WebRtcVad, create_speech_detector
from voiceloop.config import AecConfig, VadConfig

WINDOW = 25  # frames: ERLE is tracked over 250 ms windows


def windowed_erle(mic: np.ndarray, out: np.ndarray) -> list[tuple[float, float]]:
    """(window start s, ERLE dB) for windows where the echo is clearly present (> -60 dBFS)."""
    n = 160 * WINDOW
    result = []
    for k in range(len(mic) // n):
        m, o = mic[k * n:(k + 1) * n], out[k * n:(k + 1) * n]
        if np.mean(m**2) > 1e-6:
            result.append((k * n / 16000, erle_db(m, o, np.ones(n, dtype=bool))))
    return result


# 10 ms is the least a real device adds; with exactly 0 (echo in the same 10 ms frame as its
# reference) AEC3 loses the echo path after ~8 s (measured: bench/frontend.py notes).
@pytest.mark.parametrize("delay_s", [0.01, 0.15])
async def test_webrtc_converges_within_a_second_then_cancels_30_db(delay_s):
    reply = np.concatenate([normalize_speech(clip(name), -32.0) for name in ("funasr_asr_example.wav", REPLY_CLIPS[1])])
    room = SimulatedRoom(RoomSpec(delay_s=delay_s, duration_s=len(reply) / 16000))
    await room.play(reply)
    mic, out = await run_aec(room, create_echo_canceller(AecConfig(noise_suppression=False)))
    erle = windowed_erle(mic, out)
    converged = next(t for t, db in erle if db >= 30.0)
    onset = next(t for t, _ in erle)
    assert converged - onset < 1.0, erle[:8]
    frames = mic.reshape(-1, 160)
    active = np.repeat(np.mean(frames**2, axis=1) > 1e-6, 160)
    active[: int((converged + 0.25) * 16000)] = False
    assert erle_db(mic, out, active) >= 30.0


async def test_webrtc_keeps_the_near_end_during_double_talk():
    user = clip(USER_CLIPS[1])
    reply = normalize_speech(clip(REPLY_CLIPS[0]), -32.0)
    spec = RoomSpec(delay_s=0.08, duration_s=9.0)
    talk = SimulatedRoom(spec, [(4.0, user)])
    await talk.play(reply)
    mic, out = await run_aec(talk, create_echo_canceller(AecConfig(noise_suppression=False)))
    near_only, _ = await run_aec(SimulatedRoom(spec, [(4.0, user)]), create_echo_canceller(AecConfig(engine="none", high_pass=False)))
    start, end = talk.truth.user_speech[0]
    span = slice(int(start * 16000), int(end * 16000))
    loss_db = 10 * np.log10(np.sum(near_only[span] ** 2) / np.sum(out[span] ** 2))
    assert abs(loss_db) <= 3.0, f"near-end loss {loss_db:.1f} dB during double-talk"


async def test_speex_cancels_with_bursty_callbacks():
    reply = normalize_speech(clip(REPLY_CLIPS[0]), -32.0)
    room = SimulatedRoom(RoomSpec(delay_s=0.05, duration_s=len(reply) / 16000, render_block=4, capture_block=2))
    await room.play(reply)
    mic, out = await run_aec(room, create_echo_canceller(AecConfig(engine="speexdsp")))
    second_half = np.zeros(len(mic), dtype=bool)
    second_half[len(mic) // 2:] = True
    assert erle_db(mic, out, second_half & (np.abs(mic) > 1e-3)) >= 15.0


@pytest.mark.parametrize("engine", [WebRtcAec, SpeexAec])
def test_aec_rejects_wrong_frames_and_rates(engine):
    aec = engine(AecConfig())
    with pytest.raises(ValueError, match="160 mono samples at 16000 Hz"):
        aec.capture(np.zeros(320, dtype=np.float32))
    with pytest.raises(ValueError, match="160 mono samples"):
        aec.render(np.zeros((160, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="float samples"):
        aec.capture(np.zeros(160, dtype=np.int16))
    with pytest.raises(ValueError, match="rate=48000"):
        engine(AecConfig(), rate=48000)


def test_vad_rejects_wrong_frames_and_rates():
    for detector in (SileroVad(), WebRtcVad(2)):
        with pytest.raises(ValueError, match="160 mono samples"):
            detector.probability(np.zeros(512, dtype=np.float32))
    with pytest.raises(ValueError, match="rate=8000"):
        create_speech_detector(VadConfig(), rate=8000)
    with pytest.raises(ValueError, match="webrtcvad_mode=5"):
        WebRtcVad(5)
    with pytest.raises(ValueError, match="aec.engine"):
        create_echo_canceller(AecConfig(engine="bogus"))  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ["silero", "webrtcvad"])
def test_vad_tells_speech_from_silence(engine):
    detector = create_speech_detector(VadConfig(engine=engine))
    speech = normalize_speech(clip("funasr_asr_example.wav"), -32.0)[int(1.5 * 16000):int(4.5 * 16000)]
    silence = np.random.default_rng(0).normal(0, 1e-4, 3 * 16000).astype(np.float32)
    probs = [detector.probability(f) for f in np.concatenate([silence, speech]).reshape(-1, 160)]
    assert np.mean(np.array(probs[:300]) > 0.5) < 0.05
    assert np.mean(np.array(probs[310:]) > 0.5) > 0.8
