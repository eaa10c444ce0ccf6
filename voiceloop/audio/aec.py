"""Acoustic echo cancellation: take out of the mic what the speaker just played.

Every engine sees the speaker's frames as the output callback rendered them (`render`) and the
mic's frames as the input callback captured them (`capture`). The two callbacks run on their own
clocks, so frames arrive in bursts (two renders, then two captures, ...), never strictly paired.
WebRTC's AEC3 is built for exactly that: it buffers render frames internally and estimates the
delay itself. speexdsp needs one far-end frame per near-end frame, so it gets a FIFO of rendered
frames that each capture drains in order, which keeps callback order and therefore the delay.

Engines, chosen by `aec.engine`:
- `webrtc` (default): AEC3 through `aec-audio-processing`, 36-38 dB ERLE, converges in ~0.25 s
  and finds 0-150 ms of delay on its own; optional WebRTC noise suppression.
- `speexdsp`: classic MDF adaptive filter; ~26-31 dB and seconds to converge. No noise suppressor
  (the Python binding exposes only the canceller), so `noise_suppression` does not apply.
- `none`: passes the mic through, for rigs with hardware AEC or headsets.
`high_pass` adds an 80 Hz high-pass on the output for every engine (desk rumble, fans); AEC3
already high-passes internally, so for it this is a no-op in practice.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Protocol

import numpy as np
from scipy.signal import butter, sosfilt

from voiceloop.audio.frames import FRAME_SAMPLES, SAMPLE_RATE, to_int16
from voiceloop.config import AecConfig

log = logging.getLogger(__name__)

_HIGH_PASS_HZ = 80.0
_MAX_RENDER_BACKLOG = 50  # frames (0.5 s) of render the speex FIFO holds before dropping the oldest


class EchoCanceller(Protocol):
    converge_s: float
    """Seconds of audible playback the engine needs before its cancellation can be trusted."""

    def render(self, frame: np.ndarray) -> None:
        """Tell the canceller about one 10 ms frame the speaker played (silence included)."""
        ...

    def capture(self, frame: np.ndarray) -> np.ndarray:
        """One 10 ms mic frame in, the same frame with the echo removed out (float32)."""
        ...

    def set_delay_hint_ms(self, ms: int) -> None:
        """The echo delay the engine should expect between a `render` frame and its echo in `capture`."""
        ...


def check_frame(frame: np.ndarray, what: str) -> np.ndarray:
    """Validate one pipeline frame (16 kHz mono float32, 160 samples) and return it as float32.

    A wrong size almost always means the device edge forgot to regroup or resample, so say so.
    """
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"{what}: expected a numpy array of {FRAME_SAMPLES} float32 samples, got {type(frame).__name__}")
    if frame.ndim != 1 or frame.shape[0] != FRAME_SAMPLES:
        raise ValueError(
            f"{what}: expected one 10 ms frame of {FRAME_SAMPLES} mono samples at {SAMPLE_RATE} Hz, "
            f"got shape {frame.shape}; regroup with frames.FrameChunker and resample at the device edge")
    if not np.issubdtype(frame.dtype, np.floating):
        raise ValueError(f"{what}: expected float samples in [-1, 1], got dtype {frame.dtype}; convert with frames.to_mono")
    return frame.astype(np.float32, copy=False)


def check_rate(rate: int, what: str) -> None:
    if rate != SAMPLE_RATE:
        raise ValueError(f"{what}: runs at {SAMPLE_RATE} Hz only, got rate={rate}; resample with frames.resample first")


def _from_int16(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.int16).astype(np.float32) / 32768.0


class _HighPass:
    """A stateful 2nd-order Butterworth high-pass, applied frame by frame without edge clicks."""

    def __init__(self, cutoff_hz: float = _HIGH_PASS_HZ):
        self._sos = butter(2, cutoff_hz, btype="highpass", fs=SAMPLE_RATE, output="sos")
        self._zi = np.zeros((self._sos.shape[0], 2))

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        out, self._zi = sosfilt(self._sos, frame, zi=self._zi)
        return out.astype(np.float32)


class WebRtcAec:
    """WebRTC AEC3 (with optional WebRTC noise suppression); AGC stays off so levels are honest."""

    converge_s = 2.0  # measured: 30 dB within ~1 s, with dips to ~17 dB until ~2 s on some speech

    def __init__(self, cfg: AecConfig, rate: int = SAMPLE_RATE):
        check_rate(rate, "WebRtcAec")
        from aec_audio_processing import AudioProcessor

        self._apm = AudioProcessor(enable_aec=True, enable_ns=cfg.noise_suppression, ns_level=cfg.ns_level,
                                   enable_agc=False, agc_mode=1, enable_vad=False)
        self._apm.set_stream_format(rate, 1)
        self._apm.set_reverse_stream_format(rate, 1)
        self._hp = _HighPass() if cfg.high_pass else None
        self._delay_ms = 0

    def set_delay_hint_ms(self, ms: int) -> None:
        self._delay_ms = max(0, min(int(ms), 500))

    def render(self, frame: np.ndarray) -> None:
        self._apm.process_reverse_stream(to_int16(check_frame(frame, "AEC render frame")).tobytes())

    def capture(self, frame: np.ndarray) -> np.ndarray:
        data = to_int16(check_frame(frame, "AEC capture frame")).tobytes()
        self._apm.set_stream_delay(self._delay_ms)  # a hint only: AEC3 estimates the real delay itself
        out = _from_int16(self._apm.process_stream(data))
        return self._hp(out) if self._hp else out


class SpeexAec:
    """speexdsp's MDF canceller; pairs each capture with the oldest unconsumed render frame."""

    converge_s = 6.0

    def __init__(self, cfg: AecConfig, rate: int = SAMPLE_RATE):
        check_rate(rate, "SpeexAec")
        import speexdsp

        taps = rate * cfg.filter_ms // 1000
        self._aec = speexdsp.EchoCanceller.create(FRAME_SAMPLES, taps, rate)
        self._far: deque[bytes] = deque()
        self._silence = bytes(2 * FRAME_SAMPLES)
        self._hp = _HighPass() if cfg.high_pass else None
        if cfg.noise_suppression:
            log.info("aec.noise_suppression has no effect with engine=speexdsp (the binding has no preprocessor)")

    def render(self, frame: np.ndarray) -> None:
        if len(self._far) >= _MAX_RENDER_BACKLOG:
            # Captures stopped arriving (device stall): keep the newest render, the old is stale.
            self._far.popleft()
        self._far.append(to_int16(check_frame(frame, "AEC render frame")).tobytes())

    def capture(self, frame: np.ndarray) -> np.ndarray:
        near = to_int16(check_frame(frame, "AEC capture frame")).tobytes()
        far = self._far.popleft() if self._far else self._silence
        out = _from_int16(self._aec.process(near, far))
        return self._hp(out) if self._hp else out

    def set_delay_hint_ms(self, ms: int) -> None:
        pass  # the MDF filter finds the delay inside its tail (`filter_ms`)


class NoAec:
    """Pass-through for headsets and hardware AEC; still validates frames and can high-pass."""

    converge_s = 0.0

    def __init__(self, cfg: AecConfig, rate: int = SAMPLE_RATE):
        check_rate(rate, "NoAec")
        self._hp = _HighPass() if cfg.high_pass else None

    def render(self, frame: np.ndarray) -> None:
        check_frame(frame, "AEC render frame")

    def capture(self, frame: np.ndarray) -> np.ndarray:
        out = check_frame(frame, "AEC capture frame")
        return self._hp(out) if self._hp else out.copy()

    def set_delay_hint_ms(self, ms: int) -> None:
        pass


def create_echo_canceller(cfg: AecConfig, rate: int = SAMPLE_RATE) -> EchoCanceller:
    engines = {"webrtc": WebRtcAec, "speexdsp": SpeexAec, "none": NoAec}
    if cfg.engine not in engines:
        raise ValueError(f"aec.engine={cfg.engine!r}: expected one of {', '.join(engines)}")
    return engines[cfg.engine](cfg, rate)
